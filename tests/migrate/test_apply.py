"""``nyxops migrate apply`` against real PostgreSQL: the incidents, and every kind of bad input."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import psycopg
import pytest

from tests.helpers import add_migration, nyxops, scalar, snapshot

EMBEDDINGS = "SELECT count(embedding) FROM workflow_insights"


def test_project_sync_migrations_apply_with_all_382_embeddings_intact(env, db_url) -> None:
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, EMBEDDINGS) == 382
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations") == 3
    assert scalar(db_url, "SELECT reviewed_by FROM nyxops.schema_migrations WHERE version = '0001'") == (
        "ops-team (Project Sync Phase 1 review)"
    )
    assert (
        scalar(
            db_url,
            """SELECT column_default FROM information_schema.columns
        WHERE table_name = 'Project' AND column_name = 'syncEnabled'""",
        )
        == "false"
    )
    assert scalar(db_url, "SELECT count(*) FROM pg_policies WHERE tablename = 'project_syncs'") == 2
    assert "applied 0003_project_syncs_rls.sql: 3 statement(s)" in result.stderr  # the success log line
    assert scalar(db_url, "SELECT count(*) FROM pg_event_trigger") == 0  # the runtime guard is gone
    again = nyxops("migrate", "apply", env=env)
    assert again.code == 0 and "nothing to apply" in again.output


def test_prisma_drop_of_embedding_is_blocked_before_anything_runs(env, db_url, migrations: Path) -> None:
    add_migration(
        migrations,
        "0004_prisma_push.sql",
        'ALTER TABLE "workflow_insights" DROP COLUMN "embedding",\nADD COLUMN "embedding" vector(1536);\n',
    )
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1
    assert "0004_prisma_push.sql:1:13 [drop-column] public.workflow_insights.embedding" in result.stderr
    assert "nothing was applied" in result.stderr
    assert snapshot(db_url) == before  # not even 0001..0003 ran
    assert scalar(db_url, EMBEDDINGS) == 382


INVALIDATE_ON_EDIT = (
    "CREATE FUNCTION wi_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN\n"
    "  IF NEW.title IS DISTINCT FROM OLD.title THEN NEW.embedding := NULL; END IF;\n"
    "  RETURN NEW;\nEND $$;\n"
    "CREATE TRIGGER wi_invalidate BEFORE UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION wi_invalidate();\n"
)


def test_a_trigger_that_would_wipe_embeddings_on_the_apps_next_edits_is_refused(env, db_url, migrations: Path) -> None:
    """The migration itself writes nothing: the loss comes later, one row per edit of the app,
    where no migration guard looks. Run by hand, the same SQL does exactly that."""
    add_migration(migrations, "0004_invalidate.sql", INVALIDATE_ON_EDIT)
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "0004_invalidate.sql:5:47 [write-protected] public.workflow_insights.embedding" in result.stderr
    assert snapshot(db_url) == before

    with psycopg.connect(db_url) as conn:  # what it would have done: the app edits one title
        conn.execute(INVALIDATE_ON_EDIT)
        conn.execute(
            "UPDATE workflow_insights SET title = title || '!' WHERE id = (SELECT min(id) FROM workflow_insights)"
        )
        assert conn.execute(EMBEDDINGS).fetchone() == (381,)
        conn.rollback()
    assert scalar(db_url, EMBEDDINGS) == 382


def test_allowed_drop_of_an_unprotected_column_applies(env, db_url, migrations: Path) -> None:
    add_migration(
        migrations,
        "0004_drop_title.sql",
        "-- nyxops:allow drop-column public.pipeline_insights.project_id\n"
        "ALTER TABLE pipeline_insights DROP COLUMN project_id;\n",
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert (
        scalar(
            db_url,
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'project_id'"
            " AND table_name = 'pipeline_insights'",
        )
        == 0
    )


def test_a_files_own_scaffolding_is_dropped_without_allow_comments(env, db_url, migrations: Path) -> None:
    """Build, fill, swap, drop the leftover: the static layer and the runtime trigger both let it pass."""
    add_migration(
        migrations,
        "0004_titles.sql",
        "CREATE TABLE titles_new (id text PRIMARY KEY, title text NOT NULL, draft boolean);\n"
        "INSERT INTO titles_new SELECT id, title, true FROM workflow_insights;\n"
        "UPDATE titles_new SET draft = false;\n"
        "ALTER TABLE titles_new DROP COLUMN draft;\n"
        "ALTER TABLE titles_new RENAME TO titles;\n"
        "CREATE TABLE scratch AS SELECT id FROM titles;\n"
        "DROP TABLE scratch;\n",
    )
    plan = nyxops("migrate", "plan", env=env)
    assert plan.code == 0, plan.output
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM titles") == 382
    assert scalar(db_url, "SELECT to_regclass('scratch') IS NULL") is True
    assert scalar(db_url, EMBEDDINGS) == 382


def test_syntax_error_refused_with_position_and_nothing_runs(env, db_url, migrations: Path) -> None:
    add_migration(migrations, "0004_typo.sql", "CREATE TABLE ok (id int);\nALTER TABEL ok ADD x int;\n")
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 2
    assert '0004_typo.sql:2:7: syntax error at or near "TABEL"' in result.stderr
    assert snapshot(db_url) == before


def test_meta_command_refused(env, db_url, migrations: Path) -> None:
    add_migration(migrations, "0004_meta.sql", "SELECT 1;\n\\connect other\nCREATE TABLE x (id int);\n")
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 2 and "0004_meta.sql:2:1: psql meta-command \\connect" in result.stderr
    assert snapshot(db_url) == before


def test_unreviewed_file_refused(env, db_url, migrations: Path) -> None:
    add_migration(migrations, "0004_new.sql", "CREATE TABLE n (id int);\n", review=False)
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1
    assert "0004_new.sql is not reviewed" in result.stderr and "nyxops migrate review" in result.stderr
    assert snapshot(db_url) == before


def test_file_edited_after_review_refused(env, db_url, migrations: Path) -> None:
    path = add_migration(migrations, "0004_new.sql", "CREATE TABLE n (id int);\n")
    path.write_text('CREATE TABLE n (id int);\nDROP TABLE "Project" CASCADE;\n')
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1 and "0004_new.sql changed after test reviewer reviewed it" in result.stderr
    assert snapshot(db_url) == before


def test_file_edited_after_apply_is_drift_and_blocks(env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    (migrations / "0002_project_sync_enabled.sql").write_text("SELECT 1;\n")
    add_migration(migrations, "0004_new.sql", "CREATE TABLE n (id int);\n")
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1 and "drift" in result.stderr and "0002_project_sync_enabled.sql" in result.stderr
    assert snapshot(db_url) == before
    status = nyxops("migrate", "status", env=env)
    assert status.code == 1 and "drifted" in status.stdout


def test_failing_statement_rolls_back_its_whole_file(env, db_url, migrations: Path) -> None:
    add_migration(migrations, "0004_half.sql", "CREATE TABLE half (id int);\nINSERT INTO half VALUES ('x');\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1
    assert "0004_half.sql:2: statement 2 failed: invalid input syntax for type integer" in result.stderr
    assert "rolled back" in result.stderr
    assert scalar(db_url, "SELECT to_regclass('half') IS NULL") is True
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations") == 3  # earlier files stay applied


def test_lock_timeout_stops_instead_of_queueing(env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_lock.sql", 'ALTER TABLE "Project" ADD COLUMN note text;\n')
    holder = psycopg.connect(db_url)
    holder.execute('SELECT * FROM "Project" LIMIT 1')  # an open transaction holding AccessShareLock
    try:
        result = nyxops("migrate", "apply", env={**env, "NYXOPS_LOCK_TIMEOUT": "300ms"}, timeout=30)
    finally:
        holder.close()
    assert result.code == 1
    assert "canceling statement due to lock timeout" in result.stderr
    assert "Another transaction holds a lock" in result.stderr
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations") == 3
    assert scalar(db_url, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'") == 0


def test_two_runners_second_fails_naming_the_holder(env, db_url, migrations: Path) -> None:
    add_migration(migrations, "0004_slow.sql", "SELECT pg_sleep(3);\n")
    first: dict[str, object] = {}
    thread = threading.Thread(target=lambda: first.update(r=nyxops("migrate", "apply", env=env)))
    thread.start()
    with psycopg.connect(db_url, autocommit=True) as conn:
        for _ in range(100):
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%%'").fetchone()
            if row and row[0]:
                break
            threading.Event().wait(0.1)
    second = nyxops("migrate", "apply", env=env)
    thread.join()
    assert second.code == 1
    assert "another nyxops runner holds the migration lock: pid" in second.stderr
    assert "nyxops migrate apply" in second.stderr  # the holder's application_name
    assert first["r"].code == 0  # type: ignore[attr-defined]


def test_password_never_printed(env, db_url, migrations: Path) -> None:
    url = "postgresql://nyxcore:s3cret-Pa55@127.0.0.1:1/nyxcore"
    result = nyxops("migrate", "status", "--database-url", url, env=env)
    assert result.code == 1
    assert "s3cret-Pa55" not in result.output
    assert "postgresql://nyxcore:***@127.0.0.1:1/nyxcore" in result.stderr


def test_misnamed_file_and_missing_folder(env, migrations: Path, tmp_path: Path) -> None:
    (migrations / "5_bad name.sql").write_text("SELECT 1;")
    result = nyxops("migrate", "status", env=env)
    assert result.code == 2 and "migration files are named NNNN_slug.sql" in result.stderr
    result = nyxops("migrate", "status", "--dir", str(tmp_path / "nope"), env=env)
    assert result.code == 2 and "does not exist" in result.stderr


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("BEGIN;\nCREATE TABLE x (id int);\n", "1:1: BEGIN"),  # left open
        ("BEGIN ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE x (id int);\nCOMMIT;\n", "1:1: BEGIN"),
        ("CREATE TABLE x (id int);\nSAVEPOINT s;\nROLLBACK TO s;\n", "2:1: SAVEPOINT"),
        ("BEGIN;\nCREATE TABLE x (id int);\nROLLBACK;\n", "1:1: BEGIN"),
        ("BEGIN;\nBEGIN;\nCREATE TABLE x (id int);\nCOMMIT;\nCOMMIT;\n", "1:1: BEGIN"),
        ("CREATE TABLE x (id int);\nCOMMIT;\n", "2:1: COMMIT"),
        (  # a journaled file runs statement by statement: a pair would mean something there
            "BEGIN;\nCREATE TABLE x (id int);\nCOMMIT;\nCREATE INDEX CONCURRENTLY xi ON workflow_insights (title);\n",
            "1:1: BEGIN",
        ),
    ],
)
def test_transaction_control_in_a_file_is_refused(env, db_url, migrations: Path, text: str, where: str) -> None:
    add_migration(migrations, "0004_tx.sql", text)
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1 and f"0004_tx.sql:{where} in a migration file" in result.stderr, result.stderr
    assert "remove BEGIN/COMMIT from the file" in result.stderr
    assert snapshot(db_url) == before


def test_a_plain_begin_commit_pair_runs_inside_the_file_s_transaction(env, db_url, migrations: Path) -> None:
    """Prisma wraps an enum's change in BEGIN/COMMIT mid-file. The pair is not sent: had COMMIT been,
    the table before the failing statement would have stayed."""
    assert nyxops("migrate", "apply", env=env).code == 0
    text = "CREATE TABLE kept_or_not (id int);\nBEGIN;\nCREATE TABLE x (id int);\nCOMMIT;\nSELECT no_such_function();\n"
    add_migration(migrations, "0004_tx.sql", text)
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1 and "0004_tx.sql:5: statement 5 failed" in result.stderr, result.stderr
    assert snapshot(db_url) == before
    add_migration(migrations, "0004_tx.sql", text.replace("SELECT no_such_function();\n", ""))
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert "applied 0004_tx.sql: 2 statement(s)" in result.stderr
    assert scalar(db_url, "SELECT count(*) FROM pg_tables WHERE tablename IN ('kept_or_not', 'x')") == 2


def test_overwriting_a_protected_column_is_blocked_before_anything_runs(env, db_url, migrations: Path) -> None:
    """The incident's other shape: not a drop, an UPDATE that NULLs the embeddings (with a WHERE)."""
    add_migration(
        migrations,
        "0004_null_some.sql",
        "UPDATE workflow_insights SET embedding = NULL WHERE id < 'wi_00010';\n",
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1 and "write-protected" in result.stderr
    assert scalar(db_url, EMBEDDINGS) == 382


def test_census_decrease_aborts_before_commit(env, db_url, migrations: Path) -> None:
    """Built at run time, the same UPDATE passes the static layer (a warning); the census stops it."""
    add_migration(
        migrations,
        "0004_null_some.sql",
        "DO $$ DECLARE c text := (SELECT 'embed' || 'ding'); BEGIN\n"
        "EXECUTE format('UPDATE workflow_insights SET %I = NULL WHERE id < %L', c, 'wi_00010'); END $$;\n",
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1
    assert (
        "would lose protected data: public.workflow_insights.embedding: 382 values before, 373 after" in result.stderr
    )
    assert scalar(db_url, EMBEDDINGS) == 382


def test_census_decrease_in_a_journaled_file_stops_at_that_statement(env, db_url, migrations: Path) -> None:
    add_migration(
        migrations,
        "0004_journaled_loss.sql",
        "CREATE INDEX CONCURRENTLY wi_created_idx ON workflow_insights (created_at);\n"
        "DO $$ DECLARE c text := (SELECT 'embedding'); BEGIN\n"
        "EXECUTE format('UPDATE workflow_insights SET %I = NULL WHERE id = %L', c, 'wi_00001'); END $$;\n"
        "CREATE TABLE after_loss (id int);\n",
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1
    assert "382 values before, 381 after. Statement 2 was rolled back" in result.stderr
    assert scalar(db_url, "SELECT count(embedding) FROM workflow_insights") == 382
    assert scalar(db_url, "SELECT to_regclass('after_loss') IS NULL") is True
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations WHERE version = '0004'") == 0


CARRIED = {
    # read afterwards: the other table of that name keeps its five rows, the file's own work stands
    "search_path": (
        "CREATE SCHEMA app;\nCREATE TABLE app.events AS SELECT i AS id FROM generate_series(1, 5) i;\n"
        "SET search_path = app, public;\n",
        "SELECT count(*) FROM app.events",
        5,
    ),
    "TEMP objects": (
        "CREATE TEMP TABLE events AS SELECT id FROM public.events;\n"
        "CREATE TEMP VIEW recent AS SELECT id FROM events WHERE id > 3;\n"
        "CREATE TEMP SEQUENCE stage_seq;\n"
        "CREATE TABLE kept AS SELECT id FROM recent;\n",
        "SELECT count(*) FROM kept",
        2,
    ),
}


@pytest.mark.parametrize("together", [True, False], ids=["in one run", "in two runs"])
@pytest.mark.parametrize("carried,check,expected", CARRIED.values(), ids=CARRIED.keys())
def test_each_file_starts_in_the_session_nyxops_connected_with(
    carried: str, check: str, expected: int, together: bool, env, db_url, migrations: Path
) -> None:
    """What a file leaves in the session stayed for the next file of the same run, and not when
    that file was applied in a run of its own: 0005's ``DELETE FROM events``, reviewed as
    ``public.events`` (lint reads each file from the default path), emptied ``app.events`` after
    0004's ``SET search_path = app, public``, or 0004's staging TEMP ``events`` (the app's rows
    stayed, exit 0), when 0004 was pending with it, and ``public.events`` a release later. Now each
    file starts as nyxops connected (as Flyway resets the role and search_path after each
    migration; as a new connection has no TEMP objects): the same rows go either way, the ones the
    review saw, and plan says so."""
    assert nyxops("migrate", "apply", env=env).code == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.events AS SELECT i AS id FROM generate_series(1, 5) i")
    add_migration(migrations, "0004_carried.sql", carried)
    if not together:
        assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0005_purge.sql", "DELETE FROM events WHERE id > 1;\n")
    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    assert plan["ledger"]["0005_purge.sql"] == ["public.events: 4 rows deleted"]
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM public.events") == 1
    assert scalar(db_url, check) == expected


@pytest.mark.parametrize("together", [True, False], ids=["in one run", "in two runs"])
def test_a_temporary_function_does_not_outlive_its_file(together: bool, env, db_url, migrations: Path) -> None:
    """A function made in ``pg_temp`` ended with the file in a run of its own, and stayed for the
    next file in one run: 0005's ``DELETE … WHERE id > pg_temp.cutoff()`` deleted rows when both
    were pending and failed a release later. It fails either way now, having deleted nothing."""
    assert nyxops("migrate", "apply", env=env).code == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.events AS SELECT i AS id FROM generate_series(1, 5) i")
    add_migration(
        migrations,
        "0004_cutoff.sql",
        "CREATE FUNCTION pg_temp.cutoff() RETURNS int LANGUAGE sql AS 'SELECT 3';\n"
        "CREATE AGGREGATE pg_temp.total(int) (SFUNC = int4pl, STYPE = int);\n"
        "CREATE TYPE pg_temp.mood AS ENUM ('ok');\n"  # dropped first, and with it the function that takes it
        "CREATE FUNCTION pg_temp.fine(m pg_temp.mood) RETURNS bool LANGUAGE sql AS 'SELECT true';\n"
        "CREATE TABLE sums AS SELECT pg_temp.total(id) AS s FROM events;\n",
    )
    if not together:
        assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0005_purge.sql", "DELETE FROM events WHERE id > pg_temp.cutoff();\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "function pg_temp.cutoff() does not exist" in result.stderr
    assert scalar(db_url, "SELECT count(*) FROM public.events") == 5
    assert scalar(db_url, "SELECT s FROM sums") == 15
