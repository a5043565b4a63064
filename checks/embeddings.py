"""Per target: rows, embeddings, NULLs (after a grace window), wrong dimensions, and the census floor.

The floor is the non-NULL count the migration runner recorded before the last migration: fewer
now means embeddings were lost since, which is exactly what went unnoticed in production.
"""

from psycopg import sql

from nyxops.catalog import column_type
from nyxops.db import relation_exists
from nyxops.names import QualifiedName
from nyxops.verify import CheckResult, Context, failed, passed

NAME = "embeddings"
TIMEOUT = 60


def run(ctx: Context) -> CheckResult:
    problems, figures = [], {}
    grace = f"{ctx.settings.null_grace_minutes} minutes"
    with ctx.db() as conn:
        has_log = relation_exists(conn, "nyxops.census_log")
        for target in ctx.settings.embedding_targets:
            table = target.qualified
            column = QualifiedName(table.schema, table.table, target.column)
            if column_type(conn, column) is None:
                problems.append(f"{column} is missing")
                continue
            recent = (
                sql.SQL("{} > now() - %s::interval").format(sql.Identifier(target.created_column))
                if target.created_column
                else sql.SQL("false")
            )
            query = sql.SQL(
                "SELECT count(*), count({c}), count(*) FILTER (WHERE {c} IS NULL AND NOT ({recent})),"
                " count(*) FILTER (WHERE {c} IS NULL AND ({recent})),"
                " count(*) FILTER (WHERE {c} IS NOT NULL AND vector_dims({c}) <> %s) FROM {t}"
            ).format(c=sql.Identifier(target.column), recent=recent, t=sql.Identifier(table.schema, table.table))
            params = (grace, grace, target.dimension) if target.created_column else (target.dimension,)
            row = conn.execute(query, params).fetchone()
            assert row is not None
            rows, values, nulls, fresh, wrong = (int(v) for v in row)
            figures[target.name] = {"rows": rows, "embedded": values, "null": nulls, "null_in_grace": fresh}
            if nulls:
                problems.append(f"{target.name}: {nulls} rows without embedding (run nyxops backfill)")
            if wrong:
                problems.append(f"{target.name}: {wrong} vectors not of dimension {target.dimension}")
            if has_log:
                floor_row = conn.execute(
                    "SELECT non_null FROM nyxops.census_log WHERE target = %s AND phase = 'before'"
                    " ORDER BY taken_at DESC LIMIT 1",
                    (str(column),),
                ).fetchone()
                if floor_row and floor_row[0] is not None and values < floor_row[0]:
                    problems.append(f"{target.name}: {values} embeddings, {floor_row[0]} before the last migration")
                figures[target.name]["census_floor"] = floor_row[0] if floor_row else None
    if problems:
        return failed("; ".join(problems), **figures)
    total = sum(f["embedded"] for f in figures.values())
    if all(f.get("census_floor") is None for f in figures.values()):
        return passed(f"{total} embeddings present, none missing; no census yet: losses not checked", **figures)
    return passed(f"{total} embeddings present, none missing, none lost", **figures)
