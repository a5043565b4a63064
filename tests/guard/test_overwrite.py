"""The overwrite trigger: inside a migration, no protected value is replaced, whatever wrote it.

The census counts values and the ledger counts rows, so before this a function that existed
before the migration could rewrite every embedding with other vectors, in a file that names the
table anywhere, and commit. Each test is a reviewed migration run by ``migrate apply`` on a real
PostgreSQL, with ``nyxops protect install`` done first as the deploy does it.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.helpers import add_migration, nyxops, scalar, snapshot

OTHER_VECTOR = "(SELECT embedding FROM workflow_insights ORDER BY id DESC LIMIT 1)"
ROTATE = (
    "CREATE FUNCTION rotate_embeddings() RETURNS void LANGUAGE sql AS $$"
    f" UPDATE workflow_insights SET embedding = {OTHER_VECTOR} WHERE id < 'wi_00100' $$"
)
"""A function of the app's database, created before the migration: the file only calls it."""
DISTINCT = "SELECT count(DISTINCT embedding::text) FROM workflow_insights"


def _setup(db_url: str, *statements: str) -> None:
    with psycopg.connect(db_url) as conn:
        for statement in statements:
            conn.execute(statement)


def _install(env: dict[str, str]) -> None:
    installed = nyxops("protect", "install", env=env)
    assert installed.code == 0, installed.output
    assert nyxops("migrate", "apply", env=env).code == 0  # the repository's own files first


CALLS = {
    "a function from before": (ROTATE, "SELECT count(*) FROM workflow_insights;\nSELECT rotate_embeddings();\n"),
    "a trigger from before": (
        "CREATE TABLE audit (id int);\n"
        "CREATE FUNCTION on_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" UPDATE workflow_insights SET embedding = {OTHER_VECTOR} WHERE id = 'wi_00001'; RETURN NEW; END $$;\n"
        "CREATE TRIGGER audit_rows AFTER INSERT ON audit FOR EACH ROW EXECUTE FUNCTION on_audit()",
        "SELECT id FROM workflow_insights LIMIT 1;\nINSERT INTO audit VALUES (1);\n",
    ),
    "deleted, and as many inserted again": (
        "CREATE FUNCTION swap_rows() RETURNS void LANGUAGE sql AS $$"
        " DELETE FROM workflow_insights WHERE id = 'wi_00001';"
        " INSERT INTO workflow_insights (id, title, content, embedding)"
        f" SELECT 'x', 't', 'c', {OTHER_VECTOR} $$",
        "SELECT count(*) FROM workflow_insights;\nSELECT swap_rows();\n",
    ),
    "truncated in dynamic SQL, and filled again": (
        "SELECT 1",
        "CREATE TABLE copy AS SELECT * FROM workflow_insights;\n"
        "DO $$ DECLARE t text := (SELECT 'workflow_' || 'insights'); BEGIN\n"
        "  EXECUTE 'TRUNCATE ' || t; EXECUTE 'INSERT INTO ' || t || ' SELECT * FROM copy'; END $$;\n",
    ),
    "set to NULL in dynamic SQL, the count made up": (
        "SELECT 1",
        "DO $$ DECLARE t text := (SELECT 'workflow_' || 'insights'); BEGIN\n"
        "  EXECUTE 'UPDATE ' || t || ' SET embedding = NULL WHERE id = ''wi_00001''';\n"
        "  EXECUTE 'INSERT INTO ' || t || ' (id, title, content, embedding) SELECT ''x'', ''t'', ''c'', embedding"
        " FROM ' || t || ' WHERE id = ''wi_00002'''; END $$;\n",
    ),
}


OVERWROTE = "this statement overwrote public.workflow_insights.embedding in a row where it already held a value"
EXPECTED = {
    "a function from before": OVERWROTE,
    "a trigger from before": OVERWROTE,
    "deleted, and as many inserted again": "deleted a row of public.workflow_insights whose embedding held a value",
    "truncated in dynamic SQL, and filled again": "truncates public.workflow_insights, whose embedding holds protected",
    "set to NULL in dynamic SQL, the count made up": OVERWROTE,
}


