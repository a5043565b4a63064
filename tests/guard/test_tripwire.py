"""Every way around the run-time layer, tried by a reviewed migration on a real PostgreSQL.

Each migration gets past the static layer (its dangerous parts are built at run time, so lint
can only warn), and ``migrate apply`` must refuse it with every row and column intact: the
tripwire cannot be switched off from inside, and the ledger sees rows lost where no statement
of the file says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.helpers import add_migration, nyxops, scalar, snapshot

DYNAMIC_DROP = "EXECUTE format('ALTER TABLE %I DROP COLUMN %I', 'workflow_insights', c);"


def _dynamic(before: str) -> str:
    """A DO block: ``before``, then ``workflow_insights.content`` dropped by dynamic SQL.

    ``content`` is not protected, so the census does not see its loss: only the tripwire can.
    The names come from variables the server computes at run time (``n`` is "nyxops", ``g`` the
    guard's trigger, ``s`` the replication setting; a variable declared with literals alone would
    be folded), so lint cannot read them and only warns.
    """
    return (
        "DO $$ DECLARE c text := (SELECT 'content'); n text := (SELECT 'nyx' || 'ops'); g text := n || '_migration_guard';\n"
        "    s text := (SELECT 'session_' || 'replication_role');\n"
        f"BEGIN\n    {before}\n    {DYNAMIC_DROP}\nEND $$;\n"
    )


DROPPED = "nyxops runtime guard: table column public.workflow_insights.content would be dropped"
WAYS_AROUND = {
    "session_replication_role": (_dynamic("EXECUTE 'SET LOCAL ' || s || ' = replica';"), DROPPED),
    "disable the trigger": (
        _dynamic("EXECUTE 'ALTER EVENT TRIGGER ' || g || ' DISABLE';"),
        "its event trigger was disabled during the migration",
    ),
    "fire only on replicas": (
        _dynamic("EXECUTE 'ALTER EVENT TRIGGER ' || g || ' ENABLE REPLICA';"),
        "its event trigger was changed to fire only as 'R'",
    ),
    "disable it in the catalog": (
        _dynamic(
            "EXECUTE 'UPDATE pg_' || 'event_trigger SET evtenabled = ''D'' WHERE evtname = ' || quote_literal(g);"
        ),
        "its event trigger was disabled during the migration",
    ),
    "drop the trigger": (
        _dynamic("EXECUTE 'DROP EVENT TRIGGER ' || g;"),
        "its event trigger was dropped during the migration",
    ),
    "replace the function": (
        _dynamic(
            "EXECUTE 'CREATE OR REPLACE FUNCTION ' || n || '.migration_guard() RETURNS event_trigger"
            " LANGUAGE plpgsql AS ''BEGIN END''';"
        ),
        "its event trigger was replaced by another function",
    ),
    "drop its record": (
        _dynamic("EXECUTE 'DROP TABLE pg_temp.' || n || '_dropped';"),
        "nyxops runtime guard: this statement dropped pg_temp.nyxops_dropped, nyxops' record of what the migration",
    ),
    # no event at all: the column marked dropped in the catalog, as DROP COLUMN itself marks it
    "drop it in the catalog": (
        "DO $$ DECLARE c text := (SELECT 'content'); BEGIN EXECUTE 'UPDATE pg_' || 'attribute SET attisdropped = true,"
        " attname = ''........pg.dropped.3........'' WHERE attrelid = ''workflow_insights''::regclass AND attname = '"
        " || quote_literal(c); END $$;\n",
        "nyxops runtime guard: the migration dropped 1 column(s) of table public.workflow_insights without its event"
        " trigger seeing it",
    ),
    "allow list from a setting": (
        _dynamic(
            "EXECUTE 'SET LOCAL ' || n || '.plan_allow = ''[[\"public\", \"workflow_insights\", \"content\"]]''';"
        ),
        DROPPED,
    ),
}


@pytest.mark.parametrize("way", sorted(WAYS_AROUND))
def test_a_migration_cannot_switch_the_tripwire_off(way: str, env, db_url, migrations: Path) -> None:
    sql, message = WAYS_AROUND[way]
    assert nyxops("migrate", "apply", env=env).code == 0  # the repository's own files first
    add_migration(migrations, "0004_sneaky.sql", "CREATE TABLE side (id int);\n" + sql)
    assert nyxops("lint", str(migrations / "0004_sneaky.sql"), env=env).code == 0  # lint can only warn
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert message in result.stderr
    assert snapshot(db_url) == before
    assert scalar(db_url, "SELECT count(content) FROM workflow_insights") == 382
    assert scalar(db_url, "SELECT to_regclass('side') IS NULL") is True
    assert scalar(db_url, "SELECT count(*) FROM pg_event_trigger WHERE evtname = 'nyxops_migration_guard'") == 0


OUTLIVING_STATE = (
    "SELECT (SELECT coalesce(array_agg(c ORDER BY c), '{}') FROM pg_db_role_setting, unnest(setconfig) c),"
    " (SELECT array_agg(e.evtname || ':' || e.evtenabled::text || ':' || md5(p.prosrc) ORDER BY 1)"
    "  FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid),"
    " (SELECT array_agg(address::text ORDER BY 1) FROM nyxops.protected),"
    " (SELECT array_agg(version ORDER BY 1) FROM nyxops.schema_migrations)"
)
OUTLIVING = {
    # what protect reads to let a drop through: prisma db push could drop the embeddings again
    "protect's allow list, stored for the database": (
        "DO $$ DECLARE n text := (SELECT 'nyx' || 'ops'); BEGIN EXECUTE format('ALTER DATABASE %I SET %s.allow_drop"
        " = %L', current_database(), n, 'public.workflow_insights.embedding'); END $$;\n",
        "stored nyxops.allow_drop=public.workflow_insights.embedding for every later session of database",
    ),
    # the app's own triggers (its foreign keys' cascades among them) silenced in every later session
    "replica, stored for the role": (
        "DO $$ DECLARE s text := (SELECT 'session_' || 'replication_role'); BEGIN"
        " EXECUTE format('ALTER ROLE %I SET %s = replica', current_user, s); END $$;\n",
        "stored session_replication_role=replica for every later session of role",
    ),
    # event triggers do not fire for commands on event triggers: the tripwire never sees these
    "protect's event trigger dropped": (
        "DO $$ BEGIN EXECUTE (SELECT 'DROP EVENT TRIGGER ' || 'nyx' || 'ops_protect'); END $$;\n",
        "dropped (or renamed) event trigger nyxops_protect",
    ),
    "protect's event trigger disabled": (
        "DO $$ BEGIN EXECUTE (SELECT 'ALTER EVENT TRIGGER ' || 'nyx' || 'ops_protect DISABLE'); END $$;\n",
        "disabled event trigger nyxops_protect",
    ),
    "protect's function emptied": (
        "DO $$ BEGIN EXECUTE (SELECT 'CREATE OR REPLACE FUNCTION ' || 'nyx' || 'ops.protect_guard()"
        " RETURNS event_trigger LANGUAGE plpgsql AS $f$BEGIN END$f$'); END $$;\n",
        "gave event trigger nyxops_protect another function body",
    ),
    "an event trigger of the file's own": (
        "CREATE FUNCTION on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $f$ BEGIN END $f$;\n"
        "DO $$ BEGIN EXECUTE (SELECT 'CREATE EVENT TRIGGER ' || 'on_ddl ON ddl_command_start"
        " EXECUTE FUNCTION on_ddl()'); END $$;\n",
        "created event trigger on_ddl (it would run on every later session's DDL)",
    ),
    # nyxops' own tables: what protect guards, and which files ran (an allow comment changes nothing)
    "protect's list emptied": (
        "-- nyxops:allow indirect-write nyxops.protected\n"
        "DO $$ BEGIN EXECUTE (SELECT 'DELETE FROM ' || 'nyx' || 'ops.protected'); END $$;\n",
        "wrote nyxops' own table nyxops.protected (1 row(s) deleted)",
    ),
    "a history row forged": (
        "DO $$ BEGIN EXECUTE (SELECT 'INSERT INTO ' || 'nyx' || 'ops.schema_migrations"
        " VALUES (''0005'', ''0005_later.sql'', ''0'', ''x'', now(), ''x'', 0, 1)'); END $$;\n",
        "wrote nyxops' own table nyxops.schema_migrations (1 row(s) inserted)",
    ),
    # a function that switches protect off whenever something runs it later, as its owner
    "a function that switches protect off later": (
        "DO $$ BEGIN EXECUTE (SELECT 'CREATE FUNCTION later() RETURNS void LANGUAGE plpgsql SECURITY DEFINER"
        " AS $f$ BEGIN ALTER EVENT TRIGGER ' || 'nyx' || 'ops_protect DISABLE; END $f$'); END $$;\n",
        "created or replaced function public.later(), which would switch nyxops' guard off",
    ),
    # what the tripwire saw dropped, erased from the ledger's report
    "the tripwire's record emptied": (
        "CREATE INDEX side_id ON side (id);\nDROP INDEX side_id;\n"
        "DO $$ BEGIN EXECUTE (SELECT 'DELETE FROM pg_temp.' || 'nyx' || 'ops_dropped'); END $$;\n",
        "wrote nyxops' own table pg_temp.nyxops_dropped (1 row(s) deleted)",
    ),
}


@pytest.mark.parametrize("way", sorted(OUTLIVING))
def test_a_guard_switched_off_for_later_sessions_is_refused(way: str, env, db_url, migrations: Path) -> None:
    """A setting stored with ALTER DATABASE|ROLE, an event trigger dropped, disabled, replaced or
    added, nyxops' own tables written: each from dynamic SQL, each outliving the migration. The
    ledger reads them before and after, plan says apply would refuse, and apply rolls back;
    afterwards a drop of the protected column from another client is still refused."""
    installed = nyxops("protect", "install", env=env)
    assert installed.code == 0, installed.output
    assert nyxops("migrate", "apply", env=env).code == 0  # the repository's own files first
    sql, what = OUTLIVING[way]
    add_migration(migrations, "0004_sneaky.sql", "CREATE TABLE side (id int);\n" + sql)
    assert nyxops("lint", str(migrations / "0004_sneaky.sql"), env=env).code == 0  # lint can only warn
    report = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    [refused] = [s["refused"] for s in report["statements"] if s["refused"]]
    assert refused.startswith("apply would refuse, nyxops' guards or records switched off") and what in refused
    before, state = snapshot(db_url), scalar(db_url, OUTLIVING_STATE)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "0004_sneaky.sql switched off or rewrote nyxops' guards or records" in result.stderr
    assert what in result.stderr and "It was rolled back" in result.stderr
    assert snapshot(db_url) == before and scalar(db_url, OUTLIVING_STATE) == state
    assert scalar(db_url, "SELECT to_regclass('side') IS NULL") is True
    with psycopg.connect(db_url, autocommit=True) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute("ALTER TABLE workflow_insights DROP COLUMN embedding")  # prisma db push, a new session
    assert scalar(db_url, "SELECT count(embedding) FROM workflow_insights") == 382


def test_the_guard_fires_always(env, db_url, migrations: Path) -> None:
    """Installed ENABLE ALWAYS: session_replication_role = replica does not mute it."""
    import psycopg

    from nyxops.guard import runtime

    with psycopg.connect(db_url, autocommit=True) as conn, conn.transaction():
        runtime.install_migration_guard(conn, [])
        enabled = conn.execute("SELECT evtenabled FROM pg_event_trigger WHERE evtname = 'nyxops_migration_guard'")
        assert enabled.fetchone() == ("A",)
        raise psycopg.Rollback()


PARENT_CHILD = (
    "CREATE TABLE parent (id int PRIMARY KEY);\n"
    "CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id) ON DELETE CASCADE);\n"
    "CREATE TABLE journal (id int);\n"
    "INSERT INTO parent SELECT g FROM generate_series(1, 3) g;\n"
    "INSERT INTO child SELECT g, 1 + g % 3 FROM generate_series(1, 30) g;\n"
    "INSERT INTO journal SELECT g FROM generate_series(1, 5) g;\n"
    "CREATE FUNCTION wipe_journal() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN EXECUTE 'DELETE FROM ' || 'jour' || 'nal'; RETURN NEW; END $$;\n"
    "CREATE TRIGGER wipe AFTER INSERT ON parent FOR EACH ROW EXECUTE FUNCTION wipe_journal();\n"
)
INDIRECT = {
    "foreign-key cascade": ("DELETE FROM parent WHERE id = 1;\n", "public.child: 10 rows deleted"),
    "dynamic SQL": (
        "DO $$ DECLARE t text := (SELECT 'chi' || 'ld'); BEGIN EXECUTE format('UPDATE %I SET parent_id = 2 WHERE id > %s', t, 0);"
        " END $$;\n",
        "public.child: 30 rows updated",
    ),
    "a trigger created earlier": ("INSERT INTO parent VALUES (4);\n", "public.journal: 5 rows deleted"),
    "TRUNCATE … CASCADE": ("-- nyxops:allow truncate public.parent\nTRUNCATE parent CASCADE;\n", "public.child"),
}


@pytest.mark.parametrize("way", sorted(INDIRECT))
def test_rows_lost_where_the_file_does_not_say_are_refused(way: str, env, db_url, migrations: Path) -> None:
    add_migration(migrations, "0004_tables.sql", PARENT_CHILD)
    assert nyxops("migrate", "apply", env=env).code == 0
    sql, entry = INDIRECT[way]
    add_migration(migrations, "0005_indirect.sql", sql)
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "changed rows of tables no statement of it writes" in result.stderr and entry in result.stderr
    assert "nyxops:allow indirect-write" in result.stderr
    assert snapshot(db_url) == before

    plan = nyxops("migrate", "plan", "--json", env=env)
    assert "apply would refuse" in plan.stdout and entry in plan.stdout


def test_an_allow_comment_naming_the_table_lets_the_cascade_through(env, db_url, migrations: Path) -> None:
    add_migration(migrations, "0004_tables.sql", PARENT_CHILD)
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0005_cascade.sql",
        "-- nyxops:allow indirect-write public.child\nDELETE FROM parent WHERE id = 1;\n",
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM child") == 20


def test_plan_prints_the_ledger_and_what_a_type_change_does_to_the_values(env, db_url, migrations: Path) -> None:
    add_migration(
        migrations,
        "0004_prices.sql",
        "CREATE TABLE prices (id int, amount numeric(10,5), label varchar(20));\n"
        "INSERT INTO prices VALUES (1, 12345.67891, 'a'), (2, 1.5, 'b'), (3, 2.25, 'c'), (4, 7, 'd');\n",
    )
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0005_types.sql",
        "-- nyxops:allow alter-column-type public.prices.amount\n"
        "ALTER TABLE prices ALTER COLUMN amount TYPE numeric(10,2);\n"
        "-- nyxops:allow alter-column-type public.prices.label\n"
        "ALTER TABLE prices ALTER COLUMN label TYPE text;\n"
        "UPDATE prices SET label = 'x' WHERE id = 2;\n"
        "-- nyxops:allow drop-column public.prices.label\n"
        "ALTER TABLE prices DROP COLUMN label;\n",
    )
    result = nyxops("migrate", "plan", "--json", env=env)
    report = json.loads(result.stdout)
    values = [v for s in report["statements"] for v in s["values"]]
    assert values[0] == "public.prices.amount to numeric(10, 2): 1 of 4 values change, e.g. 12345.67891 -> 12345.68"
    assert values[1] == "public.prices.label to text: 0 of 4 values change"
    losses = [s["would_lose"] for s in report["statements"] if s["file"] == "0005_types.sql"]
    assert losses[:2] == [[], []]  # a type change's figure is its values, not "would lose" every one
    assert losses[3] == ["public.prices.label: 4 non-NULL values in 4 rows"]  # the drop's
    ledger = report["ledger"]["0005_types.sql"]
    assert "public.prices: truncated or rewritten" in ledger
    assert "public.prices: 1 rows updated" in ledger
    assert "dropped table column public.prices.label" in ledger  # what the event trigger saw (sql_drop)


def test_dynamic_sql_on_a_table_the_file_names_is_shown_in_the_plan_not_refused(env, db_url, migrations: Path) -> None:
    """The boundary the README states: the ledger refuses rows changed in tables no statement
    names; in a table the file names, what dynamic SQL does is the reviewer's to read in the plan."""
    add_migration(
        migrations,
        "0004_retype.sql",
        "UPDATE workflow_insights SET title = title WHERE id = 'none';\n"
        "DO $$ DECLARE t text := (SELECT 'workflow_' || 'insights'); BEGIN\n"
        "    EXECUTE format('ALTER TABLE %I ALTER COLUMN project_id TYPE text USING NULL', t);\n"
        "    EXECUTE format('UPDATE %I SET title = upper(title) WHERE id > %L', t, '');\nEND $$;\n",
    )
    lint = nyxops("lint", str(migrations / "0004_retype.sql"), env=env)
    assert lint.code == 0 and "only migrate plan shows" in lint.stdout
    report = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    ledger = report["ledger"]["0004_retype.sql"]
    assert ledger == ["public.workflow_insights: 382 rows updated, truncated or rewritten"]
    assert nyxops("migrate", "apply", env=env).code == 0
    assert scalar(db_url, "SELECT count(project_id) FROM workflow_insights") == 0
    assert scalar(db_url, "SELECT count(embedding) FROM workflow_insights") == 382  # the census's column


