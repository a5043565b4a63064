"""Which done statements of a journaled file a resumed run makes again: the settings, exactly."""

from __future__ import annotations

import re

import pytest

from nyxops.errors import ResumeRefused
from nyxops.migrate import resume
from nyxops.sql import parse

SET_AGAIN = [
    "SET search_path = app, public",
    "SET SESSION search_path TO app",
    "RESET search_path",
    "RESET ALL",
    "SET ROLE app_owner",
    "SET SESSION AUTHORIZATION app_owner",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "SELECT pg_catalog.set_config('search_path', '', false)",  # pg_dump's first line
    "SELECT set_config('search_path', 'app', false), set_config('lock_timeout', '1s', false)",
]
NOT_AGAIN = [
    "SET LOCAL search_path = app",  # ended with its statement's transaction
    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    "SELECT set_config('search_path', 'app', true)",  # local
    "SELECT set_config('search_path', current_setting('search_path') || ', app', false)",  # computed
    "SELECT set_config('search_path', 'app', false) FROM pg_class",  # a query, not only a setting
    "SELECT set_config('search_path', 'app', false) WHERE false",
    "SELECT set_config('search_path', NULL, false)",
    "SELECT other.set_config('search_path', 'app', false)",
    "SELECT 1",
    "DO $$ BEGIN PERFORM set_config('search_path', 'app', false); END $$",
    "SET CONSTRAINTS ALL IMMEDIATE",
    "CREATE TEMP TABLE t (id int)",
]


@pytest.mark.parametrize("sql", SET_AGAIN)
def test_a_done_setting_is_made_again(sql: str) -> None:
    statements = parse(sql + ";\nDELETE FROM events WHERE id > 1;\n")
    assert resume.settings(statements, {0}) == statements[:1]


@pytest.mark.parametrize("sql", NOT_AGAIN)
def test_anything_else_is_not_run_again(sql: str) -> None:
    assert resume.settings(parse(sql + ";\n"), {0}) == []


def test_only_the_done_statements_in_the_files_order() -> None:
    statements = parse("SET search_path = a;\nSELECT 1;\nRESET search_path;\nSET search_path = b;\n")
    assert [s.index for s in resume.settings(statements, {2, 0, 1})] == [0, 2]


