"""The runner killed with SIGKILL in the middle of a file, then run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import TEMPLATE
from tests.helpers import REPO, Result, add_migration, nyxops, scalar, snapshot

_UNTIL_RESUMED = "SELECT pg_sleep(30) WHERE NOT EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'resume_ok');\n"
"""Where a test kills the runner (``_start_and_kill_during_sleep``): it returns at once on the re-run."""
_STOP_THEN_PURGE = (
    _UNTIL_RESUMED
    + "CREATE INDEX CONCURRENTLY wi_title_idx ON workflow_insights (title);\n"
    + "DELETE FROM events WHERE id > 1;\n"
)
"""A journaled file's stop, then a DELETE of ``events`` that must read the table the file meant."""


def _runner(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``migrate apply`` in a child process, as an operator starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "nyxops", "migrate", "apply"],
        env={**os.environ, **env},
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )


def _start_and_kill_during_sleep(env: dict[str, str], db_url: str, waiting_on: str = "%%pg_sleep(30)%%") -> None:
    proc = _runner(env)
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND wait_event = 'PgSleep'"
                    " AND pid <> pg_backend_pid()",
                    (waiting_on,),
                ).fetchone()
                if row and row[0]:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the runner never reached the sleeping statement")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _wait_for_lock_release(db_url: str) -> None:
    """The server notices the dead client within client_connection_check_interval (1 s)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if scalar(db_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0:
            return
        time.sleep(0.2)
    raise AssertionError("the killed runner's session never ended")


def test_killed_mid_transactional_file_leaves_nothing_then_rerun_applies(env, db_url, migrations: Path) -> None:
    add_migration(
        migrations,
        "0004_slow.sql",
        "CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\n"
        + _UNTIL_RESUMED
        + "INSERT INTO half_done VALUES (2);\n",
    )
    _start_and_kill_during_sleep(env, db_url)
    _wait_for_lock_release(db_url)
    assert scalar(db_url, "SELECT to_regclass('half_done') IS NULL") is True
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations") == 3  # 0001..0003 committed
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE resume_ok ()")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT string_agg(id::text, ',' ORDER BY id) FROM half_done") == "1,2"
    assert scalar(db_url, "SELECT count(embedding) FROM workflow_insights") == 382


def test_killed_mid_journaled_file_resumes_at_first_statement_not_done(env, db_url, migrations: Path) -> None:
    add_migration(
        migrations,
        "0004_concurrent.sql",
        "CREATE TABLE runs (n int);\n"
        "INSERT INTO runs VALUES (1);\n"
        "CREATE INDEX CONCURRENTLY wi_title_idx ON workflow_insights (title);\n"
        + _UNTIL_RESUMED
        + "INSERT INTO runs VALUES (2);\n",
    )
    _start_and_kill_during_sleep(env, db_url)
    _wait_for_lock_release(db_url)
    assert scalar(db_url, "SELECT count(*) FROM nyxops.journal WHERE version = '0004'") == 3
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations WHERE version = '0004'") == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE resume_ok ()")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert "resumed at statement 4" in result.output
    assert scalar(db_url, "SELECT string_agg(n::text, ',' ORDER BY n) FROM runs") == "1,2"  # 1 not inserted twice
    assert scalar(db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'wi_title_idx'::regclass") is True
    assert scalar(db_url, "SELECT count(*) FROM nyxops.journal") == 0
    assert scalar(db_url, "SELECT statements FROM nyxops.schema_migrations WHERE version = '0004'") == 5


def test_killed_after_the_index_was_built_but_before_its_journal_mark(env, db_url, migrations: Path) -> None:
    """The window between CREATE INDEX CONCURRENTLY and its journal mark, opened on purpose.

    A trigger on the journal holds the mark of statement 2 (the index) in a sleep; the runner is
    killed there, so the server has finished the index and the journal does not know it. The re-run
    must see the valid index in the catalog and go on, not fail with "already exists" for good.
    """
    assert nyxops("migrate", "apply", env=env).code == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION hold_mark() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.statement = 1 THEN PERFORM pg_sleep(60); END IF; RETURN NEW; END $$"
        )
        conn.execute("CREATE TRIGGER hold BEFORE INSERT ON nyxops.journal FOR EACH ROW EXECUTE FUNCTION hold_mark()")
    add_migration(
        migrations,
        "0004_index.sql",
        "CREATE TABLE runs (n int);\n"
        "CREATE INDEX CONCURRENTLY wi_title_idx ON workflow_insights (title);\n"
        "INSERT INTO runs VALUES (2);\n",
    )
    _start_and_kill_during_sleep(env, db_url, "%INSERT INTO nyxops.journal%")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE '%INSERT INTO nyxops.journal%' AND pid <> pg_backend_pid()"
        )
    _wait_for_lock_release(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER hold ON nyxops.journal")
    assert scalar(db_url, "SELECT count(*) FROM nyxops.journal WHERE version = '0004'") == 1  # only statement 1
    assert scalar(db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'wi_title_idx'::regclass") is True
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert "wi_title_idx exists and is valid" in result.output
    assert scalar(db_url, "SELECT string_agg(n::text, ',') FROM runs") == "2"
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations WHERE version = '0004'") == 1


def test_a_build_that_fails_on_an_old_snapshot_is_rebuilt_not_recorded_as_done(env, db_url, migrations: Path) -> None:
    """An old snapshot held during the build: the lock timeout leaves an INVALID index behind.

    ``IF NOT EXISTS`` would skip it on the re-run and record a useless index as applied; status
    and verify must show it, and the re-run must drop it and build it again.
    """
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0004_index.sql",
        "CREATE TABLE runs (n int);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS wi_title_idx ON workflow_insights (title);\n"
        "INSERT INTO runs VALUES (2);\n",
    )
    fast = {**env, "NYXOPS_LOCK_TIMEOUT": "1s"}
    with psycopg.connect(db_url) as holder:
        holder.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        holder.execute("SELECT 1").fetchone()  # a snapshot the concurrent build must wait for
        failed = nyxops("migrate", "apply", env=fast)
        holder.rollback()
    assert failed.code == 1
    assert "statement 1 is committed, statement 2 and those after it are not" in failed.stderr
    assert "rolled back: the database is as it was" not in failed.stderr
    assert scalar(db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'wi_title_idx'::regclass") is False

    status = nyxops("migrate", "status", env={**env, "COLUMNS": "200"})
    assert status.code == 1 and "invalid-index" in status.stdout and "public.wi_title_idx" in status.stdout
    verify = nyxops("verify", "--only", "migrations", env=env)
    assert verify.code == 1 and "INVALID index public.wi_title_idx" in verify.stdout

    result = nyxops("migrate", "apply", env=fast)
    assert result.code == 0, result.output
    assert "left INVALID by a failed build: dropped, building it again" in result.output
    assert scalar(db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'wi_title_idx'::regclass") is True
    assert nyxops("migrate", "status", env=env).code == 0


KILL_LOOP_FILE = (
    "CREATE TABLE runs (n int);\n"
    "INSERT INTO runs SELECT g FROM generate_series(1, 200) g;\n"
    "SELECT pg_sleep(0.15);\n"
    "CREATE INDEX CONCURRENTLY wi_title_idx ON workflow_insights (title);\n"
    "SELECT pg_sleep(0.15);\n"
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS runs_n_idx ON runs (n);\n"
    "UPDATE runs SET n = n + 1000 WHERE n <= 100;\n"
    "SELECT pg_sleep(0.15);\n"
    "CREATE INDEX CONCURRENTLY wi_created_idx ON workflow_insights (created_at);\n"
    "INSERT INTO runs VALUES (0);\n"
)
INDEX_STATE = (
    "SELECT string_agg(c.relname || '=' || i.indisvalid, ',' ORDER BY c.relname) FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
)


def _killed_at(env: dict[str, str], delay: float) -> None:
    proc = _runner(env)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_random_kills_of_a_journaled_file_end_like_a_clean_apply(env, db_url, migrations: Path, pg_server) -> None:
    """Killed at random points (seeded, bounded rounds), then re-run: the same schema, data and index validity."""
    import random
    import uuid

    from psycopg import sql

    from nyxops.names import with_database

    add_migration(migrations, "0004_journaled.sql", KILL_LOOP_FILE)
    assert nyxops("migrate", "apply", env=env).code == 0
    clean = (snapshot(db_url), scalar(db_url, INDEX_STATE), scalar(db_url, "SELECT sum(n) FROM runs"))
    assert "wi_title_idx=true" in clean[1]
    rng = random.Random(20261201)
    for round_no in range(6):
        name = "k_" + uuid.uuid4().hex[:10]
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(TEMPLATE))
            )
        url = with_database(pg_server, name)
        try:
            round_env = {**env, "DATABASE_URL": url}
            for _ in range(rng.randint(1, 3)):
                _killed_at(round_env, rng.uniform(0.3, 2.5))
                _wait_for_lock_release(url)
            result = nyxops("migrate", "apply", env=round_env)
            assert result.code == 0, f"round {round_no}: {result.output}"
            got = (snapshot(url), scalar(url, INDEX_STATE), scalar(url, "SELECT sum(n) FROM runs"))
            assert got == clean, f"round {round_no}: {got} != {clean}"
        finally:
            with psycopg.connect(pg_server, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_detach_stopped_between_its_two_transactions_is_finished_on_the_rerun(env, db_url, migrations: Path) -> None:
    """``DETACH PARTITION … CONCURRENTLY`` commits the partition as "pending detach", then waits for
    every older reader of the parent. Stopped there (here by the lock timeout, behind a long read),
    it leaves the partition pending, and the statement itself fails from then on; the re-run
    finishes the detach instead."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0004_events.sql",
        "CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);\n"
        "CREATE TABLE events_2019 PARTITION OF events FOR VALUES FROM ('2019-01-01') TO ('2020-01-01');\n"
        "CREATE TABLE events_2020 PARTITION OF events FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');\n"
        "INSERT INTO events VALUES (1, '2019-05-01'), (2, '2020-05-01');\n",
    )
    assert nyxops("migrate", "apply", env=env).code == 0
    detach = "-- archived: read from events_2019 directly\n-- nyxops:allow detach-partition public.events_2019\n"
    add_migration(
        migrations, "0005_detach.sql", detach + "ALTER TABLE events DETACH PARTITION events_2019 CONCURRENTLY;\n"
    )
    pending = (
        "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = 'events_2019'::regclass"
        " AND inhparent = 'events'::regclass"
    )
    with psycopg.connect(db_url) as reader:
        reader.execute("SELECT count(*) FROM events")  # a transaction still open, reading the parent
        stopped = nyxops("migrate", "apply", env={**env, "NYXOPS_LOCK_TIMEOUT": "1s"})
        assert stopped.code != 0, stopped.output
        assert "detached for good, with FINALIZE" in " ".join(stopped.stderr.split())
        reader.rollback()
    assert scalar(db_url, pending) is True
    status = nyxops("migrate", "status", env=env)
    assert status.code == 1 and "pending-detach" in status.stdout and "public.events_2019" in status.stdout
    with psycopg.connect(db_url, autocommit=True) as conn:
        try:  # what the statement itself does on a plain re-run
            conn.execute("ALTER TABLE events DETACH PARTITION events_2019 CONCURRENTLY")
            raise AssertionError("PostgreSQL ran the detach again")
        except psycopg.errors.ObjectNotInPrerequisiteState as exc:
            assert "pending detach" in str(exc)

    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert "left pending by an interrupted run: finished it (FINALIZE)" in " ".join(result.output.split())
    assert scalar(db_url, "SELECT count(*) FROM pg_inherits WHERE inhrelid = 'events_2019'::regclass") == 0
    assert (
        scalar(db_url, "SELECT count(*) FROM events_2019") == 1 and scalar(db_url, "SELECT count(*) FROM events") == 1
    )
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations WHERE version = '0005'") == 1


