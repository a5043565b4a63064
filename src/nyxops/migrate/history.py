"""The history table (``nyxops.schema_migrations``), the journal of resumable files, the census log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from nyxops.catalog import column_type
from nyxops.db import relation_exists
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
    "relation": "oid",
    "attnum": "smallint",
    "descendants": "oid[]",
    "key_attnums": "smallint[]",
    "key_names": "text[]",
    "holders": "text[]",
}
"""Columns of the census log added after its first release (see census.Count)."""


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
    for name, kind in _LATER_COLUMNS.items():  # a log from an older nyxops; ADD COLUMN IF NOT EXISTS locks each run
        if column_type(conn, QualifiedName("nyxops", "census_log", name)) is None:
            conn.execute(f"ALTER TABLE nyxops.census_log ADD COLUMN {name} {kind}")


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


def journal_mark(conn: psycopg.Connection, version: str, sha256: str, statement: int) -> None:
    conn.execute(
        "INSERT INTO nyxops.journal (version, sha256, statement) VALUES (%s, %s, %s)", (version, sha256, statement)
    )


def journal_clear(conn: psycopg.Connection, version: str) -> None:
    conn.execute("DELETE FROM nyxops.journal WHERE version = %s", (version,))
