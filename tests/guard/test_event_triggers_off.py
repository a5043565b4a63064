"""PostgreSQL 17's ``event_triggers = off``, tried by reviewed migrations on a real PostgreSQL 18;
and the whole guard on that server.

The setting switches every event trigger off for the session, ``ENABLE ALWAYS`` ones too: the
tripwire with them. Each migration here gets past lint (its setting and its drop are built at run
time, so lint can only warn) and must be refused by ``migrate apply`` with every row and column
intact; a session that starts with the setting off runs nothing at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.helpers import add_migration, nyxops, scalar, snapshot

OFF = "EXECUTE 'SET LOCAL ' || s || ' = off';"
ON = "EXECUTE 'SET LOCAL ' || s || ' = on';"
DROP_CONTENT = "EXECUTE format('ALTER TABLE %I DROP COLUMN %I', 'workflow_insights', c);"
DROP_NOTES = "EXECUTE 'DROP TABLE ' || quote_ident(t);"


def _dynamic(*steps: str) -> str:
    """A DO block whose names the server computes at run time (a variable declared with literals
    alone would be folded, and lint would refuse the statement outright)."""
    return (
        "DO $$ DECLARE s text := (SELECT 'event_' || 'triggers'); c text := (SELECT 'content');\n"
        "    t text := (SELECT 'notes');\n"
        f"BEGIN\n    {' '.join(steps)}\nEND $$;\n"
    )


UNSEEN = "without its event trigger seeing it"
WAYS = {  # the file, what apply says, what plan says
    "switched off, a column dropped": (
        _dynamic(OFF, DROP_CONTENT),
        "its event trigger was switched off",
        "apply would refuse the file, which left every event trigger switched off (event_triggers = off); dropped"
        " 1 column(s) of table public.workflow_insights without the tripwire seeing it",
    ),
    "switched off and on again around the drop": (
        _dynamic(OFF, DROP_CONTENT, ON),
        "dropped 1 column(s) of table public.workflow_insights " + UNSEEN,
        "apply would refuse the file, which dropped 1 column(s) of table public.workflow_insights without the"
        " tripwire seeing it",
    ),
    "a table dropped between off and on": (
        _dynamic(OFF, DROP_NOTES, ON),
        "dropped table public.notes " + UNSEEN,
        "apply would refuse the file, which dropped table public.notes without the tripwire seeing it",
    ),
    "stored for the database, for every later session": (
        "DO $$ DECLARE s text := (SELECT 'event_' || 'triggers'); BEGIN\n"
        "    EXECUTE format('ALTER DATABASE %I SET %s = off', current_database(), s); END $$;\n",
        "stored event_triggers=off for every later session of database",
        "apply would refuse, nyxops' guards or records switched off or rewritten: stored event_triggers=off",
    ),
}


def test_the_server_is_postgresql_18_and_the_setting_really_switches_event_triggers_off(server18: str) -> None:
    """What the other tests guard against, shown on the server itself: an ENABLE ALWAYS event
    trigger that refuses every drop lets one through once ``event_triggers`` is off."""
    assert int(scalar(server18, "SHOW server_version_num")) >= 180000
    with psycopg.connect(server18) as conn:
        conn.execute("CREATE TABLE t (id int, gone text)")
        conn.execute(
            "CREATE FUNCTION no_drops() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN RAISE 'no drops'; END$$"
        )
        conn.execute("CREATE EVENT TRIGGER no_drops ON sql_drop EXECUTE FUNCTION no_drops()")
        conn.execute("ALTER EVENT TRIGGER no_drops ENABLE ALWAYS")
        with pytest.raises(psycopg.errors.RaiseException), conn.transaction():
            conn.execute("ALTER TABLE t DROP COLUMN gone")
        conn.execute("SET LOCAL event_triggers = off")
        conn.execute("ALTER TABLE t DROP COLUMN gone")
        assert conn.execute(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'gone'"
        ).fetchone() == (0,)
        conn.rollback()


@pytest.mark.parametrize("way", sorted(WAYS))
def test_a_migration_cannot_switch_event_triggers_off(way: str, pg18: tuple[str, Path, dict[str, str]]) -> None:
    url, folder, env = pg18
    text, message, planned = WAYS[way]
    add_migration(folder, "0002_sneaky.sql", "CREATE TABLE side (id int);\n" + text)
    assert nyxops("lint", str(folder / "0002_sneaky.sql"), env=env).code == 0  # lint can only warn
    before = snapshot(url)
    plan = nyxops("migrate", "plan", "--json", env=env)
    [refused] = [s["refused"] for s in json.loads(plan.stdout)["statements"] if s["refused"]]
    assert refused.startswith(planned), refused
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert message in result.stderr
    assert snapshot(url) == before
    assert scalar(url, "SELECT count(content) FROM workflow_insights") == 50
    assert scalar(url, "SELECT count(*) FROM notes") == 20
    assert scalar(url, "SELECT to_regclass('side') IS NULL") is True
    assert scalar(url, "SELECT count(*) FROM pg_db_role_setting") == 0
    assert scalar(url, "SELECT count(*) FROM nyxops.schema_migrations") == 1


def test_written_as_a_statement_lint_refuses_it(pg18: tuple[str, Path, dict[str, str]]) -> None:
    _, folder, env = pg18
    path = add_migration(
        folder, "0002_off.sql", "SET LOCAL event_triggers = off;\nALTER TABLE notes DROP COLUMN body;\n"
    )
    result = nyxops("lint", str(path), env=env)
    assert result.code == 1
    assert "guard-tamper" in result.output and "event_triggers" in result.output


def test_a_session_that_starts_with_event_triggers_off_runs_nothing(pg18: tuple[str, Path, dict[str, str]]) -> None:
    """Off in the connection's options (or stored for the role): no statement runs unguarded."""
    url, folder, env = pg18
    add_migration(folder, "0002_harmless.sql", "CREATE TABLE harmless (id int);\n")
    off = {**env, "DATABASE_URL": url + "&options=-c%20event_triggers%3Doff"}
    for command in ("apply", "plan"):
        result = nyxops("migrate", command, env=off)
        assert result.code == 1, result.output
        assert "event triggers are switched off in this session" in result.stderr
    assert scalar(url, "SELECT to_regclass('harmless') IS NULL") is True
    assert nyxops("migrate", "apply", env=env).code == 0  # the same file, the setting gone
    assert scalar(url, "SELECT to_regclass('harmless') IS NOT NULL") is True