@pytest.mark.parametrize("way", sorted(CALLS))
def test_an_overwrite_the_file_does_not_show_is_refused(way: str, env, db_url, migrations: Path) -> None:
    before_sql, migration = CALLS[way]
    _setup(db_url, *before_sql.split(";\n"))
    _install(env)
    add_migration(migrations, "0004_calls.sql", migration)
    assert nyxops("lint", str(migrations / "0004_calls.sql"), env=env).code == 0  # the static layer cannot see it
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert EXPECTED[way] in result.stderr, result.stderr
    assert "0004_calls.sql was rolled back" in result.stderr
    assert snapshot(db_url) == before
    assert scalar(db_url, DISTINCT) == 382

    plan = nyxops("migrate", "plan", "--json", env=env)
    assert plan.code == 1 and EXPECTED[way] in plan.stdout
    assert json.loads(plan.stdout)["overwrite_armed"] is True


def test_without_protect_install_the_same_overwrite_commits(env, db_url, migrations: Path) -> None:
    """What the trigger is for: the census sees 382 values before and after, and a file that writes
    the table itself explains to the ledger what the function did there: it lets it through. (A
    file that only read the table is refused by the ledger as well: tests/guard/test_tripwire.py.)"""
    _setup(db_url, ROTATE)
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0004_calls.sql",
        "UPDATE workflow_insights SET title = title WHERE id = 'none';\nSELECT rotate_embeddings();\n",
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert "protect is not installed" in result.stderr
    add_migration(migrations, "0005_more.sql", "SELECT 1;\n")
    assert "protect is not installed" in nyxops("migrate", "plan", env={**env, "COLUMNS": "250"}).stdout
    assert scalar(db_url, "SELECT count(embedding) FROM workflow_insights") == 382
    assert scalar(db_url, DISTINCT) < 382  # values were lost, and only the trigger would have said so