def test_plan_says_which_calls_only_the_run_time_layer_can_follow(env, db_url, migrations: Path) -> None:
    add_migration(
        migrations,
        "0004_fn.sql",
        "CREATE FUNCTION app_cleanup() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'SELECT 1'; END $$;\n",
    )
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0005_call.sql",
        "CREATE FUNCTION own_helper() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
        "SELECT app_cleanup(), own_helper(), now();\n",
    )
    report = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    calls = {s["statement"]: s["external_calls"] for s in report["statements"] if s["file"] == "0005_call.sql"}
    assert calls == {1: [], 2: ["app_cleanup"]}
    text = nyxops("migrate", "plan", env={**env, "COLUMNS": "250"}).stdout
    assert "only the run-time layer sees what it does" in text


def test_sql_sent_to_another_session_is_refused_before_anything_runs(env, db_url, migrations: Path) -> None:
    """What ``dblink_exec`` runs commits in a session of its own, where neither the tripwire nor the
    ledger looks and no rollback reaches: the one place to stop it is before the file runs."""
    assert nyxops("migrate", "apply", env=env).code == 0
    elsewhere = "SELECT dblink_exec('dbname=nyxcore', 'ALTER TABLE workflow_insights DROP COLUMN content');\n"
    add_migration(migrations, "0004_elsewhere.sql", "CREATE TABLE side (id int);\n" + elsewhere)
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "other-session" in result.output
    assert snapshot(db_url) == before
    assert scalar(db_url, "SELECT to_regclass('side') IS NULL") is True


