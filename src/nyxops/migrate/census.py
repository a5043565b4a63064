"""Counts of the protected and embedding columns, before and after: proof that nothing was lost."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from nyxops.catalog import column_type, vector_dimension
from nyxops.names import QualifiedName


@dataclass(frozen=True)
class Count:
    target: str
    exists: bool
    rows: int | None = None
    non_null: int | None = None
    dimension: int | None = None


def take(conn: psycopg.Connection, columns: Iterable[QualifiedName]) -> dict[str, Count]:
    counts: dict[str, Count] = {}
    for column in columns:
        kind = column_type(conn, column)
        if kind is None:
            counts[str(column)] = Count(str(column), exists=False)
            continue
        query = sql.SQL("SELECT count(*), count({col}) FROM {tab}").format(
            col=sql.Identifier(column.column or ""), tab=sql.Identifier(column.schema, column.table)
        )
        row = conn.execute(query).fetchone()
        rows, non_null = (int(row[0]), int(row[1])) if row else (0, 0)
        counts[str(column)] = Count(str(column), True, rows, non_null, vector_dimension(kind))
    return counts


def losses(before: dict[str, Count], after: dict[str, Count]) -> list[str]:
    """What decreased: a vanished column, fewer values, a changed dimension."""
    problems: list[str] = []
    for name, old in before.items():
        new = after.get(name, Count(name, exists=False))
        if not old.exists:
            continue
        if not new.exists:
            problems.append(f"{name} is gone (it held {old.non_null} values)")
        elif (new.non_null or 0) < (old.non_null or 0):
            problems.append(f"{name}: {old.non_null} values before, {new.non_null} after")
        elif old.dimension != new.dimension:
            problems.append(f"{name}: dimension {old.dimension} before, {new.dimension} after")
    return problems


def log(conn: psycopg.Connection, version: str, phase: str, counts: dict[str, Count]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO nyxops.census_log (version, phase, target, rows, non_null, dimension)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [(version, phase, c.target, c.rows, c.non_null, c.dimension) for c in counts.values() if c.exists],
        )


def logged(conn: psycopg.Connection, version: str, phase: str) -> dict[str, Count]:
    """The census last logged for a version and phase (a resumed file keeps its first 'before')."""
    rows = conn.execute(
        "SELECT DISTINCT ON (target) target, rows, non_null, dimension FROM nyxops.census_log"
        " WHERE version = %s AND phase = %s ORDER BY target, taken_at DESC",
        (version, phase),
    ).fetchall()
    return {r[0]: Count(r[0], True, r[1], r[2], r[3]) for r in rows}
