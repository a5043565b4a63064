"""A vector index on the column a backfill fills: announced, dropped and built again, and never lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg

from tests.fakes import FakeOpenAI, Faults
from tests.helpers import REPO, nyxops, scalar
from tests.test_backfill import _null_out, _provider_env

HNSW = "CREATE INDEX wi_embedding_hnsw ON workflow_insights USING hnsw (embedding vector_cosine_ops)"
VALID = (
    "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'wi_embedding_hnsw'"
)


def _index(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(HNSW)


def test_a_small_fill_keeps_the_index_and_says_what_it_costs(env, db_url) -> None:
    _index(db_url)
    _null_out(db_url, 40)  # 40 of 422 rows: below the fifth that makes a rebuild worth it
    with FakeOpenAI() as openai:
        result = nyxops("backfill", "--target", "workflow_insights", env=_provider_env(env, openai))
    assert result.code == 0, result.output
    said = " ".join(result.stderr.split())  # rich wraps long log lines
    assert "wi_embedding_hnsw (hnsw) on the embedding column: writes run at about 250 rows/s" in said
    assert "--rebuild-index drops it" in said
    assert scalar(db_url, VALID) is True
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL") == 0


def test_rebuild_index_drops_fills_and_builds_it_again_concurrently(env, db_url) -> None:
    _index(db_url)
    _null_out(db_url, 300)
    with FakeOpenAI() as openai:
        result = nyxops("backfill", "--target", "workflow_insights", "--rebuild-index", env=_provider_env(env, openai))
    assert result.code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "it is dropped for the fill of 300 rows and built again CONCURRENTLY" in said
    assert "built public.wi_embedding_hnsw again" in said
    assert scalar(db_url, VALID) is True
    assert scalar(db_url, "SELECT count(*) FROM nyxops.index_rebuilds") == 0
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL") == 0


def test_killed_between_the_drop_and_the_build_the_next_run_builds_it(env, db_url) -> None:
    """The index is recorded before it is dropped: a SIGKILL in the fill does not lose it."""
    _index(db_url)
    _null_out(db_url, 300)
    with FakeOpenAI(Faults(slow_rate=1.0, slow_seconds=600)) as hanging:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nyxops", "backfill", "--target", "workflow_insights", "--rebuild-index"],
            env={**os.environ, **_provider_env(env, hanging)},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while scalar(db_url, VALID) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert scalar(db_url, VALID) is None  # dropped, and the run is dead
    assert scalar(db_url, "SELECT index_name FROM nyxops.index_rebuilds") == "wi_embedding_hnsw"
    with FakeOpenAI() as openai:
        result = nyxops("backfill", "--target", "workflow_insights", env=_provider_env(env, openai))
    assert result.code == 0, result.output
    assert scalar(db_url, VALID) is True
    assert scalar(db_url, "SELECT count(*) FROM nyxops.index_rebuilds") == 0
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL") == 0