def test_a_write_through_a_view_the_file_created_is_refused_without_protect(env, db_url, migrations: Path) -> None:
    """Without ``protect install`` the run-time layer counts values, not their contents: a view
    laundered the overwrite past lint, and apply committed every zeroed vector."""
    assert nyxops("migrate", "apply", env=env).code == 0
    laundered = (
        "CREATE VIEW recent (key, vec) AS SELECT id, embedding FROM workflow_insights WHERE title <> '';\n"
        "UPDATE recent SET vec = vec - vec WHERE key > '';\n"
    )
    add_migration(migrations, "0004_view.sql", laundered)
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "write-protected" in result.output and "public.workflow_insights.embedding" in result.output
    assert snapshot(db_url) == before


def test_a_search_path_stored_for_the_apps_later_sessions_is_refused(env, db_url, migrations: Path) -> None:
    """The shadow table is empty: every count in the migration is the same, and from the app's next
    connection on, its unqualified ``workflow_insights`` would be that table."""
    assert nyxops("migrate", "apply", env=env).code == 0
    shadow = (
        "CREATE SCHEMA shadow;\nCREATE TABLE shadow.workflow_insights (LIKE public.workflow_insights);\n"
        "ALTER ROLE CURRENT_USER SET search_path = shadow, public;\n"
    )
    add_migration(migrations, "0004_shadow.sql", shadow)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "stored-search-path" in result.output
    assert scalar(db_url, "SELECT count(*) FROM pg_db_role_setting") == 0
    assert scalar(db_url, "SELECT to_regnamespace('shadow') IS NULL") is True


