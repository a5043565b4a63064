"""One runner at a time: a session-level advisory lock, and a message naming whoever holds it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from nyxops.errors import LockHeld

LOCK_KEY = 0x6E79786F7073  # "nyxops"


def holder(conn: psycopg.Connection) -> str:
    row = conn.execute(
        "SELECT a.pid, a.application_name, a.usename, a.client_addr::text, a.backend_start"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database"
        " WHERE datname = current_database())"
        " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
        (LOCK_KEY,),
    ).fetchone()
    if row is None:
        return "another session (it has just let go: run again)"
    pid, app, user, addr, since = row
    where = f" from {addr}" if addr else ""
    return (
        f"pid {pid} ({app or 'no application_name'}, user {user}{where}), connected since {since:%Y-%m-%d %H:%M:%S %Z}"
    )


@contextmanager
def migration_lock(conn: psycopg.Connection) -> Iterator[None]:
    """Hold the lock for the block; fail at once (never queue) when another runner has it."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
    if not (row and row[0]):
        raise LockHeld(
            f"another nyxops runner holds the migration lock: {holder(conn)}. "
            "Wait for it to finish; if that process is gone, its session ends within seconds."
        )
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
