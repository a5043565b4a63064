"""nyxops' own reads in the migration's session, after the file's ``SET search_path`` and others.

A migration's ``SET search_path = shade, pg_catalog`` puts its own functions and operators before
PostgreSQL's for every later query of the session, nyxops' checks included. With a
``shade.count(vector)`` aggregate that always answers 382, the census read every protected value
intact after dynamic SQL had nulled them all, and ``migrate apply`` committed (without ``protect``,
whose trigger would have refused the overwrite; lint only warns about the dynamic SQL). Now every
read of nyxops in that session runs with ``search_path = pg_catalog, pg_temp``, and the file's own
path is set back for its statements.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.helpers import add_migration, nyxops, scalar, snapshot

_SHADE = """CREATE SCHEMA shade;
CREATE FUNCTION shade.keep(bigint, vector) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT 382::bigint';
CREATE AGGREGATE shade.count(vector) (sfunc = shade.keep, stype = bigint, initcond = '0');
UPDATE workflow_insights SET title = title WHERE id = 'none';
"""
_NULLED = (  # the column's name computed by the server: lint can only warn (dynamic-sql)
    "DO $$ DECLARE c text := (SELECT 'embed' || 'ding'); "
    "BEGIN EXECUTE format('UPDATE workflow_insights SET %I = NULL', c); END $$;\n"
)
_PATH = "SET search_path = shade, pg_catalog, public;\n"
VALUES = "SELECT count(embedding) FROM workflow_insights"


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param(_SHADE + _NULLED + _PATH, id="one transaction"),
        # journaled (a statement that cannot run in a transaction): each statement commits on its
        # own, and the session's search_path set by one is the next one's
        pytest.param(
            _SHADE + _PATH + _NULLED + "CREATE INDEX CONCURRENTLY side_title ON workflow_insights (title);\n",
            id="journaled",
        ),
    ],
)
def test_a_census_fooled_by_the_file_s_own_count_is_refused(sql: str, env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0  # the repository's own files first
    add_migration(migrations, "0004_shade.sql", sql)
    assert nyxops("lint", str(migrations / "0004_shade.sql"), env=env).code == 0  # a warning only
    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    assert plan["census_after"]["public.workflow_insights.embedding"]["non_null"] == 0
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "public.workflow_insights.embedding: 382 values before, 0 after" in result.stderr
    assert scalar(db_url, VALUES) == 382
    if "CONCURRENTLY" not in sql:  # a journaled file keeps the statements before the refused one
        assert snapshot(db_url) == before


def test_the_file_s_statements_still_run_with_its_own_path(env, db_url, migrations: Path) -> None:
    """nyxops' reads before and after the file leave the path its statements see as it was: the
    session's (``public`` here), then what the file set; the next file starts from the session's
    path again, as in a run of its own (db.fresh_session)."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_plain.sql", "CREATE TABLE first_table (id int);\n")
    add_migration(
        migrations, "0005_app.sql", "CREATE SCHEMA app;\nSET search_path = app, public;\nCREATE TABLE t1 (id int);\n"
    )
    add_migration(migrations, "0006_next.sql", "CREATE TABLE t2 (id int);\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    where = "SELECT relnamespace::regnamespace::text FROM pg_class WHERE relname = '{}'"
    assert [scalar(db_url, where.format(t)) for t in ("first_table", "t1", "t2")] == [
        "public",
        "app",
        "public",
    ]


def test_a_file_s_escape_setting_does_not_change_what_nyxops_reads(env, db_url, migrations: Path) -> None:
    """``standard_conforming_strings = off`` makes ``'pg\\_temp%'`` read as ``pg_temp%``, whose ``_``
    matches any character: the ledger then took schema ``pg1temp`` for a temporary one and did not
    count the rows deleted there by dynamic SQL (a table no statement of the file writes)."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0004_audit.sql",
        "CREATE SCHEMA pg1temp;\nCREATE TABLE pg1temp.audit (id int);\nINSERT INTO pg1temp.audit SELECT generate_series(1, 5);\n",
    )
    assert nyxops("migrate", "apply", env=env).code == 0
    purge = "DO $$ DECLARE t text := (SELECT 'pg1temp.' || 'audit'); BEGIN EXECUTE 'DELETE FROM ' || t; END $$;\n"
    add_migration(migrations, "0005_purge.sql", "SET standard_conforming_strings = off;\n" + purge)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "changed rows of tables no statement of it writes (pg1temp.audit: 5 rows deleted)" in result.stderr
    assert scalar(db_url, "SELECT count(*) FROM pg1temp.audit") == 5


@pytest.mark.parametrize(
    "switch",
    [
        "SET ROLE app_owner",
        "SET SESSION AUTHORIZATION app_owner",
        # both: nyxops sets the user back before the role, as PostgreSQL needs (the user resets the role)
        "SET SESSION AUTHORIZATION app_deployer;\nSET ROLE app_owner",
    ],
)
def test_a_file_that_creates_its_tables_as_the_app_s_role_applies(switch: str, env, db_url, migrations: Path) -> None:
    """``SET ROLE app_owner`` (so the app's role owns what the file creates) left nyxops' census
    and history to that role, and apply failed with "permission denied for table
    workflow_insights"; so did a superuser's ``SET SESSION AUTHORIZATION app_owner``, after which
    ``role = none`` returns to app_owner. nyxops now reads as the user it connected as; the
    file's statements run as the role the file set, and the next file's as nyxops connected, as
    they would in a run of their own (db.fresh_session)."""
    assert nyxops("migrate", "apply", env=env).code == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        for role in ("app_owner", "app_deployer"):
            conn.execute(f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        conn.execute("GRANT CREATE ON SCHEMA public TO app_owner")
        conn.execute("GRANT app_owner TO app_deployer")
    add_migration(migrations, "0004_owned.sql", f"{switch};\nCREATE TABLE owned (id int);\n")
    add_migration(migrations, "0005_next.sql", "CREATE TABLE owned_too (id int);\n")
    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    assert not [s for s in plan["statements"] if s["error"] or s["refused"]], plan["statements"]
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    owners = "SELECT array_agg(tableowner::text ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'owned%'"
    assert scalar(db_url, owners) == ["app_owner", scalar(db_url, "SELECT session_user::text")]


_BLIND = """DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT name, parameter_types FROM pg_prepared_statements
           WHERE NOT from_sql AND statement LIKE '%n_tup_del%' LOOP
    EXECUTE format('DEALLOCATE %I', r.name);
    EXECUTE format('PREPARE %I %s AS SELECT 1 WHERE false', r.name, CASE WHEN cardinality(r.parameter_types) = 0
      THEN '' ELSE '(' || array_to_string(r.parameter_types, ',') || ')' END);
  END LOOP;
END $$;
"""
"""The ledger's read of rows deleted and updated, once psycopg has prepared it (``migrate plan``,
from its fifth run), replaced by one that finds nothing: by dynamic SQL, where lint only warns."""
_PURGE = "DO $$ DECLARE t text := (SELECT 'au' || 'dit'); BEGIN EXECUTE 'DELETE FROM ' || t; END $$;\n"


def test_a_file_that_replaces_what_nyxops_prepared_is_refused(env, db_url, migrations: Path) -> None:
    """``migrate plan`` reported nothing of the 5 rows the file then deleted from a table it never
    names (apply refused them): the ledger's own prepared statement had been replaced. Now plan
    stops, naming the file, and apply refuses it."""
    add_migration(
        migrations, "0004_audit.sql", "CREATE TABLE audit (id int);\nINSERT INTO audit SELECT generate_series(1, 5);\n"
    )
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0005_blind.sql", "SELECT 1;\n" * 6 + _BLIND + _PURGE)
    assert nyxops("lint", str(migrations / "0005_blind.sql"), env=env).code == 0  # warnings only
    plan = nyxops("migrate", "plan", "--json", env=env)
    assert plan.code == 1, plan.output
    assert "0005_blind.sql prepared statements under the names nyxops' database client gives its own" in plan.stderr
    result = nyxops("migrate", "apply", env=env)  # apply prepares nothing: the ledger sees the delete
    assert result.code == 1, result.output
    assert "(public.audit: 5 rows deleted)" in result.stderr
    assert scalar(db_url, "SELECT count(*) FROM audit") == 5


def test_apply_refuses_a_statement_prepared_under_psycopg_s_names(env, db_url, migrations: Path) -> None:
    """apply, which prepares nothing, refuses the name all the same: the same file must not pass
    one command and fail the other."""
    assert nyxops("migrate", "apply", env=env).code == 0
    hidden = "DO $$ BEGIN EXECUTE (SELECT 'PREPARE _pg' || '3_0 AS SELECT 1'); END $$;\n"
    add_migration(migrations, "0004_named.sql", "CREATE TABLE named (id int);\n" + hidden)
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "0004_named.sql prepared statements under the names nyxops' database client gives its own (_pg3_0)" in (
        result.stderr
    )
    assert snapshot(db_url) == before


@pytest.mark.parametrize("journaled", [False, True], ids=["one transaction", "journaled"])
def test_nyxops_reads_run_with_its_own_timeouts(journaled: bool, env, db_url, migrations: Path) -> None:
    """A file's ``SET statement_timeout = '1ms'`` (files set short timeouts before a statement that
    takes a lock) cut nyxops' census and checks after it, and apply failed with "canceling
    statement due to statement timeout", which read as the file's own statement timing out. The
    file's timeouts are its statements'; nyxops reads with its own, and the next file starts with
    nyxops' again."""
    assert nyxops("migrate", "apply", env=env).code == 0
    concurrently = "CREATE INDEX CONCURRENTLY short_id ON short (id);\n" if journaled else ""
    add_migration(
        migrations, "0004_short.sql", f"CREATE TABLE short (id int);\n{concurrently}SET statement_timeout = '1ms';\n"
    )
    add_migration(migrations, "0005_next.sql", "CREATE TABLE next_one AS SELECT 1 AS one FROM pg_sleep(0.01);\n")
    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    assert not [s for s in plan["statements"] if s["error"] or s["refused"]], plan["statements"]
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT to_regclass('next_one') IS NOT NULL") is True