SHADOW = "CREATE SCHEMA shadow;\nCREATE TABLE shadow.workflow_insights (LIKE public.workflow_insights);\n"


def test_a_search_path_stored_by_dynamic_sql_is_refused_at_run_time(env, db_url, migrations: Path) -> None:
    """Lint cannot read the database's name built at run time (a dynamic-sql warning); the ledger
    reads the stored settings before and after the file, and refuses a search_path no allowed
    statement stores."""
    assert nyxops("migrate", "apply", env=env).code == 0
    stored = (
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = shadow, public', current_database()); "
        "END $$;\n"
    )
    add_migration(migrations, "0004_shadow.sql", SHADOW + stored)
    assert nyxops("lint", str(migrations / "0004_shadow.sql"), env=env).code == 0
    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    last = [s for s in plan["statements"] if s["file"] == "0004_shadow.sql"][-1]
    assert str(last["refused"]).startswith("apply would refuse, no allowed statement says so: stored search_path=")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "from its next connection the app's unqualified names may mean other tables" in result.output
    assert scalar(db_url, "SELECT count(*) FROM pg_db_role_setting") == 0
    assert scalar(db_url, "SELECT to_regnamespace('shadow') IS NULL") is True


def test_an_allowed_stored_search_path_applies_and_is_no_guard_switch(env, db_url, migrations: Path) -> None:
    """Allowed, it applies; and ``protect status`` does not take a stored search_path for a switch
    that turns a guard off (it reads the stored settings with it)."""
    assert nyxops("migrate", "apply", env=env).code == 0
    name = scalar(db_url, "SELECT current_database()")
    allowed = f"-- the app moves to schema shadow, ticket 52\n-- nyxops:allow stored-search-path {name}\n"
    add_migration(
        migrations, "0004_shadow.sql", f"{SHADOW}{allowed}ALTER DATABASE {name} SET search_path = shadow, public;\n"
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM pg_db_role_setting") == 1
    assert nyxops("protect", "install", env=env).code == 0
    status = nyxops("protect", "status", env=env)
    assert status.code == 0, status.output


def _psql() -> str:
    """The psql beside the test server's postgres (pgserver ships both)."""
    import pgserver

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql")


def test_a_program_run_on_the_server_is_refused_before_anything_runs(env, db_url, migrations: Path) -> None:
    """``COPY … TO PROGRAM`` runs a shell command as the server's own user: here a psql of its own,
    whose drop commits in its session, where no tripwire, ledger or rollback of the migration
    reaches. Before the server-write rule, ``migrate apply`` said "applied" and the column was gone."""
    assert nyxops("migrate", "apply", env=env).code == 0
    drop = 'ALTER TABLE "Project" DROP COLUMN name'
    command = f"{_psql()} '{db_url}' -c '{drop}'".replace("'", "''")
    elsewhere = f"COPY (SELECT 1) TO PROGRAM '{command}';\n"
    add_migration(migrations, "0004_program.sql", "CREATE TABLE side (id int);\n" + elsewhere)
    before = snapshot(db_url)
    lint = nyxops("lint", str(migrations / "0004_program.sql"), env=env)
    assert lint.code == 1 and "server-write" in lint.stdout, lint.output
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "server-write" in result.output
    assert snapshot(db_url) == before
    assert scalar(db_url, "SELECT to_regclass('side') IS NULL") is True

    allowed = "CREATE TABLE side (id int);\n-- ticket 31: the export\n-- nyxops:allow server-write program\n"
    add_migration(migrations, "0004_program.sql", allowed + elsewhere)
    result = nyxops("migrate", "apply", env=env)
    # What an allow comment lets through runs in a session of its own: the drop is committed there
    # before the migration ends. The catalog check sees it gone and refuses the file, saying so.
    assert result.code == 1, result.output
    assert "a drop made by another session is committed there: check the table" in result.output
    assert scalar(db_url, "SELECT to_regclass('side') IS NULL") is True
    columns = "SELECT count(*) FROM information_schema.columns WHERE table_name = 'Project' AND column_name = 'name'"
    assert scalar(db_url, columns) == 0


def test_a_large_objects_removal_is_refused_and_runs_once_allowed(env, db_url, migrations: Path) -> None:
    """An ``oid`` column keeps its number when its large object is unlinked: no count of rows or
    values changes, so the static rule is what says so, before anything runs."""
    assert nyxops("migrate", "apply", env=env).code == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        oid = conn.execute("SELECT lo_from_bytea(0, 'attachment bytes')").fetchone()[0]
    cleanup = f"CREATE TABLE side (id int);\nSELECT lo_unlink({oid});\n"
    add_migration(migrations, "0004_cleanup.sql", cleanup)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "large-object" in result.output
    assert scalar(db_url, f"SELECT convert_from(lo_get({oid}), 'UTF8')") == "attachment bytes"
    assert scalar(db_url, "SELECT to_regclass('side') IS NULL") is True

    allow = "-- orphaned since ticket 12\n-- nyxops:allow large-object lo_unlink\n"
    allowed = f"CREATE TABLE side (id int);\n{allow}SELECT lo_unlink({oid});\n"
    add_migration(migrations, "0004_cleanup.sql", allowed)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, f"SELECT count(*) FROM pg_largeobject_metadata WHERE oid = {oid}") == 0


