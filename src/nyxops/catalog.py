"""Small reads of PostgreSQL's catalog."""

from __future__ import annotations

import psycopg

from nyxops.names import QualifiedName


def column_type(conn: psycopg.Connection, column: QualifiedName) -> str | None:
    """``format_type`` of a column (``vector(1536)``), or None when the table or column is missing."""
    row = conn.execute(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attname = %s AND a.attnum > 0 AND NOT a.attisdropped",
        (column.schema, column.table, column.column),
    ).fetchone()
    return str(row[0]) if row else None


def vector_dimension(type_text: str | None) -> int | None:
    if type_text and type_text.startswith("vector(") and type_text.endswith(")"):
        return int(type_text[7:-1])
    return None


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
