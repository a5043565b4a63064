"""A composite type's attributes, on real PostgreSQL: which changes can reach stored values.

``ALTER TYPE … ALTER ATTRIBUTE … TYPE`` without CASCADE is refused by PostgreSQL while any column
or typed table holds the type (graphile-worker's 000013 is such a statement, and squawk flags it);
with CASCADE it rewrites the typed tables, values rounded as by any type change. ``DROP
ATTRIBUTE`` loses that part of every value of a column of the type, CASCADE or not.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.helpers import add_migration, nyxops, scalar, snapshot

SEED = """
CREATE TYPE spec AS (a int, b numeric(10,5));
CREATE TABLE holder (id int PRIMARY KEY, s spec);
INSERT INTO holder VALUES (1, ROW(5, 1.23456));
CREATE TABLE typed OF spec;
INSERT INTO typed VALUES (7, 2.34567);
"""
NARROW = "ALTER TYPE spec ALTER ATTRIBUTE b TYPE numeric(10,2)"


def _seeded(env: dict[str, str], db_url: str) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0  # the repository's own files first
    with psycopg.connect(db_url) as conn:
        conn.execute(SEED)


def test_an_attribute_type_change_without_cascade_lints_clean_and_postgresql_refuses_it(
    env, db_url, migrations: Path
) -> None:
    _seeded(env, db_url)
    path = add_migration(migrations, "0004_narrow.sql", NARROW + ";\n")
    lint = nyxops("lint", str(path), env=env)
    assert lint.code == 0, lint.output
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert 'cannot alter type "spec" because column "holder.s" uses it' in result.stderr
    assert snapshot(db_url) == before
    assert scalar(db_url, "SELECT (s).b::text FROM holder") == "1.23456"


def test_with_cascade_lint_blocks_it_as_the_type_change_it_is(env, db_url, migrations: Path) -> None:
    _seeded(env, db_url)
    path = add_migration(migrations, "0004_narrow.sql", NARROW + " CASCADE;\n")
    lint = nyxops("lint", str(path), env=env)
    assert lint.code == 1 and "[alter-column-type] public.spec.b" in lint.output, lint.output
    with psycopg.connect(db_url) as conn:  # what it does, once no column holds the type: rolled back
        conn.execute("DROP TABLE holder")
        conn.execute(NARROW + " CASCADE")
        assert conn.execute("SELECT b::text FROM typed").fetchone() == ("2.35",)
        conn.rollback()
    assert scalar(db_url, "SELECT b::text FROM typed") == "2.34567"


def test_dropping_an_attribute_loses_it_in_every_column_of_the_type_and_lint_blocks_it(
    env, db_url, migrations: Path
) -> None:
    _seeded(env, db_url)
    path = add_migration(migrations, "0004_drop.sql", "ALTER TYPE spec DROP ATTRIBUTE b;\n")
    lint = nyxops("lint", str(path), env=env)
    assert lint.code == 1 and "[drop-column] public.spec.b" in lint.output, lint.output
    with psycopg.connect(db_url) as conn:  # by hand, without CASCADE: the column's values lose b
        conn.execute("DROP TABLE typed")  # (a typed table alone makes PostgreSQL ask for CASCADE)
        conn.execute("ALTER TYPE spec DROP ATTRIBUTE b")
        assert conn.execute("SELECT s::text FROM holder").fetchone() == ("(5)",)
        conn.rollback()
    assert scalar(db_url, "SELECT s::text FROM holder") == "(5,1.23456)"