FAMILIES = (
    "CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);\n"
    "CREATE TABLE events_2019 PARTITION OF events FOR VALUES FROM ('2019-01-01') TO ('2020-01-01');\n"
    "CREATE TABLE events_2020 PARTITION OF events FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');\n"
    "INSERT INTO events VALUES (1, '2019-05-01'), (2, '2020-05-01');\n"
    "CREATE TABLE animals (id int);\n"
    "CREATE TABLE dogs () INHERITS (animals);\n"
    "INSERT INTO dogs VALUES (1), (2);\n"
    "CREATE TABLE notes (id int, body text);\n"
    "INSERT INTO notes VALUES (1, 'a'), (2, 'b');\n"
    "CREATE VIEW recent_notes AS SELECT * FROM notes WHERE id > 0;\n"
)


def test_rows_of_partitions_children_and_views_count_as_what_the_file_names(env, db_url, migrations: Path) -> None:
    """PostgreSQL counts a partitioned table's deleted rows on its partitions, and a write through an
    updatable view on its table: a cleanup that names the parent or the view names them (it was
    refused as rows lost in events_2019 before)."""
    add_migration(migrations, "0004_families.sql", FAMILIES)
    assert nyxops("migrate", "apply", env=env).code == 0
    cleanup = (
        "DELETE FROM events WHERE at < '2020-01-01';\n"
        "UPDATE animals SET id = 3 WHERE id = 1;\n"
        "UPDATE recent_notes SET body = 'c' WHERE id = 2;\n"
    )
    add_migration(migrations, "0005_cleanup.sql", cleanup)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM events_2019") == 0
    assert scalar(db_url, "SELECT count(*) FROM dogs WHERE id = 3") == 1
    assert scalar(db_url, "SELECT body FROM notes WHERE id = 2") == "c"


