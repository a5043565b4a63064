"""The live backfill killed (SIGKILL) in its token-packing and its throttled paths, then run again.

The rows a kill leaves are embedded by the next run, and no row is written twice: each write of an
embedding is counted by a trigger.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg

from tests.fakes import FakeOpenAI, Faults
from tests.helpers import REPO, nyxops, scalar
from tests.test_backfill import _provider_env
from tests.test_backfill_batches import _count_writes, _vectors_right, _written_once

WRITES = "SELECT count(*) FROM embedding_writes"


def _rows(db_url: str, count: int, words: int) -> None:
    """New rows with NULL embeddings whose texts are ``words`` tokens long (" w" is one cl100k token)."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO workflow_insights (id, project_id, title, content, created_at)"
            " SELECT 'wi_n' || lpad(i::text, 5, '0'), 'proj_1', 'Lost insight ' || i, repeat(' w', %s) || i,"
            " '2026-04-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, %s) AS i",
            (words, count),
        )


def _kill_at(env: dict[str, str], db_url: str, writes: int, *args: str) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "nyxops", "backfill", "--target", "workflow_insights", *args],
                            env={**os.environ, **env}, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 90
    while scalar(db_url, WRITES) < writes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed in the middle"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(1.0)  # an UPDATE in flight at the kill commits or not on the server's side
    return int(scalar(db_url, WRITES))  # type: ignore[arg-type]


def test_killed_while_batches_are_split_by_tokens(env, db_url) -> None:
    """Rows of ~7,000 tokens: a batch of 50 (350,000 tokens) is more than one request may hold."""
    _rows(db_url, 240, 7000)
    _count_writes(db_url)
    faults = Faults(delay=0.3, tokens_per_window=10**9)  # rated: the fake refuses requests over 300,000 tokens
    with FakeOpenAI(faults) as openai:
        run_env = _provider_env(env, openai)
        before = _kill_at(run_env, db_url, 60, "--batch-size", "50", "--concurrency", "2")
        assert 60 <= before < 240
        assert max(openai.record.inputs_per_request) < 50  # split by tokens, not sent as 50 rows
        again = nyxops("backfill", "--target", "workflow_insights", "--batch-size", "50", env=run_env)
        assert again.code == 0, again.output
        assert max(openai.record.inputs_per_request) < 50
    _written_once(db_url, 240)
    _vectors_right(db_url, 240)


def test_killed_while_the_throttle_waits(env, db_url) -> None:
    """4 requests a second, announced in the headers: the run waits for the window, is killed waiting."""
    _rows(db_url, 600, 5)
    _count_writes(db_url)
    faults = Faults(requests_per_window=4, tokens_per_window=10**9, window=1.0)
    with FakeOpenAI(faults) as openai:
        run_env = {**_provider_env(env, openai), "NYXOPS_OPENAI_MAX_RETRIES": "0"}
        before = _kill_at(run_env, db_url, 200, "--batch-size", "25", "--concurrency", "2")
        assert 200 <= before < 600
        again = nyxops("backfill", "--target", "workflow_insights", "--batch-size", "25", env=run_env)
        assert again.code == 0, again.output[-2000:]
        assert "rate limit: waiting" in again.stderr
        assert openai.rate_limited == 0  # with no retries allowed, one 429 would have failed a batch
    _written_once(db_url, 600)
    _vectors_right(db_url, 600)
