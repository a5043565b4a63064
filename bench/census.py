"""What reading which rows hold the values adds to the census of a protected column.

Each file is counted before and after (``migrate/census.py``): the catalog and the counts, and
every value-holding row's primary key (``migrate/holders.py``). Against the same rows in a table
without a primary key, which the census counts only. The protect benchmark's table: 20,000 rows,
each with a 1536-dimension vector.
"""

from __future__ import annotations

import time

import psycopg

from bench.common import Comparison, alternate, fresh_database
from bench.protect import _SETUP, ROWS
from nyxops.migrate import census
from nyxops.names import QualifiedName

_KEYED = QualifiedName("public", "insights", "embedding")
_UNKEYED = QualifiedName("public", "insights_unkeyed", "embedding")


def _timed(conn: psycopg.Connection, column: QualifiedName) -> float:
    started = time.perf_counter()
    counted = census.take(conn, [column], keyed=[column])[str(column)]
    elapsed = time.perf_counter() - started
    if counted.non_null != ROWS or (counted.holders is not None) != (column == _KEYED):
        raise RuntimeError(f"not the census this benchmark is about: {counted}")
    return elapsed


def run(rounds: int, admin_url: str) -> list[Comparison]:
    with fresh_database(admin_url, seed=False) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in _SETUP:
                conn.execute(statement)
            conn.execute("CREATE TABLE insights_unkeyed AS SELECT * FROM insights")
            conn.execute("VACUUM ANALYZE insights_unkeyed")
            counts = alternate(rounds, lambda: _timed(conn, _KEYED), lambda: _timed(conn, _UNKEYED))
    return [
        Comparison(
            f"census of a protected column, {ROWS:,} rows (counts and keys)",
            *counts,
            "counts alone (no primary key)",
            "(cost, no target)",
        )
    ]
