"""The migration tripwire's names in the database, and its record of what it saw dropped.

One place for them: the tripwire writes the record (runtime.py), the ledger reports from it,
``unseen`` checks the catalog against it, ``switches`` watches it for writes that are not the
tripwire's, and ``guard-tamper`` refuses statements that name it. The record is a temporary table
(``ON COMMIT DROP``): invisible to other sessions, gone with the migration's transaction.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # lint imports guard-tamper, which reads the names: it never loads psycopg
    import psycopg

TRIGGER = "nyxops_migration_guard"
"""The event trigger, created in each migration's transaction and dropped before its commit."""
FUNCTION = "nyxops.migration_guard"
TABLE = "nyxops_dropped"
RECORD = f"pg_temp.{TABLE}"
CREATE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {TABLE} (n serial, object_type text, identity text, relation oid, subid int)"
    " ON COMMIT DROP"
)
"""``relation`` and ``subid``: the oid and column number of a table or column it saw dropped
(``pg_event_trigger_dropped_objects``' objid and objsubid, for objects of pg_class), which the
catalog is checked against (``unseen``)."""


def exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT pg_catalog.to_regclass(%s) IS NOT NULL", (RECORD,)).fetchone()
    return bool(row and row[0])


def so_far(conn: psycopg.Connection) -> int:
    """The number of the last entry: where a statement's own entries will start."""
    row = conn.execute(f"SELECT coalesce(max(n), 0) FROM {RECORD}").fetchone()
    return int(row[0]) if row else 0


def since(conn: psycopg.Connection, after: int) -> list[tuple[int, str, str]]:
    """Entries after number ``after``: their number, object type and identity, in order."""
    query = f"SELECT n, object_type, identity FROM {RECORD} WHERE n > %s ORDER BY n"
    return [(int(n), str(kind), str(identity)) for n, kind, identity in conn.execute(query, (after,))]


def relations_seen(conn: psycopg.Connection) -> Counter[tuple[int, bool]]:
    """How many drops it saw of each relation (oid, False) and of its columns (oid, True)."""
    query = f"SELECT relation::bigint, subid FROM {RECORD} WHERE relation IS NOT NULL"
    return Counter((int(oid), int(subid) > 0) for oid, subid in conn.execute(query))