def test_only_the_parent_named_leaves_its_children_unexplained(env, db_url, migrations: Path) -> None:
    add_migration(migrations, "0004_families.sql", FAMILIES)
    assert nyxops("migrate", "apply", env=env).code == 0
    sneaky = (
        "UPDATE ONLY animals SET id = 0 WHERE id = -1;\n"
        "DO $$ DECLARE t text := (SELECT 'do' || 'gs'); BEGIN EXECUTE format('DELETE FROM %I WHERE id > %s', t, 0); END $$;\n"
    )
    add_migration(migrations, "0005_sneaky.sql", sneaky)
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "public.dogs: 2 rows deleted" in result.stderr
    assert snapshot(db_url) == before


def test_a_view_does_not_explain_rows_changed_under_a_protected_column(env, db_url, migrations: Path) -> None:
    """``UPDATE a_view SET embedding = <another vector>`` keeps the count of embeddings (the census
    sees nothing) and names no protected table (lint sees nothing): the ledger must refuse it."""
    add_migration(migrations, "0004_view.sql", "CREATE VIEW insights_v AS SELECT * FROM workflow_insights;\n")
    assert nyxops("migrate", "apply", env=env).code == 0
    overwrite = (
        "UPDATE insights_v SET embedding = (SELECT embedding FROM insights_v ORDER BY id DESC LIMIT 1)\n"
        "WHERE id = (SELECT min(id) FROM insights_v);\n"
    )
    add_migration(migrations, "0005_overwrite.sql", overwrite)
    assert nyxops("lint", str(migrations / "0005_overwrite.sql"), env=env).code == 0
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "public.workflow_insights: 1 rows updated" in result.stderr
    assert snapshot(db_url) == before