def test_an_ordinary_migration_applies_on_postgresql_18(pg18: tuple[str, Path, dict[str, str]]) -> None:
    """Drops the file allows, the tripwire sees and records: the catalog's account matches it."""
    url, folder, env = pg18
    add_migration(
        folder,
        "0002_tidy.sql",
        "-- nyxops:allow drop-column public.notes.body\nALTER TABLE notes DROP COLUMN body;\n"
        "CREATE TABLE scratch (id int, x int);\nALTER TABLE scratch DROP COLUMN x;\nDROP TABLE scratch;\n",
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(url, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'notes'") == 1
    assert scalar(url, "SELECT count(content) FROM workflow_insights") == 50


def test_protect_status_names_event_triggers_stored_off(pg18: tuple[str, Path, dict[str, str]]) -> None:
    """The incident's drop, by any client, once ``event_triggers = off`` is stored for the database:
    protect cannot refuse it there, so status says so and exits 1."""
    url, _, env = pg18
    assert nyxops("protect", "install", env=env).code == 0
    assert nyxops("protect", "status", env=env).code == 0
    database = scalar(url, "SELECT current_database()")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {database} SET event_triggers = off")
    status = nyxops("protect", "status", env=env)
    assert status.code == 1, status.output
    assert f"stored event_triggers=off for every later session of database {database}" in status.stdout
    with psycopg.connect(url) as conn:  # why it matters: a later session drops the protected column
        conn.execute("ALTER TABLE workflow_insights DROP COLUMN embedding")
        conn.rollback()
        conn.execute("SET event_triggers = on")
        with pytest.raises(psycopg.errors.RaiseException, match="refusing to drop"):
            conn.execute("ALTER TABLE workflow_insights DROP COLUMN embedding")


PG18_FILE = """ALTER TABLE notes ADD CONSTRAINT notes_body_nn NOT NULL body;
CREATE TABLE calc (a int, b int GENERATED ALWAYS AS (a * 2) VIRTUAL);
MERGE INTO notes n USING (VALUES (1, 'x')) v(id, body) ON n.id = v.id
    WHEN MATCHED THEN UPDATE SET body = v.body RETURNING merge_action(), n.id;
SELECT * FROM JSON_TABLE('[{"a": 1}]', '$[*]' COLUMNS (a int PATH '$.a')) jt;
UPDATE workflow_insights SET content = content || '!' WHERE id < 5 RETURNING old.content, new.content;
"""


def test_the_whole_guard_runs_on_postgresql_18(pg18: tuple[str, Path, dict[str, str]]) -> None:
    """PostgreSQL 17 and 18 syntax planned and applied (the NOT NULL constraint named, a virtual
    generated column, MERGE … RETURNING, JSON_TABLE, RETURNING old/new); then, on the same server,
    a protected value overwritten and a column dropped by dynamic SQL are refused at run time."""
    url, folder, env = pg18
    assert nyxops("protect", "install", env=env).code == 0
    add_migration(folder, "0002_pg18.sql", PG18_FILE)
    assert nyxops("lint", str(folder / "0002_pg18.sql"), env=env).code == 0
    plan = nyxops("migrate", "plan", env=env)
    assert plan.code == 0 and "public.workflow_insights: 4 rows updated" in plan.stdout, plan.output
    assert nyxops("migrate", "apply", env=env).code == 0
    assert scalar(url, "SELECT count(*) FROM workflow_insights WHERE content LIKE '%!'") == 4
    assert scalar(url, "SELECT body FROM notes WHERE id = 1") == "x"
    for name, body, message in (
        (
            "0003_overwrite.sql",
            "EXECUTE format('UPDATE %I SET embedding = NULL', t);",
            "overwrote public.workflow_insights.embedding in a row where it already held a value",
        ),
        ("0003_drop.sql", DROP_CONTENT, "table column public.workflow_insights.content would be dropped"),
    ):
        path = add_migration(folder, name, _dynamic(f"t := 'workflow_' || 'insights'; {body}"))
        before = snapshot(url)
        result = nyxops("migrate", "apply", env=env)
        assert result.code == 1 and message in result.stderr, result.output
        assert snapshot(url) == before
        path.unlink()
    assert scalar(url, "SELECT count(embedding) FROM workflow_insights") == 50
