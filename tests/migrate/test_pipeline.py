"""Pipelined apply (libpq pipeline mode): what must stay exact when results no longer come one round trip each."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from nyxops.config import load_settings
from nyxops.migrate.apply import apply
from tests.helpers import REPO, add_migration, nyxops, scalar


def _file_runs(migrations: Path, db_url: str, **overrides: str) -> list:
    settings = load_settings(database_url=db_url, migrations_dir=migrations, protected_columns=[], **overrides)
    return apply(settings)


def test_each_statement_keeps_its_own_duration_and_rows(env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    fast = "".join(f"INSERT INTO pipe VALUES ({i});\n" for i in range(50))
    add_migration(
        migrations,
        "0004_pipe.sql",
        "CREATE TABLE pipe (id int);\n"
        + fast
        + "SELECT pg_sleep(0.4);\n"
        + "UPDATE pipe SET id = id + 100 WHERE id < 3;\n"
        + "SELECT id FROM pipe WHERE id >= 100;\n"
        + "SELECT pg_sleep(0.25);\n",
    )
    [run] = _file_runs(migrations, db_url)
    ms = [s.ms for s in run.statements]
    rows = [s.rows for s in run.statements]
    assert [s.index for s in run.statements] == list(range(55))
    # The sleeps are where the time went, each on its own statement. A duration runs from one read of
    # the socket to the next, and a read can come a few ms late on a loaded machine (CI saw 247.9 ms for
    # the 250 ms sleep): each may come short by that much, while their sum stays whole.
    assert ms[51] >= 380 and ms[54] >= 230
    assert sum(ms) >= 650
    assert max(ms[:51]) < 200 and ms[52] < 200 and ms[53] < 200
    assert rows[1:51] == [1] * 50 and rows[52] == 3 and rows[53] == 3


def test_the_failing_statement_deep_in_a_long_file_is_named_and_nothing_commits(env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    lines = ["CREATE TABLE deep (id int PRIMARY KEY);"]
    lines += [f"INSERT INTO deep VALUES ({i});" for i in range(1, 3000)]
    lines[2345] = "INSERT INTO deep VALUES (7);"  # a duplicate key: statement 2,346 on line 2,346
    add_migration(migrations, "0004_deep.sql", "\n".join(lines) + "\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1
    assert "0004_deep.sql:2346: statement 2346 failed: duplicate key value violates unique constraint" in result.stderr
    assert "  INSERT INTO deep VALUES (7)\n" in result.stderr
    assert scalar(db_url, "SELECT to_regclass('deep') IS NULL") is True
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations") == 3
    again = nyxops("migrate", "apply", env=env)  # the connection and the lock were left clean
    assert again.code == 1 and "statement 2346 failed" in again.stderr


def test_statement_timeout_holds_for_each_statement_not_for_the_pipeline(env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_many_short.sql", "SELECT pg_sleep(0.15);\n" * 6)
    assert nyxops("migrate", "apply", env={**env, "NYXOPS_STATEMENT_TIMEOUT": "400ms"}).code == 0
    add_migration(migrations, "0005_one_long.sql", "SELECT 1;\nSELECT pg_sleep(2);\nSELECT 2;\n")
    result = nyxops("migrate", "apply", env={**env, "NYXOPS_STATEMENT_TIMEOUT": "400ms"})
    assert result.code == 1
    assert "0005_one_long.sql:2: statement 2 failed: canceling statement due to statement timeout" in result.stderr


def test_ctrl_c_in_the_middle_rolls_back_and_releases_everything(env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations, "0004_slow.sql", "CREATE TABLE slow (id int);\nINSERT INTO slow VALUES (1);\nSELECT pg_sleep(60);\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "nyxops", "migrate", "apply"],
        env={**os.environ, **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with psycopg.connect(db_url, autocommit=True) as watch:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if watch.execute("SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'").fetchone():
                break
            time.sleep(0.05)
        else:
            proc.kill()
            raise AssertionError("the slow statement never started")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert time.monotonic() - started < 10
        assert proc.returncode == 130, err.decode()
        assert watch.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()"
        ).fetchone() == (0,)
    assert scalar(db_url, "SELECT to_regclass('slow') IS NULL") is True
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations") == 3
    assert scalar(db_url, "SELECT count(*) FROM pg_event_trigger") == 0  # the migration guard went with the rollback


def test_copy_through_the_client_is_refused_before_anything_runs(env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_copy.sql", "CREATE TABLE c (id int);\nCOPY (SELECT 1) TO STDOUT;\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output  # like BEGIN in a file: a migration error, found before anything runs
    assert "0004_copy.sql:2:1: COPY … TO STDOUT in a migration file" in result.stderr
    assert "Traceback" not in result.output
    assert scalar(db_url, "SELECT to_regclass('c') IS NULL") is True


def test_text_goes_in_the_connections_encoding_or_is_refused_naming_the_statement(pg_server, tmp_path: Path) -> None:
    import uuid

    from tests.helpers import with_database

    name = "latin1_" + uuid.uuid4().hex[:8]
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    try:
        url = with_database(pg_server, name)
        folder = tmp_path / "migrations"
        folder.mkdir()
        add_migration(folder, "0001_words.sql", "CREATE TABLE words (w text);\nINSERT INTO words VALUES ('café');\n")
        env = {"DATABASE_URL": url, "NYXOPS_MIGRATIONS_DIR": str(folder), "NYXOPS_PROTECTED_COLUMNS": "[]"}
        assert nyxops("migrate", "apply", env=env).code == 0
        assert scalar(url, "SELECT w FROM words") == "café"  # é sent as LATIN1, not as two UTF-8 bytes
        add_migration(folder, "0002_euro.sql", "INSERT INTO words VALUES ('a');\nINSERT INTO words VALUES ('5 €');\n")
        result = nyxops("migrate", "apply", env=env)
        assert result.code == 1
        assert (
            "0002_euro.sql:2: statement 2 failed: its text cannot be sent in the connection's encoding" in result.stderr
        )
        assert scalar(url, "SELECT count(*) FROM words") == 1
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
