"""Protected values computed again by a table rewrite, which no row trigger and no count sees.

``ALTER TABLE workflow_insights ALTER COLUMN embedding TYPE vector(1536) USING embedding -
embedding``, built by dynamic SQL, zeroed every protected vector and ``migrate apply`` committed
it, with ``protect`` installed: the type is the same, so the catalog says nothing changed; every
value is still there, so the census counts as many; and a rewrite runs no row trigger, so the
overwrite trigger never fires. (Written as a statement, lint's ``alter-column-type`` refuses it and
no allow comment can allow it on a protected column. A real type change, ``TYPE halfvec(1536)``,
rounds every value the same quiet way.)

What a rewrite of a column leaves in the catalog is two things at once: the table's
``relfilenode`` changes (a new heap), and so does the column's own ``pg_attribute`` row (it is
written again even when its type stays the same; its ``ctid`` moves). Neither alone means
anything (``SET NOT NULL`` writes the row and keeps the heap; ``ADD COLUMN … DEFAULT random()``
rewrites the heap and leaves the column's row), so a protected column whose row and table both
changed between the file's start and its commit refuses the file. The price: a file that both
changes something of a protected column (``SET NOT NULL``) and rewrites its table for another
reason is refused too, and is applied as two files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import psycopg

from nyxops.names import QualifiedName

_READ = """
SELECT c.schema, c.name, c.col, a.ctid::text, k.relfilenode::bigint
FROM ROWS FROM (pg_catalog.unnest(%s::text[]), pg_catalog.unnest(%s::text[]), pg_catalog.unnest(%s::text[]))
    AS c(schema, name, col)
JOIN pg_catalog.pg_namespace n ON n.nspname = c.schema
JOIN pg_catalog.pg_class k ON k.relnamespace = n.oid AND k.relname = c.name
JOIN pg_catalog.pg_attribute a ON a.attrelid = k.oid AND a.attname = c.col AND NOT a.attisdropped
"""

State = Mapping[QualifiedName, tuple[str, int]]
"""Each protected column: its pg_attribute row's ctid and its table's relfilenode."""


def read(conn: psycopg.Connection, columns: Iterable[QualifiedName]) -> State:
    wanted = [c for c in columns if c.column and "*" not in (c.schema, c.table, c.column)]
    if not wanted:
        return {}
    rows = conn.execute(
        _READ, ([c.schema for c in wanted], [c.table for c in wanted], [c.column or "" for c in wanted])
    ).fetchall()
    return {QualifiedName(str(s), str(t), str(c)): (str(ctid), int(node)) for s, t, c, ctid, node in rows}


def recomputed(conn: psycopg.Connection, before: State) -> list[QualifiedName]:
    """The protected columns whose row and table were both written again since ``before``."""
    now = read(conn, before)
    return [
        column
        for column, (ctid, node) in before.items()
        if column in now and now[column][0] != ctid and now[column][1] != node
    ]
