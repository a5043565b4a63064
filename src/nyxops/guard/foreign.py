"""SQL a migration sent through postgres_fdw: run by a session of its own, where no guard looks.

A foreign table is read and written by postgres_fdw in a connection of its own to the foreign
server, and that server can be this very database (``CREATE SERVER loop … OPTIONS (dbname
'nyxcore')``). ``UPDATE shadow.workflow_insights SET embedding = NULL`` through such a table
nulled every protected value with ``protect`` installed, lint clean and ``migrate apply`` saying
applied: the remote session is not a migration (the overwrite trigger lets it pass), the census
and the ledger read this session's snapshot, and the remote transaction commits with the local
one. A test shows it on a real PostgreSQL 18 (PostgreSQL 16's embedded server has no postgres_fdw).

What can be known is that the file used such a connection: postgres_fdw lists the connections
this session holds (``postgres_fdw_get_connections()``, PostgreSQL 14 and later). They are closed
before each file, so any listed before commit was opened by the file, and the file is refused
(its rollback aborts the remote transaction too) unless an ``other-session`` allow comment names
the server. A server dropped by the file still has its connection listed, without a name.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

import psycopg
from psycopg import sql

_SCHEMA = (
    "SELECT n.nspname, pg_catalog.bool_and(p.oid IS NOT NULL AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE'))"
    " FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
    " CROSS JOIN pg_catalog.unnest(ARRAY['postgres_fdw_get_connections', 'postgres_fdw_disconnect_all']) AS f(name)"
    " LEFT JOIN pg_catalog.pg_proc p ON p.pronamespace = n.oid AND p.proname = f.name"
    " WHERE e.extname = 'postgres_fdw' GROUP BY n.nspname"
)
log = logging.getLogger("nyxops.migrate")


def _schema(conn: psycopg.Connection) -> str | None:
    """postgres_fdw's schema, when it is installed and its connections can be listed here."""
    row = conn.execute(_SCHEMA).fetchone()
    if row is None:
        return None
    if not row[1]:
        _unlisted()
        return None
    return str(row[0])


@functools.cache
def _unlisted() -> None:
    """Said once a run, not at each of the two looks of every file."""
    log.warning(
        "postgres_fdw is installed, but this role cannot list its connections (extension version 1.1, "
        "PostgreSQL 14 or later, and EXECUTE on postgres_fdw_get_connections and postgres_fdw_disconnect_all "
        "are needed: ALTER EXTENSION postgres_fdw UPDATE): SQL a file sends through its foreign tables is "
        "not checked"
    )


def forget(conn: psycopg.Connection) -> None:
    """Close the session's postgres_fdw connections, so that those listed later are the file's own."""
    schema = _schema(conn)
    if schema is not None:
        conn.execute(sql.SQL("SELECT {}.postgres_fdw_disconnect_all()").format(sql.Identifier(schema)))


def servers_used(conn: psycopg.Connection) -> list[str | None]:
    """The foreign servers this session holds a postgres_fdw connection to (None: dropped since)."""
    schema = _schema(conn)
    if schema is None:
        return []
    query = sql.SQL("SELECT server_name FROM {}.postgres_fdw_get_connections() ORDER BY 1").format(
        sql.Identifier(schema)
    )
    return [row[0] for row in conn.execute(query).fetchall()]


def unallowed(conn: psycopg.Connection, allowed: set[str], before: Iterable[str | None] = ()) -> list[str]:
    """Servers the file sent SQL through that no ``other-session`` allow comment names, as said to the
    operator; ``before``: those already connected when the file began (plan runs every file in one
    transaction, whose connections cannot be closed)."""
    earlier = set(before)
    return [
        "a server the file dropped since" if name is None else name
        for name in servers_used(conn)
        if name not in earlier and (name is None or name not in allowed)
    ]