_LATER = "CREATE INDEX CONCURRENTLY i ON wi (title);\n"
REFUSED = [
    "CREATE TEMP TABLE events (id int);\n" + _LATER + "DELETE FROM events WHERE id > 1;\n",
    "CREATE TEMPORARY TABLE events AS SELECT 1 AS id;\n" + _LATER + "UPDATE events SET id = 2;\n",
    "CREATE TABLE pg_temp.events (id int);\n" + _LATER + "INSERT INTO public.t SELECT * FROM events;\n",
    "CREATE TEMP VIEW events AS SELECT 1 AS id;\n"
    + _LATER
    + "DELETE FROM t USING pg_temp.events e WHERE t.id = e.id;\n",
    "CREATE TEMP TABLE events (id int);\n" + _LATER + "DO $$ BEGIN DELETE FROM events; END $$;\n",
]
RESUMED = [
    "CREATE TABLE events (id int);\n" + _LATER + "DELETE FROM events WHERE id > 1;\n",  # a permanent table stays
    "CREATE TEMP TABLE events (id int);\n" + _LATER + "DELETE FROM public.events WHERE id > 1;\n",
    "CREATE TEMP TABLE scratch (id int);\n" + _LATER + "DELETE FROM events WHERE id > 1;\n",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_a_resume_that_needs_a_temp_table_a_done_statement_made_is_refused(sql: str) -> None:
    with pytest.raises(ResumeRefused, match="cannot be resumed: its statement 1 made the TEMP table events"):
        resume.needs_lost("f.sql", parse(sql), {0, 1}, naming_kept=False)


@pytest.mark.parametrize("sql", RESUMED)
def test_a_resume_that_does_not_need_one_goes_on(sql: str) -> None:
    resume.needs_lost("f.sql", parse(sql), {0, 1}, naming_kept=False)


_MADE_DROPPED = "CREATE TEMP TABLE events (id int);\nDROP TABLE events;\n"
REFUSED_IN_ORDER = [  # (file, done statements, the statement that made the lost TEMP table)
    ("CREATE TEMP TABLE events (id int);\n" + _LATER + "DROP TABLE events;\n", 2, 1),  # the app's events
    (_MADE_DROPPED + "CREATE TEMP TABLE events (id int);\n" + _LATER + "DELETE FROM events;\n", 4, 3),
    (
        "CREATE TEMP TABLE events (id int);\n"
        + _LATER
        + "CREATE TEMP TABLE IF NOT EXISTS e2 AS SELECT * FROM events;\n",
        2,
        1,
    ),
]
RESUMED_IN_ORDER = [  # (file, done statements): the TEMP table was gone before the stop, or is made again
    (_MADE_DROPPED + _LATER + "DELETE FROM events WHERE id > 1;\n", 3),
    (
        "CREATE TEMP TABLE events (id int);\nDROP VIEW IF EXISTS x, pg_temp.events;\n"
        + _LATER
        + "DELETE FROM events;\n",
        3,
    ),
    (
        "CREATE TEMP TABLE events (id int);\n" + _LATER + "CREATE TEMP TABLE IF NOT EXISTS events (id int);\n"
        "DELETE FROM events;\n",
        2,
    ),
]


@pytest.mark.parametrize("sql,done,made", REFUSED_IN_ORDER)
def test_a_temp_table_lost_with_the_session_is_followed_in_the_file_s_order(sql: str, done: int, made: int) -> None:
    """What the done statements left is read in order (made, dropped, made again), and what the
    remaining ones name includes what a DROP drops: ``DROP TABLE events``, meant for the TEMP one,
    would drop the app's ``events`` in the resumed session."""
    with pytest.raises(ResumeRefused, match=f"its statement {made} made the TEMP table events"):
        resume.needs_lost("f.sql", parse(sql), set(range(done)), naming_kept=False)


@pytest.mark.parametrize("sql,done", RESUMED_IN_ORDER)
def test_a_temp_table_dropped_before_the_stop_or_made_again_lets_it_resume(sql: str, done: int) -> None:
    """No false refusal (a refusal leaves a restore as the only way out): a TEMP table the done
    statements dropped again, or that the resumed run makes again before naming it, is not lost."""
    resume.needs_lost("f.sql", parse(sql), set(range(done)), naming_kept=False)


_MOOD = "CREATE TYPE pg_temp.mood AS ENUM ('ok');\n"
TYPE_REFUSED = [
    _MOOD + _LATER + "CREATE TEMP TABLE t (m mood);\n",
    _MOOD + _LATER + "SELECT 'ok'::pg_temp.mood;\n",
    "CREATE DOMAIN pg_temp.mood AS text;\n" + _LATER + "INSERT INTO notes (body) SELECT 'x'::mood;\n",
    _MOOD + _LATER + "DROP TYPE mood;\n",  # the app's mood, in the resumed session
    _MOOD + _LATER + "DO $$ BEGIN PERFORM 'ok'::mood; END $$;\n",
]
TYPE_RESUMED = [  # (file, done statements)
    ("CREATE TYPE mood AS ENUM ('ok');\n" + _LATER + "SELECT 'ok'::mood;\n", 2),  # a permanent type stays
    (_MOOD + "DROP TYPE pg_temp.mood;\n" + _LATER + "SELECT 'ok'::mood;\n", 3),  # gone before the stop
    (_MOOD + _LATER + "SELECT 'ok'::public.mood;\n", 2),
    (_MOOD + _LATER + "CREATE TYPE pg_temp.mood AS ENUM ('ok');\nSELECT 'ok'::mood;\n", 2),  # made again first
]


@pytest.mark.parametrize("sql", TYPE_REFUSED)
def test_a_resume_that_needs_a_temporary_type_a_done_statement_made_is_refused(sql: str) -> None:
    statements = parse(sql)
    done = set(range(len(statements) - 1))
    with pytest.raises(ResumeRefused, match="its statement 1 made the temporary type mood, which ended"):
        resume.needs_lost("f.sql", statements, done, naming_kept=True)


@pytest.mark.parametrize("sql,done", TYPE_RESUMED)
def test_a_temporary_type_not_needed_lets_it_resume(sql: str, done: int) -> None:
    resume.needs_lost("f.sql", parse(sql), set(range(done)), naming_kept=True)


def test_a_temp_table_not_yet_made_is_made_by_the_resumed_run() -> None:
    statements = parse(_LATER + "CREATE TEMP TABLE events (id int);\nDELETE FROM events;\n")
    resume.needs_lost("f.sql", statements, {0}, naming_kept=False)


_SLEEP = "SELECT pg_sleep(30);\n"
UNREPEATABLE = [
    ("DO $$ BEGIN SET search_path = app, public; END $$", "search_path"),
    ("DO $$ BEGIN EXECUTE 'SET ROLE app_owner'; END $$", "role"),
    ("DO $$ BEGIN PERFORM set_config('search_path', 'app', false); END $$", "search_path"),
    ("SELECT set_config('search_path', current_setting('search_path') || ', app', false)", "search_path"),
    ("DO $$ BEGIN PERFORM set_config(lower('SEARCH_PATH'), 'app', false); END $$", "a setting whose name is computed"),
    ("DO $$ BEGIN RESET ALL; END $$", "every setting (RESET ALL)"),
]
REPEATABLE_OR_HARMLESS = [
    "DO $$ BEGIN SET LOCAL search_path = app; END $$",  # ended with its statement's transaction
    "DO $$ BEGIN PERFORM set_config('search_path', 'app', true); END $$",
    "DO $$ BEGIN SET statement_timeout = '5s'; END $$",  # does not change what a name means
    "SELECT set_config('search_path', 'app', false)",  # made again
    "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN SET search_path = app; END $$",  # not run
    "CREATE FUNCTION f() RETURNS void LANGUAGE sql SET search_path = app AS 'SELECT 1'",
]


@pytest.mark.parametrize(("sql", "setting"), UNREPEATABLE)
def test_a_resume_after_a_setting_that_cannot_be_made_again_is_refused(sql: str, setting: str) -> None:
    """Only where the journal did not keep the session's settings after the done statements: where
    it did, the resumed run starts from them (tests/migrate/test_kill.py)."""
    statements = parse(sql + ";\n" + _SLEEP + _LATER)
    with pytest.raises(ResumeRefused, match=f"its statement 1 set {re.escape(setting)} in a way nyxops cannot"):
        resume.needs_lost("f.sql", statements, {0, 1}, naming_kept=False)
    resume.needs_lost("f.sql", statements, {0, 1}, naming_kept=True)


@pytest.mark.parametrize("sql", REPEATABLE_OR_HARMLESS)
def test_a_resume_after_a_setting_made_again_or_harmless_goes_on(sql: str) -> None:
    resume.needs_lost("f.sql", parse(sql + ";\n" + _SLEEP + _LATER), {0, 1}, naming_kept=False)


def test_nothing_left_to_run_is_never_refused() -> None:
    statements = parse(UNREPEATABLE[0][0] + ";\n" + _LATER)
    resume.needs_lost("f.sql", statements, {0, 1}, naming_kept=False)
