"""``python -m bench.scale``: the backfill at 100,000 and 1,000,000 rows, rows/s and peak memory side by side.

Small vectors (vector(8)) keep the run short; what is measured is nyxops' own path: keyset batches,
the provider round trips, one UPDATE per batch. Each size runs in a child process of its own, so
its peak resident memory (``ru_maxrss``) is its own: flat memory means the run holds one batch
window at a time, never the table. The plan of one batch's UPDATE is printed too: it must reach
the rows through the key's index on the batch's key range, not scan the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import psycopg

from bench.common import REPO, fresh_database, provider_process, server

CHILD = r"""
import json, resource, sys, time
from nyxops.embeddings.backfill import Options, backfill_target
from nyxops.config import EmbeddingTarget, load_settings
url, provider = sys.argv[1], sys.argv[2]
settings = load_settings(database_url=url, openai_api_key="bench", openai_base_url=provider + "/v1")
target = EmbeddingTarget(name="items", table="public.items", key="id", text_sql="body", dimension=8)
started = time.perf_counter()
summary = backfill_target(settings, target, Options(batch_size=1000, concurrency=4))
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
print(json.dumps({"rows": summary.embedded, "seconds": seconds, "peak_mib": peak / 1024}))
"""


def _seed(url: str, rows: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, body text NOT NULL, embedding vector(8))")
        conn.execute("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, %s) g", (rows,))
        conn.execute("VACUUM ANALYZE items")
        conn.execute("CHECKPOINT")


def _plan(url: str) -> str:
    """The plan of the backfill's write for one batch of keys (1..1000), as the planner would run it."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "EXPLAIN UPDATE items SET embedding = v.e FROM unnest(ARRAY(SELECT generate_series(1, 1000))::bigint[],"
            " ARRAY(SELECT '[1,1,1,1,1,1,1,1]'::vector FROM generate_series(1, 1000))) AS v(k, e)"
            " WHERE items.id = v.k AND items.embedding IS NULL AND items.id BETWEEN 1 AND 1000"
        ).fetchall()
        conn.rollback()
    return "\n".join(r[0] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="100000,1000000", help="sizes, comma separated")
    args = parser.parse_args()
    results = []
    with server() as admin_url, provider_process(dimension=8) as provider:
        for rows in (int(n) for n in args.rows.split(",")):
            with fresh_database(admin_url, seed=False) as url:
                _seed(url, rows)
                plan = _plan(url)
                done = subprocess.run(
                    [sys.executable, "-c", CHILD, url, provider], cwd=REPO, capture_output=True, text=True, check=True
                )
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                assert figures["rows"] == rows, figures
                results.append(figures)
    print("\n| rows | seconds | rows/s | peak memory of the backfill process |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r['rows']:,} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | {r['peak_mib']:.0f} MiB |")
    print("\nplan of one batch's UPDATE (1,000 keys) at the largest size:\n" + plan)


if __name__ == "__main__":
    main()
