"""Connections to PostgreSQL, with the settings every nyxops session needs."""

from __future__ import annotations

import psycopg

from nyxops.errors import DatabaseUnreachable
from nyxops.names import redact_url


def connect(url: str, application_name: str = "nyxops", *, autocommit: bool = True) -> psycopg.Connection:
    """Open a session; a failure names the server without its password.

    ``client_connection_check_interval``: a killed runner's statement (and its locks, the
    migration lock included) would otherwise run on until the server next writes to the socket.
    """
    try:
        conn = psycopg.connect(url, autocommit=autocommit, application_name=application_name, connect_timeout=10)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "connection failed"
        raise DatabaseUnreachable(
            f"cannot connect to PostgreSQL at {redact_url(url)}: {reason}. "
            "Check DATABASE_URL (or --database-url), that the server runs, and, for a remote host, the SSH tunnel."
        ) from None
    conn.execute("SET client_connection_check_interval = '1s'")
    return conn


def relation_exists(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])
