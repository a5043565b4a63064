"""Small reads of PostgreSQL's catalog."""

from __future__ import annotations

import re
from typing import NamedTuple

import psycopg

from nyxops.names import QualifiedName


class Column(NamedTuple):
    """A column as the catalog has it: its type, and the relation and number that stay with its
    values when names change."""

    type: str
    relkind: str
    relation: int
    attnum: int
    base: str
    """The type under a domain (``vector(1536)`` for ``CREATE DOMAIN emb AS vector(1536)``), else ``type``:
    what the values are, and what a vector's dimension is read from."""

    @property
    def dimension(self) -> int | None:
        return vector_dimension(self.base)


_COLUMN = """
SELECT pg_catalog.format_type(a.atttypid, a.atttypmod), c.relkind::text, c.oid::bigint, a.attnum, (
    WITH RECURSIVE under (depth, oid, typmod) AS (  -- a domain's base type, its base's (over a domain)
        SELECT 0, a.atttypid, a.atttypmod
        UNION ALL SELECT u.depth + 1, t.typbasetype, t.typtypmod FROM under u
        JOIN pg_catalog.pg_type t ON t.oid = u.oid WHERE t.typtype = 'd' AND u.depth < 16
    )
    SELECT pg_catalog.format_type(oid, typmod) FROM under ORDER BY depth DESC LIMIT 1)
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND a.attname = %s AND a.attnum > 0 AND NOT a.attisdropped
"""


def column(conn: psycopg.Connection, name: QualifiedName) -> Column | None:
    """The column ``name`` means now, or None when the table or column is missing."""
    row = conn.execute(_COLUMN, (name.schema, name.table, name.column)).fetchone()
    return None if row is None else Column(str(row[0]), str(row[1]), int(row[2]), int(row[3]), str(row[4]))


def named(conn: psycopg.Connection, relation: int, attnum: int) -> QualifiedName | None:
    """The name the column numbered ``attnum`` of the table ``relation`` has now; None when the
    table or the column was dropped. Tells an operator where a renamed column went."""
    row = conn.execute(
        "SELECT n.nspname, c.relname, a.attname FROM pg_catalog.pg_attribute a"
        " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE a.attrelid = %s::pg_catalog.oid AND a.attnum = %s AND NOT a.attisdropped",
        (relation, attnum),
    ).fetchone()
    return None if row is None else QualifiedName(str(row[0]), str(row[1]), str(row[2]))


def key_columns(conn: psycopg.Connection, relation: int, attnums: tuple[int, ...] | None) -> list[tuple[int, str]]:
    """The columns (number, name now) numbered ``attnums`` in ``relation``, or of its primary key; in
    the key's order. Empty for a table without a primary key."""
    rows = conn.execute(
        "SELECT k.attnum::int, a.attname FROM pg_catalog.unnest(COALESCE(%(nums)s::pg_catalog.int2[],"
        " (SELECT i.indkey::pg_catalog.int2[] FROM pg_catalog.pg_index i"
        "  WHERE i.indrelid = %(rel)s::pg_catalog.oid AND i.indisprimary))) WITH ORDINALITY k(attnum, ord)"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = %(rel)s::pg_catalog.oid AND a.attnum = k.attnum"
        " AND NOT a.attisdropped ORDER BY k.ord",
        {"nums": None if attnums is None else list(attnums), "rel": relation},
    ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def column_type(conn: psycopg.Connection, name: QualifiedName) -> str | None:
    """``format_type`` of a column (``vector(1536)``), or None when the table or column is missing."""
    found = column(conn, name)
    return None if found is None else found.type


def vector_dimension(type_text: str | None) -> int | None:
    """The N of a ``format_type`` text ``vector(N)``, schema-qualified or not: PostgreSQL names the
    type with its schema wherever that schema is not on the path, under nyxops' own reads
    (``public.vector(1536)``: the census counted no dimension, and a ``TYPE vector`` built at run
    time that dropped it passed, a test) and where pgvector lives in a schema of its own (``extensions``)."""
    match = _VECTOR.match(type_text or "")
    return int(match.group(1)) if match else None


_VECTOR = re.compile(r'(?:(?:"(?:[^"]|"")+"|[^".]+)\.)?vector\((\d+)\)\Z')


_UNLOGGED = """
SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relpersistence = 'u' AND c.oid IN (
    SELECT t.oid FROM pg_catalog.pg_class t JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
    WHERE tn.nspname = %(schema)s AND t.relname = %(table)s
    UNION ALL
    SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class t ON t.oid = i.inhparent
    JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace WHERE tn.nspname = %(schema)s AND t.relname = %(table)s
) ORDER BY 1
"""


def unlogged(conn: psycopg.Connection, table: QualifiedName) -> list[str]:
    """The table, or those of its partitions and children, that are UNLOGGED: the next crash empties them."""
    return [str(r[0]) for r in conn.execute(_UNLOGGED, {"schema": table.schema, "table": table.table})]


class Inherit(NamedTuple):
    """A partition or inheritance child of a table, and its parent."""

    child_oid: int
    parent_oid: int
    child: QualifiedName
    parent: QualifiedName
    detach_pending: bool
    """Left half detached by an interrupted ``DETACH PARTITION … CONCURRENTLY``."""


_INHERITS = """
SELECT i.inhrelid::bigint, i.inhparent::bigint, cn.nspname, c.relname, pn.nspname, p.relname, i.inhdetachpending
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_catalog.pg_class p ON p.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
WHERE c.relkind IN ('r', 'p', 'f') ORDER BY 3, 4, 5, 6
"""


def inherits(conn: psycopg.Connection) -> list[Inherit]:
    """Every table's partitions and inheritance children (an index's partitions left out)."""
    return [
        Inherit(int(r[0]), int(r[1]), QualifiedName(r[2], r[3]), QualifiedName(r[4], r[5]), bool(r[6]))
        for r in conn.execute(_INHERITS)
    ]
