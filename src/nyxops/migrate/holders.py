"""Which rows hold a protected column's values, by primary key: a count cannot tell rows apart.

Why: a file that copied every row of ``workflow_insights`` under new keys and then nulled the
originals by dynamic SQL kept the count at 382, and apply committed it without ``protect`` (a
test): every row the app reads by its key had lost its vector, and the copies were rows the app
never asked for. Each row that held a value when the file began must still hold one, under the
same key. Rows added with values pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from nyxops import catalog
from nyxops.names import QualifiedName

AT_MOST = 1_000_000
"""Above this many values the keys are not read (a count alone, as before): they are held in memory."""


@dataclass(frozen=True)
class Holders:
    key: tuple[int, ...]
    """The key's column numbers when the file began: a key column renamed keeps its number."""
    names: tuple[str, ...]
    rows: frozenset[str]
    """``ROW(key)::text`` of each row holding a value."""


def read(
    conn: psycopg.Connection,
    relation: int,
    column: QualifiedName,
    kept: sql.Composable,
    values: int,
    key: tuple[int, ...] | None,
) -> Holders | None:
    """The rows of ``column`` holding a value, by the table's primary key (or ``key``, the columns
    it had when the file began); None for a table without one, or with more than ``AT_MOST`` values."""
    if values > AT_MOST:
        return None
    columns = catalog.key_columns(conn, relation, key)
    if not columns or (key is not None and len(columns) != len(key)):
        return None
    # One array, not a row per key: psycopg reads it in a fraction of the time (20,000 keys).
    query = sql.SQL(
        "SELECT pg_catalog.array_agg(ROW({keys})::text) FROM {tab} WHERE {col} IS NOT NULL AND {kept}"
    ).format(
        keys=sql.SQL(", ").join(sql.Identifier(name) for _, name in columns),
        tab=sql.Identifier(column.schema, column.table),
        col=sql.Identifier(column.column or ""),
        kept=kept,
    )
    found = conn.execute(query).fetchone()
    rows = frozenset(found[0] or ()) if found is not None else frozenset()
    return Holders(tuple(n for n, _ in columns), tuple(name for _, name in columns), rows)


def missing(before: Holders, after: Holders) -> str | None:
    """Rows that held a value and hold none now (deleted, nulled, or under another key), named as
    PostgreSQL names a key in its own messages."""
    if before.key != after.key:
        return None
    gone = sorted(before.rows - after.rows)
    if not gone:
        return None
    names = ", ".join(before.names)
    shown = ", ".join(f"({names})={row}" for row in gone[:3]) + (", …" if len(gone) > 3 else "")
    rows = "1 row that held its values holds" if len(gone) == 1 else f"{len(gone)} rows that held its values hold"
    return (
        f"{rows} none now, e.g. {shown}: the app reads its rows by key, and values copied to other rows or keys "
        "changed are not where it looks (if the keys were changed on purpose, apply this file with the column left "
        "out of NYXOPS_PROTECTED_COLUMNS, after a backup)"
    )