_APP_EVENTS = "CREATE SCHEMA app;\nCREATE TABLE app.events AS SELECT i AS id FROM generate_series(1, 5) i;\n"
_PATH_IN_A_DO_BLOCK = "DO $$ BEGIN PERFORM set_config('search_path', 'app, public', false); END $$;\n"


def _app_events(env: dict[str, str], db_url: str) -> None:
    """The repository's files applied, and a table of the app's, ``public.events``, with 5 rows."""
    assert nyxops("migrate", "apply", env=env).code == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.events (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO public.events SELECT i, 'kept ' || i FROM generate_series(1, 5) i")


def _killed_then_resumed(env: dict[str, str], db_url: str, *, done: int, kept: bool = True) -> Result:
    """apply killed in the file's ``pg_sleep`` with ``done`` statements journaled, then run again;
    ``kept=False``: as if the journal had not kept the session's settings (an older nyxops's)."""
    _start_and_kill_during_sleep(env, db_url)
    _wait_for_lock_release(db_url)
    assert scalar(db_url, "SELECT count(*) FROM nyxops.journal WHERE version = '0004' AND naming IS NOT NULL") == done
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE resume_ok ()")
        if not kept:
            conn.execute("UPDATE nyxops.journal SET naming = NULL")
    return nyxops("migrate", "apply", env=env)


def test_a_resumed_journaled_file_runs_with_the_settings_its_done_statements_made(
    env, db_url, migrations: Path
) -> None:
    """A journaled file's ``SET search_path = app, public`` is committed and journaled as done; the
    run killed after it and resumed in a new session skipped it, so the file's later statements
    read ``events`` as ``public.events``: its index went on the wrong table and its DELETE, meant
    for the file's scratch table ``app.events``, emptied the app's. The resumed run sets again what
    the done statements set (SET, RESET, constant set_config: idempotent), in their order."""
    _app_events(env, db_url)
    add_migration(
        migrations,
        "0004_scratch.sql",
        "CREATE SCHEMA app;\n"
        "CREATE TABLE app.events (id int PRIMARY KEY, note text);\n"
        "INSERT INTO app.events SELECT i, 'scratch ' || i FROM generate_series(1, 5) i;\n"
        "SET search_path = app, public;\n"
        + _UNTIL_RESUMED
        + "CREATE INDEX CONCURRENTLY events_note ON events (note);\n"
        "DELETE FROM events WHERE id > 1;\n",
    )
    result = _killed_then_resumed(env, db_url, done=4)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM public.events") == 5
    assert scalar(db_url, "SELECT count(*) FROM app.events") == 1
    assert scalar(db_url, "SELECT 'app.events_note'::regclass IS NOT NULL") is True
    assert scalar(db_url, "SELECT to_regclass('public.events_note')") is None


def test_an_invalid_index_is_found_in_its_tables_schema_not_the_first_on_the_path(
    env, db_url, migrations: Path
) -> None:
    """An index goes in its table's schema. The re-run looked for the one a failed build left
    INVALID in the first schema of the file's ``search_path`` (``app``), found none there, and
    ``IF NOT EXISTS`` then skipped the useless ``public.wi_title_idx`` and recorded it as applied."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0004_index.sql",
        "CREATE SCHEMA app;\n"
        "SET search_path = app, public;\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS wi_title_idx ON workflow_insights (title);\n",
    )
    with psycopg.connect(db_url) as holder:
        holder.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        holder.execute("SELECT 1").fetchone()  # a snapshot the concurrent build must wait for
        failed = nyxops("migrate", "apply", env={**env, "NYXOPS_LOCK_TIMEOUT": "1s"})
        holder.rollback()
    assert failed.code == 1, failed.output
    assert scalar(db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.wi_title_idx'::regclass") is False
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert "public.wi_title_idx was left INVALID by a failed build" in result.output
    assert scalar(db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.wi_title_idx'::regclass") is True


def test_a_resumed_journaled_file_without_its_temp_table_is_refused(env, db_url, migrations: Path) -> None:
    """A TEMP table ends with the session, and the rows the done statements put in it with it: it is
    not made again. The resumed DELETE read ``events`` as the app's ``public.events``, and apply
    committed it (the ledger takes an unqualified name for any table of that name). The resume is
    refused before it runs anything, and says how to get out."""
    _app_events(env, db_url)
    add_migration(
        migrations,
        "0004_scratch.sql",
        "CREATE TEMP TABLE events (id int PRIMARY KEY, note text);\n"
        "INSERT INTO events SELECT i, 'scratch ' || i FROM generate_series(1, 5) i;\n" + _STOP_THEN_PURGE,
    )
    result = _killed_then_resumed(env, db_url, done=2)
    assert result.code == 1, result.output
    assert (
        "0004_scratch.sql cannot be resumed: its statement 1 made the TEMP table events, which ended with the session "
        "of the run that stopped"
    ) in result.stderr, result.stderr
    assert "statement 5 names events" in result.stderr and "nyxops db restore" in result.stderr
    assert scalar(db_url, "SELECT count(*) FROM public.events") == 5
    assert scalar(db_url, "SELECT to_regclass('wi_title_idx')") is None  # nothing after the done statements ran


def test_a_resume_after_a_path_set_inside_a_do_block_is_refused_without_the_journals_record(
    env, db_url, migrations: Path
) -> None:
    """A path set inside a DO block cannot be made again from the statement (the block may do
    anything else too), and a journal without the session's settings after it (an older nyxops's)
    cannot say it: the resumed DELETE would read ``events`` as the app's ``public.events``.
    Refused, every row stays."""
    _app_events(env, db_url)
    add_migration(
        migrations,
        "0004_scratch.sql",
        _APP_EVENTS + _PATH_IN_A_DO_BLOCK + _STOP_THEN_PURGE,
    )
    result = _killed_then_resumed(env, db_url, done=3, kept=False)
    assert result.code == 1, result.output
    assert "0004_scratch.sql cannot be resumed: its statement 3 set search_path in a way nyxops cannot" in (
        result.stderr
    )
    assert scalar(db_url, "SELECT count(*) FROM public.events") == 5


KEPT_PATHS = {  # what sets the path, done statements, then rows left in public.events and app.events
    "by a function the file calls": (
        "CREATE FUNCTION use_app() RETURNS text LANGUAGE sql AS $$ SELECT set_config('search_path', 'app, public', false) $$;\n"
        "SELECT use_app();\n",
        4,
        (5, 1),
    ),
    "inside a DO block": (_PATH_IN_A_DO_BLOCK, 3, (5, 1)),
    "for its statement's transaction only": ("SELECT set_config('search_path', 'app, public', true);\n", 3, (1, 5)),
}


@pytest.mark.parametrize("setter,done,left", KEPT_PATHS.values(), ids=KEPT_PATHS.keys())
def test_a_resume_starts_from_the_path_the_stopped_run_had(
    setter: str, done: int, left: tuple[int, int], env, db_url, migrations: Path
) -> None:
    """A path set where no statement shows it (``SELECT use_app()``, a function nyxops does not
    read): the resumed run, in a new session, read ``events`` as the app's ``public.events`` and its
    DELETE, meant for the file's ``app.events``, emptied the app's; apply committed it. The journal
    keeps the path (and role) the session had after each done statement, read after its commit, so a
    path set for one transaction only (``set_config(…, true)``) is not kept: the stopped run read
    ``public.events`` after it, and so does the resumed one."""
    _app_events(env, db_url)
    add_migration(migrations, "0004_scratch.sql", _APP_EVENTS + setter + _STOP_THEN_PURGE)
    result = _killed_then_resumed(env, db_url, done=done)
    assert result.code == 0, result.output
    if left == (5, 1):
        assert "search_path as the stopped run left it: app, public" in result.output
    assert scalar(db_url, "SELECT count(*) FROM public.events") == left[0]
    assert scalar(db_url, "SELECT count(*) FROM app.events") == left[1]


@pytest.mark.parametrize(
    "switch",
    [
        "DO $$ BEGIN EXECUTE 'SET ROLE app_owner'; END $$",
        "DO $$ BEGIN EXECUTE 'SET SESSION AUTHORIZATION app_owner'; END $$",
    ],
    ids=["role", "session user"],
)
def test_a_resume_runs_as_the_role_the_done_statements_set(switch: str, env, db_url, migrations: Path) -> None:
    """The role (or session user) a done DO block set, read back from the journal: the resumed
    run's table is the app role's, as in a run that was never stopped."""
    assert nyxops("migrate", "apply", env=env).code == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN CREATE ROLE app_owner NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        conn.execute("GRANT CREATE ON SCHEMA public TO app_owner")
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO app_owner")
    add_migration(
        migrations,
        "0004_owned.sql",
        "SELECT 1;\n"
        + switch
        + ";\nCREATE TABLE early (id int);\n"
        + _UNTIL_RESUMED
        + "CREATE INDEX CONCURRENTLY early_id ON early (id);\nCREATE TABLE owned (id int);\n",
    )
    result = _killed_then_resumed(env, db_url, done=3)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT tableowner::text FROM pg_tables WHERE tablename = 'owned'") == "app_owner"
