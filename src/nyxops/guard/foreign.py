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

Those two functions are found as postgres_fdw's own code (members of the extension, in C, from
its library, by the symbol each calls), never by name: a superuser migration could replace
``postgres_fdw_get_connections`` with one in SQL that lists nothing (it stays a member of the
extension), or rename it away and put its own in its place, and then null every protected value
through a loopback foreign table unseen. Found that way, the real function is called under
whatever name it has now; one that is gone or replaced during the file refuses it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

_LIST, _CLOSE = ("postgres_fdw_get_connections", "postgres_fdw_get_connections_1_2"), ("postgres_fdw_disconnect_all",)
"""The C symbols (``prosrc``) of the functions that list and close the session's connections:
``postgres_fdw_get_connections`` calls the first since version 1.1, the second since 1.2."""
_FUNCTIONS = (
    "SELECT n.nspname, p.proname, p.prosrc FROM pg_catalog.pg_extension e"
    " LEFT JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass"
    " AND d.refobjid = e.oid AND d.deptype = 'e' AND d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass"
    " LEFT JOIN pg_catalog.pg_proc p ON p.oid = d.objid"
    " AND p.prolang = (SELECT oid FROM pg_catalog.pg_language WHERE lanname = 'c')"
    " AND p.probin = '$libdir/postgres_fdw' AND p.prosrc = ANY(%s)"
    " AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')"
    " LEFT JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
    " WHERE e.extname = 'postgres_fdw' ORDER BY p.prosrc NULLS LAST"
)
log = logging.getLogger("nyxops.migrate")


@dataclass(frozen=True)
class Listing:
    """postgres_fdw's own functions that list and close this session's connections, as found."""

    installed: bool
    functions: tuple[tuple[str, str, str], ...] = ()
    """(schema, name, C symbol) of each."""

    def _call(self, symbols: tuple[str, ...]) -> sql.Composed | None:
        found = [(schema, name) for schema, name, symbol in self.functions if symbol in symbols]
        return sql.SQL("{}()").format(sql.Identifier(*found[0])) if found else None

    @property
    def lister(self) -> sql.Composed | None:
        return self._call(_LIST)

    @property
    def closer(self) -> sql.Composed | None:
        return self._call(_CLOSE)

    def replaced_since(self, start: Listing) -> list[str]:
        """Functions found at the file's start that are no longer postgres_fdw's own code (replaced,
        taken out of the extension) or no longer callable: what a file does to hide its connections."""
        now = {f[2] for f in self.functions}
        return [f"{schema}.{name}" for schema, name, symbol in start.functions if symbol not in now]


def listing(conn: psycopg.Connection) -> Listing:
    rows = conn.execute(_FUNCTIONS, ([*_LIST, *_CLOSE],)).fetchall()
    found = Listing(bool(rows), tuple((str(s), str(n), str(src)) for s, n, src in rows if src is not None))
    if found.installed and (found.lister is None or found.closer is None):
        _unlisted()
    return found


@functools.cache
def _unlisted() -> None:
    """Said once a run, not at each of the two looks of every file."""
    log.warning(
        "postgres_fdw is installed, but this role cannot list its connections (postgres_fdw's own "
        "postgres_fdw_get_connections and postgres_fdw_disconnect_all, in C, from extension version 1.1 on, "
        "PostgreSQL 14 or later, with EXECUTE on both, are needed: ALTER EXTENSION postgres_fdw UPDATE, or "
        "drop and create the extension where one of them was replaced): SQL a file sends through its foreign "
        "tables is not checked"
    )


def forget(conn: psycopg.Connection) -> Listing:
    """Close the session's postgres_fdw connections, so that those listed later are the file's own;
    what lists them, as the file found it."""
    found = listing(conn)
    if found.lister is not None and found.closer is not None:
        conn.execute(sql.SQL("SELECT {}").format(found.closer))
    return found


def servers_used(conn: psycopg.Connection, found: Listing | None = None) -> list[str | None]:
    """The foreign servers this session holds a postgres_fdw connection to (None: dropped since)."""
    found = found or listing(conn)
    if found.lister is None or found.closer is None:
        return []
    query = sql.SQL("SELECT server_name FROM {} ORDER BY 1").format(found.lister)
    return [row[0] for row in conn.execute(query).fetchall()]


def since(
    conn: psycopg.Connection, start: Listing, allowed: set[str], before: Iterable[str | None] = ()
) -> tuple[list[str], list[str]]:
    """What the file did through postgres_fdw, read before commit, for apply and plan alike: the
    functions that list its connections replaced or taken out of the extension since ``start``
    (then nothing else can be known), else the servers it sent SQL through that no
    ``other-session`` allow comment names, as said to the operator. ``before``: those already
    connected when the file began (plan runs every file in one transaction, whose connections
    cannot be closed)."""
    found = listing(conn)
    replaced = found.replaced_since(start)
    if replaced:
        return replaced, []
    earlier = set(before)
    servers = [
        "a server the file dropped since" if name is None else name
        for name in servers_used(conn, found)
        if name not in earlier and (name is None or name not in allowed)
    ]
    return [], servers
