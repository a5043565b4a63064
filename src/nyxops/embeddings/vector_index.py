"""A vector index (HNSW, IVFFlat) on the column a backfill fills: announced, and rebuilt when that is faster.

Measured here: with an HNSW index on the column, every write method falls from ~15,000 to ~250
rows/s, because index maintenance dominates. A large fill is faster with the index dropped and
built once afterwards, ``CONCURRENTLY`` so the app keeps reading and writing while it builds.

Dropping a production index is safe only if it comes back whatever happens: its definition is
written to ``nyxops.index_rebuilds`` (committed) before the drop, and every later backfill of the
table builds what is recorded there, so a run killed between the drop and the build leaves the
index to the next run, not lost. A build that fails leaves an INVALID index: it is dropped and
built again.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

import psycopg
from psycopg import sql

from nyxops.names import QualifiedName

log = logging.getLogger("nyxops.embeddings.backfill")

WRITE_ROWS_PER_SECOND_WITH_INDEX = 250
"""Measured here with an HNSW index on a vector(1536) column; the estimate the notice gives."""
AUTO_REBUILD_FRACTION = 0.2
"""Without --rebuild-index or --keep-index: rebuild when the rows to fill are at least this share of the table."""

_INDEXES = """
SELECT c.relname, am.amname, pg_catalog.pg_get_indexdef(i.indexrelid), i.indisvalid
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = c.relam
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = %s::regclass AND a.attname = %s AND am.amname IN ('hnsw', 'ivfflat')
ORDER BY 1
"""
RECORD_SQL = """
CREATE TABLE IF NOT EXISTS nyxops.index_rebuilds (
    schema_name text NOT NULL,
    index_name  text NOT NULL,
    table_name  text NOT NULL,
    definition  text NOT NULL,
    dropped_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, index_name)
)
"""


@dataclass(frozen=True)
class VectorIndex:
    schema: str
    name: str
    method: str
    definition: str
    valid: bool = True

    @property
    def qualified(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.name)


def found(conn: psycopg.Connection, table: QualifiedName, column: str) -> list[VectorIndex]:
    rows = conn.execute(_INDEXES, (table.sql(), column)).fetchall()
    return [VectorIndex(table.schema, r[0], r[1], r[2], bool(r[3])) for r in rows]


def recorded(conn: psycopg.Connection, table: QualifiedName) -> list[VectorIndex]:
    """Indexes an earlier backfill dropped and has not built again yet (it was interrupted)."""
    exists = conn.execute("SELECT to_regclass('nyxops.index_rebuilds') IS NOT NULL").fetchone()
    if not (exists and exists[0]):
        return []
    rows = conn.execute(
        "SELECT schema_name, index_name, definition FROM nyxops.index_rebuilds WHERE table_name = %s ORDER BY 2",
        (str(table),),
    ).fetchall()
    return [VectorIndex(r[0], r[1], "recorded", r[2]) for r in rows]


def should_rebuild(choice: bool | None, pending: int, rows: int) -> bool:
    if choice is not None:
        return choice
    return rows > 0 and pending >= AUTO_REBUILD_FRACTION * rows


def announce(table: QualifiedName, indexes: list[VectorIndex], pending: int, rebuild: bool) -> None:
    names = ", ".join(f"{i.name} ({i.method})" for i in indexes)
    seconds = pending / WRITE_ROWS_PER_SECOND_WITH_INDEX
    estimate = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
    if rebuild:
        log.warning(
            "%s has %s on the embedding column: it is dropped for the fill of %d rows and built again CONCURRENTLY "
            "afterwards (the app keeps reading meanwhile; vector searches scan without it until then)",
            table,
            names,
            pending,
        )
    else:
        log.warning(
            "%s has %s on the embedding column: writes run at about %d rows/s with it, so %d rows take about "
            "%s; --rebuild-index drops it, fills, and builds it again CONCURRENTLY",
            table,
            names,
            WRITE_ROWS_PER_SECOND_WITH_INDEX,
            pending,
            estimate,
        )


def drop(conn: psycopg.Connection, table: QualifiedName, indexes: list[VectorIndex]) -> None:
    """Record each definition (committed), then drop the index concurrently."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS nyxops")
    conn.execute(RECORD_SQL)
    for index in indexes:
        conn.execute(
            "INSERT INTO nyxops.index_rebuilds (schema_name, index_name, table_name, definition)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (index.schema, index.name, str(table), index.definition),
        )
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(index.qualified))
        log.info(
            "dropped %s.%s for the fill; its definition is kept in nyxops.index_rebuilds", index.schema, index.name
        )


_CREATE = re.compile(r"^CREATE (UNIQUE )?INDEX ", re.I)


def build(conn: psycopg.Connection, url: str, password: str | None, index: VectorIndex, memory: str) -> None:
    """Build a recorded index again, CONCURRENTLY, with ``maintenance_work_mem`` sized, progress logged."""
    existing = conn.execute(
        "SELECT i.indisvalid FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (index.schema, index.name),
    ).fetchone()
    if existing is not None and not existing[0]:  # a build that failed before: useless, build it again
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(index.qualified))
    if existing is None or not existing[0]:
        statement = _CREATE.sub(
            lambda m: f"CREATE {m.group(1) or ''}INDEX CONCURRENTLY IF NOT EXISTS ", index.definition
        )
        conn.execute("SELECT set_config('maintenance_work_mem', %s, false)", (memory,))
        done = threading.Event()
        watcher = threading.Thread(target=_progress, args=(url, password, conn.info.backend_pid, done), daemon=True)
        watcher.start()
        try:
            conn.execute(statement.encode())
        finally:
            done.set()
            conn.execute("RESET maintenance_work_mem")
        log.info("built %s.%s again", index.schema, index.name)
    conn.execute(
        "DELETE FROM nyxops.index_rebuilds WHERE schema_name = %s AND index_name = %s", (index.schema, index.name)
    )


def _progress(url: str, password: str | None, pid: int, done: threading.Event) -> None:
    """Log the build's phase and share done from pg_stat_progress_create_index, every few seconds."""
    try:
        with psycopg.connect(url, password=password, autocommit=True, application_name="nyxops index progress") as c:
            while not done.wait(5):
                row = c.execute(
                    "SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total"
                    " FROM pg_stat_progress_create_index WHERE pid = %s",
                    (pid,),
                ).fetchone()
                if row:
                    total = row[2] or row[4] or 0
                    share = (row[1] or row[3] or 0) / total * 100 if total else 0.0
                    log.info("index build: %s, %.0f%%", row[0], share)
    except psycopg.Error:
        return  # progress is a courtesy; the build itself reports its own errors