def _refused_at_run_time(env, db_url: str, migrations: Path, name: str, sql: str) -> tuple[str, str]:
    """``sql`` (which creates a table ``side`` first) past lint, refused by apply with nothing changed:
    apply's message on one line, and the plan's JSON."""
    add_migration(migrations, name, sql)
    assert nyxops("lint", str(migrations / name), env=env).code == 0  # lint can only warn
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert snapshot(db_url) == before and scalar(db_url, "SELECT to_regclass('side') IS NULL") is True
    return " ".join(result.stderr.split()), nyxops("migrate", "plan", "--json", env=env).stdout


PERSISTENCE = "SELECT relpersistence FROM pg_class WHERE oid = 'public.workflow_insights'::regclass"


def test_a_table_made_unlogged_is_refused_however_it_is_written(env, db_url, migrations: Path) -> None:
    """Nothing is lost when the table turns unlogged: the next crash empties it. No count of rows
    or values can say so, only the static rule and the ledger's ``relpersistence``."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations, "0004_fast.sql", "CREATE TABLE side (id int);\nALTER TABLE workflow_insights SET UNLOGGED;\n"
    )
    written = nyxops("migrate", "apply", env=env)
    assert written.code == 1 and "[set-unlogged] public.workflow_insights" in written.output, written.output

    built = (  # named by a read too: the ledger's rows-and-rewrites check explains what the file names
        "CREATE TABLE side (id int);\nSELECT count(*) FROM workflow_insights;\n"
        "DO $$ DECLARE t text := (SELECT 'workflow' || '_insights'); BEGIN EXECUTE format('ALTER TABLE %I SET UNLOGGED', t);"
        " END $$;\n"
    )
    said, plan = _refused_at_run_time(env, db_url, migrations, "0004_fast.sql", built)
    assert "0004_fast.sql lost no row today, but: public.workflow_insights made unlogged" in said
    assert (
        scalar(db_url, PERSISTENCE) == "p" and scalar(db_url, "SELECT count(embedding) FROM workflow_insights") == 382
    )
    assert "apply would refuse, no allowed statement says so: public.workflow_insights made unlogged" in plan


def test_a_table_of_throwaway_data_is_made_unlogged_once_allowed(env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_cache.sql", "CREATE TABLE cache (k text PRIMARY KEY, v text);\n")
    assert nyxops("migrate", "apply", env=env).code == 0
    allowed = "-- rebuilt from the API on a miss\n-- nyxops:allow set-unlogged public.cache\nALTER TABLE cache SET UNLOGGED;\n"
    add_migration(migrations, "0005_cache_unlogged.sql", allowed)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT relpersistence FROM pg_class WHERE oid = 'public.cache'::regclass") == "u"


def test_a_partition_detached_however_it_is_written_is_refused_until_allowed(env, db_url, migrations: Path) -> None:
    """The rows stay in the partition, but the parent the app reads no longer shows them."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_families.sql", FAMILIES)
    assert nyxops("migrate", "apply", env=env).code == 0
    built = (
        "CREATE TABLE side (id int);\nSELECT count(*) FROM events;\n"
        "DO $$ DECLARE p text := (SELECT 'events_' || '2019'); c text := (SELECT 'd' || 'ogs'); BEGIN EXECUTE format('ALTER TABLE events DETACH PARTITION %I', p);"
        " EXECUTE format('ALTER TABLE %I NO INHERIT animals', c); END $$;\n"
    )
    said, plan = _refused_at_run_time(env, db_url, migrations, "0005_archive.sql", built)
    assert "public.events_2019 detached from public.events (every query of it misses these rows)" in said
    assert "public.dogs detached from public.animals" in said and scalar(db_url, "SELECT count(*) FROM events") == 2
    assert "apply would refuse, no allowed statement says so: public.dogs detached from public.animals" in plan

    allowed = "-- moved to cold storage\n-- nyxops:allow detach-partition public.events_2019\n"
    add_migration(migrations, "0005_archive.sql", allowed + "ALTER TABLE events DETACH PARTITION events_2019;\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert (
        scalar(db_url, "SELECT count(*) FROM events") == 1 and scalar(db_url, "SELECT count(*) FROM events_2019") == 1
    )