def test_a_backfill_and_other_columns_still_run(env, db_url, migrations: Path) -> None:
    _install(env)
    add_migration(
        migrations,
        "0004_fill.sql",
        "INSERT INTO workflow_insights (id, title, content) VALUES ('new', 't', 'c');\n"
        f"UPDATE workflow_insights SET embedding = {OTHER_VECTOR} WHERE embedding IS NULL;\n"
        "UPDATE workflow_insights SET title = upper(title) WHERE id < 'wi_00010';\n",
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(embedding) FROM workflow_insights") == 383
    assert scalar(db_url, "SELECT prosrc FROM pg_proc WHERE proname = 'keep_values'") == "BEGIN RETURN NULL; END"
    assert scalar(db_url, "SELECT count(*) FROM pg_event_trigger WHERE evtname = 'nyxops_keep_watch'") == 0


def test_the_app_keeps_rewriting_embeddings_while_a_migration_runs(env, db_url) -> None:
    """Armed in the migration's own transaction: other sessions run the quiet body, unblocked."""
    from nyxops.guard import overwrite

    _install(env)
    with psycopg.connect(db_url) as migration:
        migration.execute("SET lock_timeout = '2s'")
        assert overwrite.arm(migration) is not None
        with psycopg.connect(db_url, autocommit=True) as app:
            app.execute("SET lock_timeout = '2s'")
            app.execute(f"UPDATE workflow_insights SET embedding = {OTHER_VECTOR} WHERE id = 'wi_00001'")
        with pytest.raises(psycopg.errors.RaiseException, match="overwrote public.workflow_insights.embedding"):
            migration.execute(f"UPDATE workflow_insights SET embedding = {OTHER_VECTOR} WHERE id = 'wi_00002'")
        migration.rollback()
    assert scalar(db_url, DISTINCT) == 381  # the app's write landed, the migration's did not


TAMPER = {
    "disable all triggers": "EXECUTE 'ALTER TABLE ' || t || ' DISABLE TRIGGER ALL';",
    "disable it by name": "EXECUTE 'ALTER TABLE ' || t || ' DISABLE TRIGGER ' || k;",
    "fire it only on replicas": "EXECUTE 'ALTER TABLE ' || t || ' ENABLE REPLICA TRIGGER ' || k;",
    "fire it only on origin": "EXECUTE 'ALTER TABLE ' || t || ' ENABLE TRIGGER ' || k;",
    "drop it": "EXECUTE 'DROP TRIGGER ' || k || ' ON ' || t;",
    "replace the function": (
        "EXECUTE 'CREATE OR REPLACE FUNCTION ' || n || '.keep_values() RETURNS trigger"
        " LANGUAGE plpgsql AS ''BEGIN RETURN NULL; END''';"
    ),
    "drop the watch first": (
        "EXECUTE 'DROP EVENT TRIGGER ' || n || '_keep_watch'; EXECUTE 'ALTER TABLE ' || t || ' DISABLE TRIGGER ' || k;"
    ),
    "through the catalog": "EXECUTE 'UPDATE pg_' || 'trigger SET tgenabled = ''D'' WHERE tgname = ' || quote_literal(k);",
}
RESTORE = {
    "disable all triggers": "EXECUTE 'ALTER TABLE ' || t || ' ENABLE ALWAYS TRIGGER ' || k;",
    "through the catalog": "EXECUTE 'UPDATE pg_' || 'trigger SET tgenabled = ''A'' WHERE tgname = ' || quote_literal(k);",
}


@pytest.mark.parametrize("way", sorted(TAMPER))
def test_a_migration_cannot_switch_the_overwrite_trigger_off(way: str, env, db_url, migrations: Path) -> None:
    """Switched off, the overwrite done, switched back on: refused at the switch (the watch), by the
    trigger itself (a catalog write does not reach the table's trigger list), or before commit
    (the watch dropped first, which no event trigger sees).

    The names are built from variables, so lint can only warn and ``migrate apply`` runs it.
    """
    _install(env)
    other = OTHER_VECTOR.replace("workflow_insights", "' || t || '")
    sql = (
        "DO $$ DECLARE t text := (SELECT 'workflow_' || 'insights'); k text := (SELECT 'nyxops_' || 'keep_' || 'embedding');\n"
        "    n text := (SELECT 'nyx' || 'ops');\n"
        f"BEGIN\n    {TAMPER[way]}\n    EXECUTE 'UPDATE ' || t || ' SET embedding = {other}';\n"
        f"    {RESTORE.get(way, '')}\nEND $$;\n"
    )
    add_migration(migrations, "0004_tamper.sql", "SELECT count(*) FROM workflow_insights;\n" + sql)
    assert nyxops("lint", str(migrations / "0004_tamper.sql"), env=env).code == 0  # lint can only warn
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "nyxops runtime guard" in result.stderr, result.stderr
    assert "0004_tamper.sql was rolled back" in result.stderr or "Nothing was committed" in result.stderr
    assert snapshot(db_url) == before
    assert scalar(db_url, DISTINCT) == 382
    status = nyxops("protect", "status", env=env)
    assert "overwrites refused inside migrations for: public.workflow_insights.embedding" in status.stdout


def test_static_layer_refuses_switching_it_off_in_plain_sql(env, tmp_path: Path) -> None:
    statements = (
        "ALTER TABLE workflow_insights DISABLE TRIGGER ALL;",
        "ALTER TABLE workflow_insights DISABLE TRIGGER nyxops_keep_embedding;",
        "DROP TRIGGER nyxops_keep_embedding ON workflow_insights;",
        "CREATE OR REPLACE FUNCTION nyxops.keep_values() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN END$$;",
    )
    for n, statement in enumerate(statements):
        path = tmp_path / f"{n:04d}_off.sql"
        path.write_text(statement + "\n")
        result = nyxops("lint", str(path), env=env)
        assert result.code == 1 and "guard-tamper" in result.stdout, (statement, result.output)


def test_status_install_and_remove(env, db_url, migrations: Path) -> None:
    assert nyxops("protect", "install", env=env).code == 0
    both = '["public.workflow_insights.embedding", "public.pipeline_insights.embedding"]'
    status = nyxops("protect", "status", "--json", env={**env, "NYXOPS_PROTECTED_COLUMNS": both})
    assert status.code == 0
    assert (
        '"unguarded": ["public.pipeline_insights.embedding"]' in status.stdout and '"current": false' in status.stdout
    )
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.RaiseException, match="refusing to drop"):
        conn.execute("ALTER TABLE workflow_insights DROP COLUMN embedding")  # no dependency hides this message


def test_status_names_a_setting_stored_to_switch_it_off(env, db_url) -> None:
    """``nyxops.allow_drop`` stored for the database by hand: every later session, ``prisma db push``'s
    among them, may drop the protected column; status says so and exits 1 until it is taken away."""
    _install(env)
    database = scalar(db_url, "SELECT current_database()")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {database} SET nyxops.allow_drop = 'public.workflow_insights.embedding'")
    status = nyxops("protect", "status", env=env)
    assert status.code == 1, status.output
    assert (
        f"stored nyxops.allow_drop=public.workflow_insights.embedding for every later session of database {database}"
        in status.stdout
    )
    assert '"current": false' in nyxops("protect", "status", "--json", env=env).stdout
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {database} RESET nyxops.allow_drop")
    status = nyxops("protect", "status", env=env)
    assert status.code == 0 and "stored" not in status.stdout, status.output


