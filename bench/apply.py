"""``nyxops migrate apply`` against ``psql -f`` (and ``psql -1 -f``) on the same server, same file;
and what ``migrate plan`` pays for its report of every statement, against apply of the same file."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from functools import partial
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


def _reviewed(folder: Path, count: int) -> tuple[Path, Path]:
    migrations = folder / f"migrations{count}"
    migrations.mkdir()
    path = migrations / "0001_bench.sql"
    path.write_text(generate(count))
    store.review(migrations, [path], "bench")
    return migrations, path


def run(rounds: int, admin_url: str) -> list[Comparison]:
    folder = Path(tempfile.mkdtemp(prefix="nyxbench-apply-"))
    migrations, path = _reviewed(folder, 10_000)
    nyxops = str(Path(sys.executable).parent / "nyxops")
    psql = shutil.which("psql") or "psql"

    def ours(command: str = "apply", directory: Path = migrations) -> float:
        with fresh_database(admin_url, seed=False) as url:
            env = {**os.environ, "DATABASE_URL": url, "NYXOPS_MIGRATIONS_DIR": str(directory)}
            env["NYXOPS_PROTECTED_COLUMNS"] = "[]"
            return timed([nyxops, "migrate", command], env)

    def psql_plain() -> float:
        with fresh_database(admin_url, seed=False) as url:
            return timed([psql, "-q", "-X", "-v", "ON_ERROR_STOP=1", "-f", str(path), url])

    def psql_one() -> float:
        with fresh_database(admin_url, seed=False) as url:
            return timed([psql, "-q", "-X", "-1", "-v", "ON_ERROR_STOP=1", "-f", str(path), url])

    a, b = alternate(rounds, ours, psql_plain)
    c, d = alternate(rounds, ours, psql_one)
    # plan reads locks and the ledger around every statement, in a savepoint each: a smaller file
    # keeps the row's rounds short (each statement costs the same at any length).
    small, _ = _reviewed(folder, 2_000)
    e, f = alternate(rounds, partial(ours, "plan", small), partial(ours, "apply", small))
    return [
        Comparison("apply, 10,000 statements (guard, ledger, timeouts, history, census)", a, b, "psql -f", "(context)"),
        Comparison("apply, same file", c, d, "psql -1 -f (one transaction, as nyxops runs a file)", "<= 1.1"),
        Comparison("plan, 2,000 statements (each one's locks and ledger)", e, f, "apply of the same file", "(cost)"),
    ]
