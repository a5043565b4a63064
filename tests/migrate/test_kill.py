"""The runner killed with SIGKILL in the middle of a file, then run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from tests.helpers import REPO, add_migration, nyxops, scalar


def _start_and_kill_during_sleep(env: dict[str, str], db_url: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nyxops", "migrate", "apply"],
        env={**os.environ, **env},
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%pg_sleep(30)%%' AND pid <> pg_backend_pid()"
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
        "SELECT pg_sleep(30) WHERE NOT EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'resume_ok');\n"
        "INSERT INTO half_done VALUES (2);\n",
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
        "SELECT pg_sleep(30) WHERE NOT EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'resume_ok');\n"
        "INSERT INTO runs VALUES (2);\n",
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