def test_a_deliberate_drop_leaves_migrations_working(env, db_url, migrations: Path) -> None:
    """The trigger names its column in the function body, not in a WHEN: the column can still be
    dropped on purpose, and a migration that writes the table afterwards is not tripped by it."""
    _install(env)
    with psycopg.connect(db_url) as conn:
        conn.execute("SET nyxops.allow_drop = 'public.workflow_insights.embedding'")
        conn.execute("ALTER TABLE workflow_insights DROP COLUMN embedding")
    status = nyxops("protect", "status", env=env)
    assert "overwrites refused inside migrations for: none" in status.stdout, status.output
    add_migration(
        migrations, "0004_titles.sql", "UPDATE workflow_insights SET title = upper(title) WHERE id < 'wi_1';\n"
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE title LIKE 'INSIGHT%'") == 382


def test_remove(env, db_url) -> None:
    assert nyxops("protect", "install", env=env).code == 0
    assert nyxops("protect", "remove", env=env).code == 0
    assert scalar(db_url, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'nyxops%'") == 0
    assert scalar(db_url, "SELECT to_regprocedure('nyxops.keep_values()') IS NULL") is True


def test_a_type_without_equality_is_compared_as_text(env, db_url, migrations: Path) -> None:
    """json has no ``=``: its values are compared as text, and an overwrite is still refused."""
    _setup(
        db_url,
        "CREATE TABLE notes (id int PRIMARY KEY, doc json)",
        """INSERT INTO notes SELECT g, json_build_object('n', g) FROM generate_series(1, 5) g""",
        """CREATE FUNCTION reset_notes() RETURNS void LANGUAGE sql AS $$ UPDATE notes SET doc = '{"n": 0}' $$""",
    )
    both = {**env, "NYXOPS_PROTECTED_COLUMNS": '["public.workflow_insights.embedding", "public.notes.doc"]'}
    _install(both)
    assert "public.notes.doc" in nyxops("protect", "status", env=both).stdout
    add_migration(migrations, "0004_notes.sql", "SELECT count(*) FROM notes;\nSELECT reset_notes();\n")
    result = nyxops("migrate", "apply", env=both)
    assert result.code == 1 and "overwrote public.notes.doc" in result.stderr, result.output
    assert scalar(db_url, "SELECT string_agg(doc::text, ',' ORDER BY id) FROM notes") == ",".join(
        f'{{"n" : {n}}}' for n in range(1, 6)
    )


def test_a_journaled_file_is_armed_statement_by_statement(env, db_url, migrations: Path) -> None:
    """A file with CREATE INDEX CONCURRENTLY runs one statement per transaction: each one armed."""
    _setup(db_url, ROTATE)
    _install(env)
    add_migration(
        migrations,
        "0004_journaled.sql",
        "CREATE INDEX CONCURRENTLY wi_title ON workflow_insights (title);\nSELECT rotate_embeddings();\n",
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1 and OVERWROTE in result.stderr, result.output
    assert "statement 1 is committed" in result.stderr
    assert scalar(db_url, DISTINCT) == 382
    assert scalar(db_url, "SELECT prosrc FROM pg_proc WHERE proname = 'keep_values'") == "BEGIN RETURN NULL; END"


def test_install_gives_up_on_a_held_lock_and_changes_nothing(env, db_url) -> None:
    """A trigger needs the table's lock for a moment: queued behind a long transaction, it would
    hold up every write of the app behind it, so protect install waits NYXOPS_LOCK_TIMEOUT only."""
    with psycopg.connect(db_url) as app:
        app.execute("LOCK TABLE workflow_insights IN ROW EXCLUSIVE MODE")  # an app transaction writing it
        result = nyxops("protect", "install", env={**env, "NYXOPS_LOCK_TIMEOUT": "1s"})
        app.rollback()
    assert result.code == 1
    assert "waited 1s for a lock on a protected table" in result.stderr and "changed nothing" in result.stderr
    assert scalar(db_url, "SELECT count(*) FROM pg_event_trigger WHERE evtname = 'nyxops_protect'") == 0
    assert scalar(db_url, "SELECT to_regprocedure('nyxops.keep_values()') IS NULL") is True


def test_long_column_names_get_triggers_of_their_own() -> None:
    from nyxops.guard.overwrite import trigger_name

    first, second = "x" * 60 + "a", "x" * 60 + "b"
    assert trigger_name("embedding") == "nyxops_keep_embedding"
    assert trigger_name("embedding", "truncate") == "nyxops_keep_truncate_embedding"
    assert len(trigger_name(first).encode()) == 63 and trigger_name(first) != trigger_name(second)
