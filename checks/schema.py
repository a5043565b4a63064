"""Every configured embedding column exists with its type and dimension, in a logged table.

A column silently dropped and re-added (the prisma incident) is still a ``vector(1536)``, but
empty: this check sees the type, ``embeddings`` sees the values. A table made UNLOGGED (by hand,
outside migrations) keeps every value until the next crash empties it: this check says so first.
So does anything tied to a temporary object (a column of a ``pg_temp`` type, made by hand in a
session still open): PostgreSQL drops it with that session's temporary schema when it ends.
"""

from nyxops.catalog import column, unlogged
from nyxops.guard import temp_ties
from nyxops.names import QualifiedName
from nyxops.verify import CheckResult, Context, failed, passed

NAME = "schema"
TIMEOUT = 15


def run(ctx: Context) -> CheckResult:
    problems, figures = [], {}
    with ctx.db() as conn:
        for target in ctx.settings.embedding_targets:
            table = target.qualified
            found = column(conn, QualifiedName(table.schema, table.table, target.column))
            figures[f"{table}.{target.column}"] = found.type if found else "missing"
            if found is None:
                problems.append(f"{table}.{target.column} is missing")
            elif found.dimension != target.dimension:
                problems.append(f"{table}.{target.column} is {found.type}, expected vector({target.dimension})")
            for name in unlogged(conn, QualifiedName(table.schema, table.table)):
                problems.append(f"{name} is UNLOGGED: the next crash empties it (ALTER TABLE {name} SET LOGGED)")
        for tie in temp_ties.tied(conn):
            problems.append(
                f"{tie}: it goes when that session ends (a column: with every value in it); while the session lives, "
                "move it to a permanent type or function (ALTER TABLE … ALTER COLUMN … TYPE text)"
            )
    if problems:
        return failed("; ".join(problems), **figures)
    return passed(f"{len(figures)} embedding columns present with their dimensions", **figures)
