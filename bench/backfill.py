"""``nyxops backfill`` against what it replaces (one row per request, one UPDATE per row) and against COPY."""

from __future__ import annotations

import time

import numpy as np
import psycopg
from openai import OpenAI

from bench.common import Comparison, fresh_database, provider_process
from nyxops.config import load_settings
from nyxops.embeddings.backfill import Options, backfill_target
from tests.fakes import vector_for

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


def _settle(url: str) -> None:
    """Write out the setup's dirty pages first, so that no contender pays for them."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


INDEXED_ROWS = 4_000
HNSW = "CREATE INDEX wb_hnsw ON workflow_insights USING hnsw (embedding vector_cosine_ops)"


def _ours(admin_url: str, provider: str, *, rows: int = ROWS, index: bool | None = None) -> float:
    """nyxops' backfill; ``index``: None without an HNSW index, True rebuilding it, False keeping it."""
    with fresh_database(admin_url) as url:
        _seed(url, rows)
        if index is not None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(HNSW)
        settings = load_settings(database_url=url, openai_api_key="bench", openai_base_url=provider + "/v1")
        _settle(url)
        started = time.perf_counter()
        options = Options(batch_size=500, concurrency=4, rebuild_index=index)
        summary = backfill_target(settings, settings.embedding_targets[0], options)
        elapsed = time.perf_counter() - started  # a rebuild's time includes building the index again
    assert summary.embedded == rows, summary
    return elapsed


def _naive(admin_url: str, provider: str) -> float:
    """The approach it replaces: per row, one request and one UPDATE (measured on a sample, per row)."""
    with fresh_database(admin_url) as url:
        _seed(url, NAIVE_SAMPLE)
        client = OpenAI(api_key="bench", base_url=provider + "/v1")
        _settle(url)
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT id, title || E'\\n\\n' || content FROM workflow_insights WHERE embedding IS NULL"
            ).fetchall()
            for key, text in rows:
                vec = client.embeddings.create(model="text-embedding-3-small", input=[text]).data[0].embedding
                conn.execute("UPDATE workflow_insights SET embedding = %s::vector WHERE id = %s", (str(vec), key))
        return (time.perf_counter() - started) / len(rows) * ROWS  # extrapolated to 20,000 rows


def _copy(admin_url: str) -> float:
    """The database's own limit: COPY the same 20,000 vectors (binary) into a table of the same shape."""
    from pgvector.psycopg import register_vector

    vectors = [vector_for(f"Bench {i}\n\nBench content {i}") for i in range(1, ROWS + 1)]
    with fresh_database(admin_url) as url, psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("CREATE TABLE copy_target (id text PRIMARY KEY, embedding vector(1536))")
        _settle(url)
        started = time.perf_counter()
        with conn.cursor().copy("COPY copy_target (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["text", "vector"])
            for i, vec in enumerate(vectors, 1):
                copy.write_row((f"wb_{i:06d}", np.asarray(vec)))
        return time.perf_counter() - started


def run(rounds: int, admin_url: str) -> list[Comparison]:
    slow, fast, naive, copy = [], [], [], []
    with provider_process(delay=0.05) as slow_provider, provider_process() as instant:
        _ours(
            admin_url, instant
        )  # warm-up: the fake provider computes each text's vector once, then answers from memory
        for _ in range(max(1, rounds // 2)):  # the row-by-row sample takes ~20 s a round
            naive.append(_naive(admin_url, slow_provider))
            slow.append(_ours(admin_url, slow_provider))
        for _ in range(rounds):
            fast.append(_ours(admin_url, instant))
            copy.append(_copy(admin_url))
        rebuilt, kept = [], []
        for _ in range(max(1, rounds // 2)):
            rebuilt.append(_ours(admin_url, instant, rows=INDEXED_ROWS, index=True))
            kept.append(_ours(admin_url, instant, rows=INDEXED_ROWS, index=False))
    return [
        Comparison(f"backfill {INDEXED_ROWS:,} rows into a column with an HNSW index, --rebuild-index", rebuilt,
                   kept, "--keep-index (the index maintained row by row)", "faster", speedup=True),
        Comparison("backfill 20,000 rows, provider at 50 ms/request", slow, naive,
                   f"1 row/request + 1 UPDATE/row (rate of {NAIVE_SAMPLE} rows, x 20,000)", ">= 100x faster",
                   speedup=True),
        Comparison("backfill 20,000 rows, instant provider", fast, copy, "COPY of the same vectors", "<= 1.5"),
    ]  # fmt: skip
