"""What a column type change does to the values already there, counted in the dry run.

Lint blocks a type change it cannot prove safe; the reviewer who writes the allow comment needs
the figure: ``0 of 1,204 values change`` for varchar(20) to text, ``3 of 1,204 change, e.g.
12345.67891 -> 12345.68`` for numeric(10,5) to numeric(10,2). The new value is the cast (or the
``USING`` expression) computed on every row, compared with the old one as PostgreSQL compares
them, or as text when the two types have no comparison.
"""

from __future__ import annotations

import psycopg
from pglast import parse_sql
from pglast.stream import RawStream
from psycopg import sql

from nyxops.names import QualifiedName


def type_changes(text: str) -> list[tuple[str, str, str | None]]:
    """``(column, new type, USING expression)`` for each ALTER COLUMN … TYPE of the statement."""
    out = []
    for raw in parse_sql(text):
        stmt = raw.stmt
        for cmd in getattr(stmt, "cmds", None) or ():
            if getattr(cmd, "subtype", None) is not None and cmd.subtype.name == "AT_AlterColumnType":
                using = RawStream()(cmd.def_.raw_default) if cmd.def_.raw_default is not None else None
                out.append((cmd.name, RawStream()(cmd.def_.typeName), using))
    return out


def describe(conn: psycopg.Connection, table: QualifiedName, column: str, new_type: str, using: str | None) -> str:
    """One line for the plan: how many existing values the change would alter, with an example."""
    col = sql.Identifier(column)
    new = sql.SQL(using) if using else sql.SQL("CAST({} AS {})").format(col, sql.SQL(new_type))
    rel = sql.Identifier(table.schema, table.table)
    for compare in ("{old} IS DISTINCT FROM {new}", "{old}::text IS DISTINCT FROM ({new})::text"):
        differs = sql.SQL(compare).format(old=col, new=new)
        query = sql.SQL(
            "SELECT count(*), count(*) FILTER (WHERE {d}),"
            " (SELECT {old}::text || ' -> ' || coalesce(({new})::text, 'NULL')"
            " FROM {rel} WHERE {d} LIMIT 1) FROM {rel}"
        ).format(d=differs, old=col, new=new, rel=rel)
        try:
            with conn.transaction():
                row = conn.execute(query).fetchone()
        except psycopg.errors.UndefinedFunction:
            continue  # no operator between the two types: compare as text
        except psycopg.Error as exc:
            return f"{table}.{column} to {new_type}: the cast fails on existing values ({exc.diag.message_primary})"
        assert row is not None
        total, changed, example = int(row[0]), int(row[1]), row[2]
        line = f"{table}.{column} to {new_type}: {changed:,} of {total:,} values change"
        return line + (f", e.g. {example}" if example else "")
    return f"{table}.{column} to {new_type}: values cannot be compared"
