"""``nyxops backfill`` against what it replaces (one row per request, one UPDATE per row) and against COPY."""

from __future__ import annotations

import statistics
import time

import numpy as np
import psycopg
from openai import OpenAI

from bench.common import Comparison, fresh_database
from nyxops.backfill import Options, backfill_target
from nyxops.config import load_settings
from tests.fakes import Faults, FakeOpenAI, vector_for

ROWS = 20_000
NAIVE_SAMPLE = 300


def _seed(url: str, rows: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO workflow_insights (id, title, content, created_at)"
            " SELECT 'wb_' || lpad(i::text, 6, '0'), 'Bench ' || i, 'Bench content ' || i, '2026-01-01'"
            " FROM generate_series(1, %s) AS i",
            (rows,),
        )


def _ours(admin_url: str, provider: FakeOpenAI) -> float:
    url = fresh_database(admin_url)
    _seed(url, ROWS)
    settings = load_settings(database_url=url, openai_api_key="bench", openai_base_url=provider.url + "/v1")
    started = time.perf_counter()
    summary = backfill_target(settings, settings.embedding_targets[0], Options(batch_size=500, concurrency=4))
    assert summary.embedded == ROWS, summary
    return (time.perf_counter() - started) / ROWS


def _naive(admin_url: str, provider: FakeOpenAI) -> float:
    """The approach it replaces: per row, one request and one UPDATE (measured on a sample, per row)."""
    url = fresh_database(admin_url)
    _seed(url, NAIVE_SAMPLE)
    client = OpenAI(api_key="bench", base_url=provider.url + "/v1")
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, title || E'\\n\\n' || content FROM workflow_insights WHERE embedding IS NULL"
        ).fetchall()
        for key, text in rows:
            vec = client.embeddings.create(model="text-embedding-3-small", input=[text]).data[0].embedding
            conn.execute("UPDATE workflow_insights SET embedding = %s::vector WHERE id = %s", (str(vec), key))
    return (time.perf_counter() - started) / len(rows)


def _copy(admin_url: str) -> float:
    """The database's own limit: COPY the same 20,000 vectors (binary) into a table of the same shape."""
    url = fresh_database(admin_url)
    from pgvector.psycopg import register_vector

    vectors = [vector_for(f"Bench {i}\n\nBench content {i}") for i in range(1, ROWS + 1)]
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("CREATE TABLE copy_target (id text PRIMARY KEY, embedding vector(1536))")
        started = time.perf_counter()
        with conn.cursor().copy("COPY copy_target (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["text", "vector"])
            for i, vec in enumerate(vectors, 1):
                copy.write_row((f"wb_{i:06d}", np.asarray(vec)))
        return (time.perf_counter() - started) / ROWS


def run(rounds: int, admin_url: str) -> list[Comparison]:
    slow, fast, naive, copy = [], [], [], []
    with FakeOpenAI(Faults(delay=0.05)) as slow_provider, FakeOpenAI() as instant:
        for _ in range(max(1, rounds // 2)):
            naive.append(_naive(admin_url, slow_provider))
            slow.append(_ours(admin_url, slow_provider))
            fast.append(_ours(admin_url, instant))
            copy.append(_copy(admin_url))
    speedup = Comparison("backfill 20,000 rows, provider at 50 ms/request (time per row)", slow, naive,
                         f"1 row/request + 1 UPDATE/row (on {NAIVE_SAMPLE} rows)", ">= 50x faster")  # fmt: skip
    print(f"backfill speedup: {statistics.median(naive) / statistics.median(slow):.0f}x faster than row by row")
    return [speedup, Comparison("backfill 20,000 rows, instant provider (time per row)", fast, copy,
                                "COPY of the same vectors", "<= 2")]  # fmt: skip
