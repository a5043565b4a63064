"""What ``protect install``'s overwrite trigger costs the writes it watches, side by side.

The trigger is an AFTER UPDATE OR DELETE row trigger on each protected table, so every updated
row pays for one call of its function (measured here on updates): the quiet body outside
migrations (the app, the backfill), the refusing body that compares the vectors inside a migration.
"""

from __future__ import annotations

import time

import psycopg

from bench.common import Comparison, alternate, fresh_database
from nyxops.guard import overwrite, runtime
from nyxops.names import QualifiedName

ROWS = 20_000
_SETUP = (
    "CREATE EXTENSION IF NOT EXISTS vector",
    "CREATE TABLE insights (id int PRIMARY KEY, title text, embedding vector(1536))",
    f"INSERT INTO insights SELECT g, 'x', array_fill(g::real, ARRAY[1536])::vector FROM generate_series(1, {ROWS}) g",
    "VACUUM ANALYZE insights",
)
_TITLES = "UPDATE insights SET title = 'y'"
_REFILL = "UPDATE insights SET embedding = array_fill(0.5::real, ARRAY[1536])::vector"


def _timed(url: str, statement: str, *, arm: bool = False) -> float:
    """One UPDATE, rolled back: every round starts from the same table."""
    with psycopg.connect(url) as conn:
        if arm:
            overwrite.arm(conn)
        started = time.perf_counter()
        conn.execute(statement)
        elapsed = time.perf_counter() - started
        conn.rollback()
    return elapsed


def run(rounds: int, admin_url: str) -> list[Comparison]:
    with fresh_database(admin_url, seed=False) as plain, fresh_database(admin_url, seed=False) as guarded:
        for url in (plain, guarded):
            with psycopg.connect(url, autocommit=True) as conn:
                for statement in _SETUP:
                    conn.execute(statement)
        with psycopg.connect(guarded, autocommit=True) as conn:
            runtime.protect_install(conn, [QualifiedName("public", "insights", "embedding")])
        titles = alternate(rounds, lambda: _timed(guarded, _TITLES), lambda: _timed(plain, _TITLES))
        refill = alternate(rounds, lambda: _timed(guarded, _REFILL), lambda: _timed(plain, _REFILL))
        armed = alternate(rounds, lambda: _timed(guarded, _TITLES, arm=True), lambda: _timed(plain, _TITLES))
    return [
        Comparison(f"protect: UPDATE {ROWS:,} rows' title", *titles, "no trigger", "(cost, no target)"),
        Comparison(f"protect: UPDATE {ROWS:,} rows' vectors (the app)", *refill, "no trigger", "(cost, no target)"),
        Comparison(f"protect: UPDATE {ROWS:,} titles in a migration", *armed, "no trigger", "(cost, no target)"),
    ]
