"""Protected values computed again by a table rewrite, which no row trigger and no count sees.

``ALTER TABLE workflow_insights ALTER COLUMN embedding TYPE vector(1536) USING embedding -
embedding``, built by dynamic SQL, zeroed every protected vector and ``migrate apply`` committed
it, with ``protect`` installed: the type is the same, so the catalog says nothing changed; every
value is still there, so the census counts as many; and a rewrite runs no row trigger, so the
overwrite trigger never fires. (Written as a statement, lint's ``alter-column-type`` refuses it and
no allow comment can allow it on a protected column. A real type change, ``TYPE halfvec(1536)``,
rounds every value the same quiet way.)

What a rewrite of a column leaves in the catalog is two things at once: the table's
``relfilenode`` changes (a new heap; a partitioned table's partitions' do), and so does the
column's own ``pg_attribute`` row (it is written again even when its type stays the same; its
``ctid`` moves). Neither alone means anything (``SET NOT NULL`` writes the row and keeps the heap;
``ADD COLUMN … DEFAULT random()`` rewrites the heap and leaves the column's row), so a protected
column whose row and table both changed between the file's start and its commit refuses the file.
The price: a file that both changes something of a protected column (``SET NOT NULL``) and
rewrites its table for another reason is refused too, and is applied as two files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import psycopg

from nyxops.names import QualifiedName

_READ = """
WITH RECURSIVE wanted AS (
    SELECT w.schema, w.name, w.col, k.oid AS rel
    FROM ROWS FROM (pg_catalog.unnest(%s::text[]), pg_catalog.unnest(%s::text[]),
                    pg_catalog.unnest(%s::text[])) AS w(schema, name, col)
    JOIN pg_catalog.pg_namespace n ON n.nspname = w.schema
    JOIN pg_catalog.pg_class k ON k.relnamespace = n.oid AND k.relname = w.name
), family(root, rel) AS (
    SELECT rel, rel FROM wanted
    UNION
    SELECT f.root, i.inhrelid FROM family f JOIN pg_catalog.pg_inherits i ON i.inhparent = f.rel
)
SELECT w.schema, w.name, w.col, a.ctid::text,
    (SELECT pg_catalog.json_object_agg(c.oid::text, c.relfilenode::bigint)
     FROM family f JOIN pg_catalog.pg_class c ON c.oid = f.rel WHERE f.root = w.rel)
FROM wanted w
JOIN pg_catalog.pg_attribute a ON a.attrelid = w.rel AND a.attname = w.col AND NOT a.attisdropped
"""
"""A partitioned table has no heap of its own (its relfilenode stays 0): its partitions are what
a rewrite gives new files, and an inheritance parent's children likewise. So each table's whole
family, by oid."""

State = Mapping[QualifiedName, tuple[str, Mapping[str, int]]]
"""Each protected column: its pg_attribute row's ctid, and the relfilenode of its table and of
each partition or child (by oid)."""


def read(conn: psycopg.Connection, columns: Iterable[QualifiedName]) -> State:
    wanted = [c for c in columns if c.column and "*" not in (c.schema, c.table, c.column)]
    if not wanted:
        return {}
    rows = conn.execute(
        _READ, ([c.schema for c in wanted], [c.table for c in wanted], [c.column or "" for c in wanted])
    ).fetchall()
    return {QualifiedName(str(s), str(t), str(c)): (str(ctid), dict(nodes or {})) for s, t, c, ctid, nodes in rows}


def recomputed(conn: psycopg.Connection, before: State) -> list[QualifiedName]:
    """The protected columns whose row was written again and whose table (or a partition or child
    that was there before) got a new file since ``before``."""
    now = read(conn, before)
    out = []
    for column, (ctid, nodes) in before.items():
        if column not in now or now[column][0] == ctid:
            continue
        later = now[column][1]
        if any(oid in later and later[oid] != node for oid, node in nodes.items()):
            out.append(column)
    return out
