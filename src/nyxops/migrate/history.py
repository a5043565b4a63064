"""The history table (``nyxops.schema_migrations``), the journal of resumable files, the census log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from nyxops.catalog import column_type
from nyxops.db import NAMING, relation_exists
from nyxops.names import QualifiedName

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS nyxops;
CREATE TABLE IF NOT EXISTS nyxops.schema_migrations (
    version     text PRIMARY KEY,
    name        text NOT NULL,
    sha256      text NOT NULL,
    reviewed_by text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text NOT NULL,
    duration_ms integer NOT NULL,
    statements  integer NOT NULL
);
CREATE TABLE IF NOT EXISTS nyxops.journal (
    version   text NOT NULL,
    sha256    text NOT NULL,
    statement integer NOT NULL,
    done_at   timestamptz NOT NULL DEFAULT now(),
    naming    text[],
    PRIMARY KEY (version, statement)
);
CREATE TABLE IF NOT EXISTS nyxops.census_log (
    taken_at  timestamptz NOT NULL DEFAULT now(),
    version   text NOT NULL,
    phase     text NOT NULL CHECK (phase IN ('before', 'after')),
    target    text NOT NULL,
    rows      bigint,
    non_null  bigint,
    dimension integer,
    relation  oid,
    attnum    smallint,
    descendants oid[],
    key_attnums smallint[],
    key_names text[],
    holders   text[]
);
"""
_LATER_COLUMNS = {
    ("census_log", "relation"): "oid",
    ("census_log", "attnum"): "smallint",
    ("census_log", "descendants"): "oid[]",
    ("census_log", "key_attnums"): "smallint[]",
    ("census_log", "key_names"): "text[]",
    ("census_log", "holders"): "text[]",
    ("journal", "naming"): "text[]",
}
"""Columns added after the table's first release (see census.Count, and ``journal_naming``)."""


@dataclass(frozen=True)
class Applied:
    version: str
    name: str
    sha256: str
    reviewed_by: str
    applied_at: datetime
    applied_by: str
    duration_ms: int
    statements: int


def ensure(conn: psycopg.Connection) -> None:
    """Create the nyxops schema and its tables (call under the migration lock)."""
    for statement in SCHEMA_SQL.split(";"):
        if statement.strip():
            conn.execute(statement)
    for (table, name), kind in _LATER_COLUMNS.items():  # from an older nyxops; ADD COLUMN IF NOT EXISTS locks each run
        if column_type(conn, QualifiedName("nyxops", table, name)) is None:
            conn.execute(f"ALTER TABLE nyxops.{table} ADD COLUMN {name} {kind}")


def applied(conn: psycopg.Connection) -> dict[str, Applied]:
    """What the database says was applied; empty when nyxops never ran there."""
    if not relation_exists(conn, "nyxops.schema_migrations"):
        return {}
    rows = conn.execute(
        "SELECT version, name, sha256, reviewed_by, applied_at, applied_by, duration_ms, statements"
        " FROM nyxops.schema_migrations ORDER BY version"
    ).fetchall()
    return {r[0]: Applied(*r) for r in rows}


def record(
    conn: psycopg.Connection, version: str, name: str, sha256: str, reviewed_by: str, by: str, ms: int, count: int
) -> None:
    conn.execute(
        "INSERT INTO nyxops.schema_migrations"
        " (version, name, sha256, reviewed_by, applied_by, duration_ms, statements)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (version, name, sha256, reviewed_by, by, ms, count),
    )


def journal_done(conn: psycopg.Connection, version: str) -> dict[int, str]:
    if not relation_exists(conn, "nyxops.journal"):
        return {}
    rows = conn.execute("SELECT statement, sha256 FROM nyxops.journal WHERE version = %s", (version,)).fetchall()
    return {int(r[0]): str(r[1]) for r in rows}


def journal_mark(
    conn: psycopg.Connection, version: str, sha256: str, statement: int, naming: dict[str, str] | None = None
) -> None:
    """Statement done, in its own transaction; ``naming``: the session's ``db.NAMING`` settings
    after it, when read outside any transaction of the file's (else ``journal_naming`` adds them
    after the commit)."""
    conn.execute(
        "INSERT INTO nyxops.journal (version, sha256, statement, naming) VALUES (%s, %s, %s, %s)",
        (version, sha256, statement, _naming(naming)),
    )


def journal_naming(conn: psycopg.Connection, version: str, statement: int, naming: dict[str, str]) -> None:
    """The session's ``db.NAMING`` settings after a done statement, read after its commit: inside
    its transaction a ``SET LOCAL`` or ``set_config(…, true)`` would show a path that ended with it.
    A run killed before this leaves NULL, and a resume reads the statements instead (resume.py)."""
    conn.execute(
        "UPDATE nyxops.journal SET naming = %s WHERE version = %s AND statement = %s",
        (_naming(naming), version, statement),
    )


def naming_after(conn: psycopg.Connection, version: str) -> dict[str, str] | None:
    """The ``db.NAMING`` settings the session had after the last done statement, if the journal kept them."""
    if not relation_exists(conn, "nyxops.journal"):
        return None
    row = conn.execute(
        "SELECT naming FROM nyxops.journal WHERE version = %s ORDER BY statement DESC LIMIT 1", (version,)
    ).fetchone()
    if row is None or row[0] is None or len(row[0]) != len(NAMING):
        return None
    return dict(zip(NAMING, row[0], strict=True))


def _naming(naming: dict[str, str] | None) -> list[str] | None:
    return None if naming is None else [naming[name] for name in NAMING]


def journal_clear(conn: psycopg.Connection, version: str) -> None:
    conn.execute("DELETE FROM nyxops.journal WHERE version = %s", (version,))
