"""The backfill holds its reader's connection and at most ``WRITERS`` more, whatever ``--concurrency``.

Requests in flight are the provider's business; connections are the database's, which the running
app shares (``max_connections`` is 100 by default, and ``--concurrency`` goes up to 64).
"""

from __future__ import annotations

import threading

import psycopg

from nyxops.embeddings.backfill import WRITERS
from tests.fakes import FakeOpenAI, Faults
from tests.helpers import nyxops, scalar
from tests.test_backfill import _null_out, _provider_env

WRITERS_NOW = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'nyxops backfill' AND datname = current_database()"
)


def test_many_requests_in_flight_share_two_writers(env, db_url) -> None:
    _null_out(db_url, 400)
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            while not done.wait(0.01):
                seen.append(conn.execute(WRITERS_NOW).fetchone()[0])

    watcher = threading.Thread(target=watch)
    with FakeOpenAI(Faults(delay=0.15)) as openai:  # slow enough that all eight requests overlap
        watcher.start()
        try:
            result = nyxops("backfill", "--target", "workflow_insights", "--batch-size", "25", "--concurrency", "8",
                            env=_provider_env(env, openai))  # fmt: skip
        finally:
            done.set()
            watcher.join()
        assert openai.record.requests >= 16, "the run made fewer requests than it has batches"
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL") == 0
    # The second writer's connection opens only when two writes overlap: likely with eight requests
    # answered together, not certain; the bound is what matters (every worker writing: 9 here).
    assert WRITERS == 2
    assert 2 <= max(seen) <= 1 + WRITERS, f"the reader's and the writers' connections at once: {sorted(set(seen))}"
