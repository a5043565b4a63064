"""The SQL of one embedding target's table: its rows still NULL, read in key order, and a batch written back.

Apart from the backfill's flow of work (``backfill``) and the Batch API's (``batches``), which both
read and write through it: the queries are where the speed of a million-row run is decided.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from nyxops.catalog import column, column_type
from nyxops.config import EmbeddingTarget
from nyxops.embeddings.vectors import VectorArray
from nyxops.errors import DimensionMismatch, UsageError
from nyxops.names import QualifiedName

Rows = list[tuple[Any, str]]


class TargetTable:
    """SQL pieces of one target, quoted once."""

    def __init__(self, conn: psycopg.Connection, target: EmbeddingTarget) -> None:
        self.target = target
        name = target.qualified
        self.name = name
        self.table = sql.Identifier(name.schema, name.table)
        self.key = sql.Identifier(target.key)
        self.column = sql.Identifier(target.column)
        self.text = sql.SQL(target.text_sql)  # trusted configuration, reviewed like code
        found = column(conn, QualifiedName(name.schema, name.table, target.column))
        if found is None:
            raise UsageError(f"{name}.{target.column} does not exist: run the migrations first (nyxops migrate apply)")
        if found.dimension != target.dimension:
            raise DimensionMismatch(
                f"{name}.{target.column} is {found.type}, but target {target.name} expects vector({target.dimension}); "
                "fix the target's dimension or the column before embedding anything"
            )
        key_type = column_type(conn, QualifiedName(name.schema, name.table, target.key))
        if key_type is None:
            raise UsageError(f"key column {target.key} not found in {name}")
        self.key_type = sql.SQL(key_type)

    def rows(self, conn: psycopg.Connection) -> int:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self.table)).fetchone()
        return int(row[0]) if row else 0

    def still_null(self, conn: psycopg.Connection, keys: list[Any], *, as_text: bool = False) -> int:
        """Of ``keys``, the rows that exist and hold no vector (after a write that should have filled them)."""
        cast = sql.SQL("text[]::" if as_text else "")
        query = sql.SQL("SELECT count(*) FROM {t} WHERE {k} = ANY(%s::{cast}{kt}[]) AND {c} IS NULL").format(
            t=self.table, k=self.key, c=self.column, kt=self.key_type, cast=cast
        )
        row = conn.execute(query, (keys,)).fetchone()
        return int(row[0]) if row else 0

    def counts(self, conn: psycopg.Connection) -> tuple[int, int]:
        query = sql.SQL(
            "SELECT count(*), count(*) FILTER (WHERE coalesce(btrim(({text})::text, E' \\t\\r\\n'), '') = '')"
            " FROM {t} WHERE {c} IS NULL"
        ).format(text=self.text, t=self.table, c=self.column)
        row = conn.execute(query).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def read_query(self, *, first: bool, outside: sql.Composable | None = None) -> sql.Composed:
        """One batch's read: the first batch, or the next after a key (``%s``), then ``LIMIT %s``.

        Two texts rather than one ``(%s OR key > %s)``: once PostgreSQL switches a prepared
        statement to its generic plan, that OR cannot become an index condition, and every batch
        would scan the key index from its start (quadratic in the table's rows).
        """
        after = sql.SQL("true") if first else sql.SQL("{k} > %s").format(k=self.key)
        return sql.SQL(
            "SELECT {k}, coalesce(({text})::text, '') FROM {t} WHERE {c} IS NULL AND {after}"
            " AND ({outside}) ORDER BY {k} LIMIT %s"
        ).format(
            k=self.key, text=self.text, t=self.table, c=self.column, after=after, outside=outside or sql.SQL("true")
        )

    def batches(
        self, conn: psycopg.Connection, size: int, limit: int | None, outside: sql.Composable | None = None
    ) -> Iterator[Rows]:
        """Rows still NULL in key order (and ``outside``: a condition on them), ``size`` at a time."""
        first, later = self.read_query(first=True, outside=outside), self.read_query(first=False, outside=outside)
        after: Any = None
        seen = 0
        while limit is None or seen < limit:
            take = size if limit is None else min(size, limit - seen)
            query, params = (first, (take,)) if seen == 0 else (later, (after, take))
            rows = conn.execute(query, params).fetchall()
            if not rows:
                return
            seen += len(rows)
            after = rows[-1][0]
            yield [(r[0], r[1]) for r in rows]

    def write(
        self,
        conn: psycopg.Connection,
        keys: list[Any],
        matrix: np.ndarray,
        *,
        as_text: bool = False,
        bounds: tuple[Any, Any] | None = None,
    ) -> int:
        """Write where still NULL; ``as_text``: the keys are their text form (read back from a record).

        The key range lets the planner read only the batch's rows through the key's index (a bare
        join hashed the whole table once per batch). ``bounds``: the first and last key of the rows
        as the database ordered them when they were read; without it the range is found in SQL.
        """
        cast = sql.SQL("text[]::" if as_text else "")
        if bounds is not None:
            query = sql.SQL(
                "UPDATE {t} SET {c} = v.e FROM unnest(%s::{cast}{kt}[], %s) AS v(k, e)"
                " WHERE {t}.{k} = v.k AND {t}.{c} IS NULL AND {t}.{k} BETWEEN %s AND %s"
            ).format(t=self.table, c=self.column, kt=self.key_type, k=self.key, cast=cast)
            cur = conn.execute(query, (keys, VectorArray(matrix), *bounds))
            return max(cur.rowcount, 0)
        query = sql.SQL(
            "WITH v AS (SELECT * FROM unnest(%s::{cast}{kt}[], %s) AS v(k, e))"
            " UPDATE {t} SET {c} = v.e FROM v WHERE {t}.{k} = v.k AND {t}.{c} IS NULL"
            " AND {t}.{k} BETWEEN (SELECT k FROM v ORDER BY k LIMIT 1) AND (SELECT k FROM v ORDER BY k DESC LIMIT 1)"
        ).format(t=self.table, c=self.column, kt=self.key_type, k=self.key, cast=cast)
        cur = conn.execute(query, (keys, VectorArray(matrix)))
        return max(cur.rowcount, 0)


def silenced(table: TargetTable) -> str:
    """What an operator reads when a write to ``table`` reported success and stored nothing."""
    return (
        f"something makes writes to {table.name} do nothing without an error (a rule DO INSTEAD NOTHING, a "
        f"BEFORE trigger returning NULL, a row security policy); nothing was lost. Look at the table's rules, "
        f"triggers and policies (\\d {table.name} in psql) and remove what swallows the writes."
    )
