"""Layer 2 inside PostgreSQL: the migration-scoped event trigger, and the permanent ``protect``."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.helpers import add_migration, nyxops, scalar, snapshot

EMBEDDINGS = "SELECT count(embedding) FROM workflow_insights"
HIDDEN_DROP = """DO $$
DECLARE col text := (SELECT 'embed' || 'ding');
BEGIN
    EXECUTE format('ALTER TABLE %I DROP COLUMN %I, ADD COLUMN %I vector(1536)', 'workflow_insights', col, col);
END
$$;
"""


def test_drop_hidden_in_dynamic_sql_is_stopped_at_run_time(env, db_url, migrations: Path) -> None:
    add_migration(migrations, "0004_hidden.sql", "CREATE TABLE side (id int);\n" + HIDDEN_DROP)
    lint = nyxops("lint", str(migrations / "0004_hidden.sql"), env=env)
    assert lint.code == 0 and "dynamic-sql" in lint.stdout  # statically: only a warning
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1
    assert "nyxops runtime guard: table column public.workflow_insights.embedding would be dropped" in result.stderr
    assert scalar(db_url, EMBEDDINGS) == 382
    assert scalar(db_url, "SELECT to_regclass('side') IS NULL") is True  # the whole file rolled back
    assert scalar(db_url, "SELECT count(*) FROM pg_event_trigger") == 0  # no trigger left behind


def test_cascade_side_effect_is_stopped(env, db_url, migrations: Path) -> None:
    add_migration(
        migrations,
        "0004_ext.sql",
        "-- nyxops:allow drop-type public.mood\nCREATE TYPE mood AS ENUM ('ok');\n"
        "ALTER TABLE pipeline_insights ADD COLUMN mood mood;\n"
        "-- nyxops:allow drop-type public.mood\nDROP TYPE mood CASCADE;\n",
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1
    assert "table column public.pipeline_insights.mood would be dropped" in result.stderr
    assert scalar(db_url, "SELECT to_regtype('mood') IS NULL") is True


def test_drop_extension_vector_cascade_stopped_even_with_extension_drop_allowed(db_url) -> None:
    """The static layer cannot tell which columns CASCADE reaches; the runtime layer sees each one."""
    from nyxops.guard import runtime

    with psycopg.connect(db_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="embedding would be dropped"), conn.transaction():
            runtime.install_migration_guard(conn, [])
            conn.execute("DROP EXTENSION vector CASCADE")
    assert scalar(db_url, EMBEDDINGS) == 382
    assert scalar(db_url, "SELECT count(*) FROM pg_event_trigger") == 0


def test_guard_is_invisible_to_other_sessions(db_url) -> None:
    from nyxops.guard import runtime

    with psycopg.connect(db_url, autocommit=True) as conn, conn.transaction():
        runtime.install_migration_guard(conn, [])
        assert scalar(db_url, "SELECT count(*) FROM pg_event_trigger") == 0
        raise psycopg.Rollback()


def test_protect_refuses_prisma_style_drop_from_another_client(env, db_url) -> None:
    assert nyxops("protect", "status", env=env).code == 1
    installed = nyxops("protect", "install", env=env)
    assert installed.code == 0, installed.output
    status = nyxops("protect", "status", env=env)
    assert status.code == 0 and "public.workflow_insights.embedding" in status.stdout
    before = snapshot(db_url)
    with psycopg.connect(db_url, application_name="prisma-db-push") as conn:
        with pytest.raises(psycopg.errors.RaiseException) as info:
            conn.execute('ALTER TABLE "workflow_insights" DROP COLUMN "embedding", ADD COLUMN "embedding" vector(1536)')
        assert "refusing to drop public.workflow_insights.embedding" in str(info.value)
        assert "SET nyxops.allow_drop = 'public.workflow_insights.embedding'" in (info.value.diag.message_hint or "")
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute("DROP TABLE workflow_insights")
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute("SET session_replication_role = replica")  # mutes ordinary event triggers, not this one
        conn.execute("ALTER TABLE workflow_insights DROP COLUMN embedding")
    assert snapshot(db_url) == before


def test_protect_lets_a_deliberate_session_drop(env, db_url) -> None:
    assert nyxops("protect", "install", env=env).code == 0
    with psycopg.connect(db_url) as conn:
        conn.execute("SET nyxops.allow_drop = 'public.workflow_insights.embedding'")
        conn.execute("ALTER TABLE workflow_insights DROP COLUMN embedding")
        conn.execute("ALTER TABLE pipeline_insights DROP COLUMN summary")  # not protected
    assert (
        scalar(
            db_url,
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'embedding'"
            " AND table_name = 'workflow_insights'",
        )
        == 0
    )


def test_protect_remove(env, db_url) -> None:
    assert nyxops("protect", "install", env=env).code == 0
    assert nyxops("protect", "remove", env=env).code == 0
    assert nyxops("protect", "status", env=env).code == 1
    with psycopg.connect(db_url) as conn:
        conn.execute("ALTER TABLE workflow_insights DROP COLUMN embedding")


def test_the_tripwire_s_record_discarded_is_refused_as_written_and_at_run_time(env, db_url, migrations: Path) -> None:
    """``DISCARD TEMP`` drops every temporary table, the tripwire's record of what the migration
    dropped with them, and no event trigger fires on it: lint refuses it as written, and built at
    run time, the check before commit finds the record gone."""
    assert nyxops("migrate", "apply", env=env).code == 0  # the repository's own files first
    add_migration(migrations, "0004_discard.sql", "CREATE TABLE side (id int);\nDISCARD TEMP;\n")
    lint = nyxops("lint", str(migrations / "0004_discard.sql"), env=env)
    assert lint.code == 1 and "[guard-tamper] pg_temp.nyxops_dropped" in lint.stdout, lint.output
    (migrations / "0004_discard.sql").unlink()
    built = "DO $$ BEGIN EXECUTE (SELECT 'DIS' || 'CARD TEMP'); END $$;\n"
    add_migration(migrations, "0004_discard.sql", "CREATE TABLE side (id int);\n" + built)
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert (
        "dropped pg_temp.nyxops_dropped" in result.stderr and "DISCARD TEMP or ALL built at run time" in result.stderr
    )
    assert snapshot(db_url) == before
