"""Connections to PostgreSQL, with the settings every nyxops session needs."""

from __future__ import annotations

import psycopg

from nyxops.errors import DatabaseUnreachable, UsageError
from nyxops.names import redact_url, secret_of


def connect(url: str, application_name: str = "nyxops", *, autocommit: bool = True) -> psycopg.Connection:
    """Open a session; a failure names the server without its password.

    ``client_connection_check_interval``: a killed runner's statement (and its locks, the
    migration lock included) would otherwise run on until the server next writes to the socket.
    """
    check_conninfo(url)
    try:
        conn = psycopg.connect(url, autocommit=autocommit, application_name=application_name, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(
            f"cannot connect to PostgreSQL at {redact_url(url)}: {unreachable_reason(str(exc), url)} "
            "Check DATABASE_URL (or --database-url), that the server runs, and, for a remote host, the SSH tunnel."
        ) from None
    conn.execute("SET client_connection_check_interval = '1s'")
    return conn


def unreachable_reason(message: str, url: str) -> str:
    """libpq's whole reason on one line, without its password: what failed and its hint.

    libpq says what failed on one line (``Connection refused``, ``role "app" does not exist``) and
    its hint on the next (``Is the server running on that host …?``): both are kept, for each
    address tried.
    """
    lines = [" ".join(line.split()) for line in scrub(message, url).splitlines()]
    sentences = [line if line.endswith((".", "?", "!")) else line + "." for line in lines if line]
    reason = " ".join(sentences) or "connection failed."
    for prefix in ("connection failed: ", "connection is bad: "):
        reason = reason.removeprefix(prefix)
    return reason


def check_conninfo(url: str) -> None:
    """Refuse, before any connection, what libpq cannot read, without echoing it (it may hold a password)."""
    from psycopg.conninfo import conninfo_to_dict

    scheme = url.split("://", 1)[0].lower() if "://" in url else None
    if scheme is not None and scheme not in ("postgresql", "postgres"):
        raise UsageError(
            f"the database URL is a {scheme}:// URL; nyxops talks to PostgreSQL only: "
            "postgresql://user:password@host:5432/dbname (DATABASE_URL or --database-url)."
        )
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise UsageError(
            f"the database URL is not a connection string libpq can read ({scrub(str(exc), url).strip()}). Write it as "
            "postgresql://user:password@host:5432/dbname or host=… port=… dbname=… user=… (DATABASE_URL or "
            "--database-url); percent-encode @, : and / in the password."
        ) from None


def scrub(text: str, url: str) -> str:
    """``text`` with the connection string and its password taken out (libpq quotes both in errors)."""
    text = text.replace(url, "<the database URL>")
    secret = secret_of(url)
    return text.replace(secret, "***") if secret else text


def relation_exists(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])
