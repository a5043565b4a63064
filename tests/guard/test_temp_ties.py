"""A permanent object tied to a temporary one goes with it when nyxops' session ends: after the
commit, where no guard of the migration looks (PostgreSQL drops the session's temporary schema
with CASCADE, and the tripwire is gone by then).

Shown first on a real PostgreSQL 16: a reviewed ``ALTER COLUMN content TYPE words`` (a domain
over text the file made in ``pg_temp``, allowed as harmless) committed, and
``workflow_insights.content`` with every value in it was gone once apply had exited (exit 0); so
was the protected ``embedding``, retyped to such a domain by dynamic SQL.

Each migration here gets past lint (dynamic SQL, or lint's ``temp-tie`` finding allowed by a
comment): the run-time check is what refuses it, and no allow comment lets it through.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.helpers import add_migration, nyxops, scalar, snapshot

COLUMNS = (
    "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute"
    " WHERE attrelid = 'workflow_insights'::regclass AND attnum > 0 AND NOT attisdropped"
)

TIES = {
    "a column retyped to a temporary domain": (
        "CREATE DOMAIN pg_temp.words AS text;\n"
        "-- nyxops:allow alter-column-type public.workflow_insights.content\n"
        "-- nyxops:allow temp-tie public.workflow_insights\n"
        "ALTER TABLE workflow_insights ALTER COLUMN content TYPE words;\n",
        "column content of table public.workflow_insights",
    ),
    "the protected column retyped at run time": (
        "CREATE DOMAIN pg_temp.vec AS vector(1536);\n"
        "DO $$ DECLARE t text := (SELECT 'pg_temp.vec'); BEGIN\n"
        "  EXECUTE 'ALTER TABLE workflow_insights ALTER COLUMN embedding TYPE ' || t; END $$;\n",
        "column embedding of table public.workflow_insights",
    ),
    "a column of a temporary type's array added": (
        "CREATE TYPE pg_temp.mood AS ENUM ('calm', 'tense');\n"
        "-- nyxops:allow temp-tie public.workflow_insights\n"
        "ALTER TABLE workflow_insights ADD COLUMN moods mood[];\n"
        "UPDATE workflow_insights SET moods = '{calm}' WHERE id = 'wi_00001';\n",
        "column moods of table public.workflow_insights",
    ),
    "a table typed by a temporary composite": (
        "CREATE TYPE pg_temp.titled AS (id text, title text);\n"
        "-- nyxops:allow temp-tie public.insight_titles\n"
        "CREATE TABLE insight_titles OF titled;\n"
        "INSERT INTO insight_titles SELECT id, title FROM workflow_insights;\n",
        "table public.insight_titles",
    ),
    "the protected table typed by a temporary composite, at run time": (
        "CREATE TYPE pg_temp.wi_row AS (id text, project_id text, title text, content text,\n"
        "  embedding vector(1536), created_at timestamptz);\n"
        "DO $$ DECLARE t text := (SELECT 'wi_row'); BEGIN EXECUTE 'ALTER TABLE workflow_insights OF ' || t; END $$;\n",
        "table public.workflow_insights",
    ),
    "a default of a temporary function": (
        "CREATE FUNCTION pg_temp.untitled() RETURNS text LANGUAGE sql AS $$ SELECT 'untitled' $$;\n"
        "-- nyxops:allow temp-tie public.workflow_insights\n"
        "ALTER TABLE workflow_insights ALTER COLUMN title SET DEFAULT pg_temp.untitled();\n",
        "default value for column title of table public.workflow_insights",
    ),
    "a column given a temporary collation": (
        "CREATE COLLATION pg_temp.plain (locale = 'C');\n"
        "DO $$ DECLARE c text := (SELECT 'pg_temp.plain'); BEGIN\n"
        "  EXECUTE 'ALTER TABLE workflow_insights ALTER COLUMN content TYPE text COLLATE ' || c; END $$;\n",
        "column content of table public.workflow_insights",
    ),
    "a generated column of a temporary text search configuration": (
        "CREATE TEXT SEARCH CONFIGURATION pg_temp.words (COPY = simple);\n"
        "DO $$ DECLARE c text := (SELECT 'pg_temp.words'); BEGIN EXECUTE format(\n"
        "  'ALTER TABLE workflow_insights ADD COLUMN words tsvector GENERATED ALWAYS AS "
        "(to_tsvector(%L::regconfig, content)) STORED', c); END $$;\n",
        "column words of table public.workflow_insights",
    ),
    "a generated column of a temporary operator": (
        "CREATE OPERATOR pg_temp.&& (LEFTARG = text, RIGHTARG = text, FUNCTION = textcat);\n"
        "DO $$ DECLARE o text := (SELECT 'pg_temp'); BEGIN EXECUTE format(\n"
        "  'ALTER TABLE workflow_insights ADD COLUMN full_text text GENERATED ALWAYS AS "
        "(title OPERATOR(%s.&&) content) STORED', o); END $$;\n",
        "column full_text of table public.workflow_insights",
    ),
    "a trigger of a temporary function": (
        "CREATE FUNCTION pg_temp.keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
        "-- nyxops:allow temp-tie public.workflow_insights\n"
        "CREATE TRIGGER wi_keep BEFORE UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION pg_temp.keep();\n",
        "trigger wi_keep on table public.workflow_insights",
    ),
}


@pytest.mark.parametrize("sql,tied", TIES.values(), ids=TIES.keys())
def test_a_permanent_object_tied_to_a_temporary_one_is_refused(
    sql: str, tied: str, env, db_url, migrations: Path
) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_tied.sql", sql)
    before = snapshot(db_url)
    plan = nyxops("migrate", "plan", "--json", env=env)
    assert plan.code == 1, plan.output
    refused = [s["refused"] for s in json.loads(plan.stdout)["statements"] if s["refused"]]
    assert any(f"{tied} depends on temporary" in line for line in refused), plan.stdout
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert f"{tied} depends on temporary" in result.stderr
    assert "It was rolled back; nothing changed." in result.stderr
    assert snapshot(db_url) == before  # read from another session, after apply's has ended
    assert scalar(db_url, COLUMNS) == "id,project_id,title,content,embedding,created_at"
    assert scalar(db_url, "SELECT count(embedding) FROM workflow_insights") == 382
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations WHERE version = '0004'") == 0


def test_temporary_objects_of_the_file_alone_pass(env, db_url, migrations: Path) -> None:
    """Staging in TEMP objects that only TEMP objects use is what they are for: it commits."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0004_staging.sql",
        "CREATE TYPE pg_temp.mood AS ENUM ('calm');\n"
        "CREATE FUNCTION pg_temp.keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
        "CREATE FUNCTION pg_temp.new_id() RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;\n"
        "CREATE TEMP TABLE stage (id text DEFAULT pg_temp.new_id(), m pg_temp.mood);\n"
        "CREATE TRIGGER stage_keep BEFORE INSERT ON stage FOR EACH ROW EXECUTE FUNCTION pg_temp.keep();\n"
        "INSERT INTO stage (id) SELECT id FROM workflow_insights;\n"
        "CREATE TABLE staged AS SELECT id FROM stage;\n",
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM staged") == scalar(db_url, "SELECT count(*) FROM workflow_insights")


