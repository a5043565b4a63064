"""``nyxops migrate apply`` against ``psql -f`` (and ``psql -1 -f``) on the same server, same file."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import Comparison, alternate, fresh_database, timed
from nyxops.migrate import store


def generate(count: int = 10_000) -> str:
    lines = ["CREATE TABLE bench_items (id bigint PRIMARY KEY, name text NOT NULL, n integer);"]
    for i in range(1, count):
        kind = i % 4
        if kind == 0:
            lines.append(f"INSERT INTO bench_items VALUES ({i}, 'item {i}', {i});")
        elif kind == 1:
            lines.append(f"UPDATE bench_items SET n = n + 1 WHERE id = {i - 1};")
        elif kind == 2:
            lines.append(f"COMMENT ON TABLE bench_items IS 'version {i}';")
        else:
            lines.append(f"SELECT count(*) FROM bench_items WHERE id < {i};")
    return "\n".join(lines) + "\n"


def run(rounds: int, admin_url: str) -> list[Comparison]:
    folder = Path(tempfile.mkdtemp(prefix="nyxbench-apply-"))
    migrations = folder / "migrations"
    migrations.mkdir()
    path = migrations / "0001_bench.sql"
    path.write_text(generate())
    store.review(migrations, [path], "bench")
    nyxops = str(Path(sys.executable).parent / "nyxops")
    psql = shutil.which("psql") or "psql"

    def ours() -> float:
        with fresh_database(admin_url, seed=False) as url:
            env = {**os.environ, "DATABASE_URL": url, "NYXOPS_MIGRATIONS_DIR": str(migrations)}
            env["NYXOPS_PROTECTED_COLUMNS"] = "[]"
            return timed([nyxops, "migrate", "apply"], env)

    def psql_plain() -> float:
        with fresh_database(admin_url, seed=False) as url:
            return timed([psql, "-q", "-X", "-v", "ON_ERROR_STOP=1", "-f", str(path), url])

    def psql_one() -> float:
        with fresh_database(admin_url, seed=False) as url:
            return timed([psql, "-q", "-X", "-1", "-v", "ON_ERROR_STOP=1", "-f", str(path), url])

    a, b = alternate(rounds, ours, psql_plain)
    c, d = alternate(rounds, ours, psql_one)
    return [
        Comparison("apply, 10,000 statements (guard, ledger, timeouts, history, census)", a, b, "psql -f", "(context)"),
        Comparison("apply, same file", c, d, "psql -1 -f (one transaction, as nyxops runs a file)", "<= 1.1"),
    ]
