"""Each embedding table keeps what is written to it: one row's vector written back as it is, rolled back.

The incident's second half was writes that reported success and stored nothing. A rule ``DO
INSTEAD NOTHING``, a BEFORE trigger returning NULL (in any language, C included), or a row
security policy that lets the app read a row but not update it, each turn the app's next
re-embedding into ``UPDATE 0`` with no error. The migration guard refuses the ones a migration
makes; this check finds them however they came, by doing what the app does: an UPDATE of one
row's embedding to another vector (of its own dimension: written back as it was, a trigger that
skips redundant updates, ``suppress_redundant_updates_trigger()``, would rightly skip it), in a
transaction that is always rolled back. Nothing is changed; the app's own triggers run inside it
and are rolled back with it (what one of them sends outside the database, through dblink or an
HTTP extension, would not be). It waits at most a second for a row the app holds locked.
"""

import psycopg
from psycopg import sql

from nyxops.catalog import column_type
from nyxops.names import QualifiedName
from nyxops.verify import CheckResult, Context, failed, passed, skipped

NAME = "writes"
TIMEOUT = 15
_OTHER = "array_fill(0.125::real, ARRAY[vector_dims({c})])::vector"
"""A vector of the row's own dimension, other than the one it holds (the row is chosen so)."""
_ROW = sql.SQL("SELECT {k} FROM {t} WHERE {c} IS NOT NULL AND {c} <> " + _OTHER + " LIMIT 1")
_WRITE = sql.SQL("UPDATE {t} SET {c} = " + _OTHER + " WHERE {k} = %s")


def run(ctx: Context) -> CheckResult:
    problems: list[str] = []
    figures: dict[str, object] = {}
    with ctx.db() as conn:
        for target in ctx.settings.embedding_targets:
            table = target.qualified
            if column_type(conn, QualifiedName(table.schema, table.table, target.column)) is None:
                continue  # the schema check says so
            names = {"t": sql.Identifier(table.schema, table.table), "c": sql.Identifier(target.column)}
            names["k"] = sql.Identifier(target.key)
            try:
                with conn.transaction(force_rollback=True):
                    conn.execute("SET LOCAL lock_timeout = '1s'")
                    found = conn.execute(_ROW.format(**names)).fetchone()
                    if found is None:
                        continue  # no stored vector to try
                    done = conn.execute(_WRITE.format(**names), (found[0],)).rowcount
            except psycopg.errors.LockNotAvailable:
                figures[target.name] = "row locked by another session, not tried"
                continue
            figures[target.name] = done
            if done == 0:  # more than one: a key that is not unique, which is not what this looks for
                problems.append(
                    f"{target.name}: writing another vector into one row's {target.column} reported 0 rows "
                    f"updated: something makes writes to {table} do nothing without an error (a rule DO "
                    "INSTEAD NOTHING, a BEFORE trigger returning NULL, a row security policy), so every "
                    f"re-embedding the app stores there is lost as it is written. Look at \\d {table} in psql"
                )
    if problems:
        return failed("; ".join(problems), **figures)
    tried = sum(1 for done in figures.values() if isinstance(done, int))
    if not tried:
        return skipped("no stored embedding to try a write on (or each row tried was locked)", **figures)
    untried = f"; {len(figures) - tried} not tried, its row locked" if len(figures) > tried else ""
    return passed(f"a write to each of {tried} embedding tables lands (tried, rolled back){untried}", **figures)