def test_a_column_of_another_session_s_temporary_type_is_refused(env, db_url, migrations: Path) -> None:
    """Another session's temporary type ties as well: the column goes when that session ends. The
    file finds the schema (``pg_temp_3``) at run time, by dynamic SQL, so lint can only warn."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0004_elsewhere.sql",
        "DO $$ DECLARE s text := (SELECT n.nspname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace\n"
        "  WHERE t.typname = 'mood_elsewhere'); BEGIN\n"
        "  EXECUTE format('ALTER TABLE workflow_insights ADD COLUMN moods %I.mood_elsewhere', s); END $$;\n",
    )
    with psycopg.connect(db_url, autocommit=True) as other:
        other.execute("CREATE TYPE pg_temp.mood_elsewhere AS ENUM ('calm')")
        before = snapshot(db_url)
        result = nyxops("migrate", "apply", env=env)
        assert result.code == 1, result.output
        assert "column moods of table public.workflow_insights depends on temporary type pg_temp_" in result.stderr
    assert snapshot(db_url) == before  # the other session has ended
    assert scalar(db_url, COLUMNS) == "id,project_id,title,content,embedding,created_at"


def test_plan_goes_on_after_a_file_refused_for_a_tie(env, db_url, migrations: Path) -> None:
    """In plan's one transaction the refused file's tie is still there when the next file starts,
    and dropping its temporary composite would drop the table typed by it: the tripwire refused
    that drop and plan crashed (exit 2, no report). Now the temporary type stays; plan reports."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations, "0004_tied.sql", TIES["the protected table typed by a temporary composite, at run time"][0]
    )
    add_migration(migrations, "0005_next.sql", "CREATE TABLE later (id int);\n")
    plan = nyxops("migrate", "plan", "--json", env=env)
    assert plan.code == 1, plan.output
    statements = json.loads(plan.stdout)["statements"]
    assert "table public.workflow_insights depends on temporary type" in (statements[1]["refused"] or "")
    assert [s["error"] for s in statements if s["file"] == "0005_next.sql"] == [None]