TWO_EVENTS = (
    "CREATE SCHEMA audit;\n"
    "CREATE TABLE events (id int PRIMARY KEY, note text);\n"
    "CREATE TABLE audit.events (id int PRIMARY KEY, note text);\n"
    "INSERT INTO events SELECT g, 'app' FROM generate_series(1, 5) g;\n"
    "INSERT INTO audit.events SELECT g, 'trail' FROM generate_series(1, 7) g;\n"
    "CREATE FUNCTION tidy() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM audit.events WHERE id > 0; END $$;\n"
)


def test_a_table_named_bare_explains_only_the_schemas_the_name_can_reach(env, db_url, migrations: Path) -> None:
    """``UPDATE events`` names ``public.events``, not every table called ``events``: a function the
    file did not create emptied ``audit.events`` and apply committed, the bare name taken for both."""
    add_migration(migrations, "0004_events.sql", TWO_EVENTS)
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0005_tidy.sql", "UPDATE events SET note = 'seen' WHERE id = 1;\nSELECT tidy();\n")
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "audit.events: 7 rows deleted" in result.stderr
    assert snapshot(db_url) == before and scalar(db_url, "SELECT count(*) FROM audit.events") == 7
    plan = nyxops("migrate", "plan", "--json", env=env)
    assert "apply would refuse" in plan.stdout and "audit.events: 7 rows deleted" in plan.stdout


READ_ONLY = {
    "a SELECT": "SELECT count(*) FROM audit.events;\nSELECT tidy();\n",
    "a LOCK": "LOCK TABLE audit.events IN SHARE MODE;\nSELECT tidy();\n",
    "an index": "CREATE INDEX events_note ON audit.events (note);\nSELECT tidy();\n",
    "a subquery of a write elsewhere": (
        "UPDATE events SET note = 'seen' WHERE id IN (SELECT id FROM audit.events);\nSELECT tidy();\n"
    ),
}


@pytest.mark.parametrize("way", sorted(READ_ONLY))
def test_a_table_the_file_only_reads_does_not_explain_its_lost_rows(way: str, env, db_url, migrations: Path) -> None:
    """A read is not a write: ``SELECT count(*) FROM audit.events`` then a call of a function the
    file did not create, which emptied ``audit.events``, committed (the table counted as named)."""
    add_migration(migrations, "0004_events.sql", TWO_EVENTS)
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0005_read.sql", READ_ONLY[way])
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "audit.events: 7 rows deleted" in result.stderr
    assert snapshot(db_url) == before


PATH_SET = {
    "SET search_path earlier in the file": (
        "SET search_path = audit, public;\nDELETE FROM events WHERE id = 1;\nSET search_path = public;\n"
    ),
    "a function's own SET search_path": (
        "CREATE FUNCTION purge_audit() RETURNS void LANGUAGE sql SET search_path = audit\n"
        "AS $$ DELETE FROM events WHERE id = 1 $$;\nSELECT purge_audit();\n"
    ),
    "set_config of a value computed at run time (the session's path at the check)": (
        "SELECT set_config('search_path', lower('AUDIT'), true);\nDELETE FROM events WHERE id = 1;\n"
    ),
}


@pytest.mark.parametrize("way", sorted(PATH_SET))
def test_a_bare_name_explains_the_table_the_files_path_reaches(way: str, env, db_url, migrations: Path) -> None:
    add_migration(migrations, "0004_events.sql", TWO_EVENTS)
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0005_audit.sql", PATH_SET[way])
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM audit.events") == 6
    assert scalar(db_url, "SELECT count(*) FROM public.events") == 5
