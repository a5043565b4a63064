"""``nyxops lint`` against squawk on the same generated file of 10,000 mixed statements."""

from __future__ import annotations

import sys
import tempfile
from functools import partial
from pathlib import Path

from bench.common import Comparison, alternate, timed

KINDS = [
    "CREATE TABLE t{i} (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz DEFAULT now())",
    "ALTER TABLE t{j} ADD COLUMN c{i} integer",
    "CREATE INDEX idx{i} ON t{j} (name)",
    "INSERT INTO t{j} (id, name) VALUES ({i}, 'row {i}; with a semicolon')",
    "UPDATE t{j} SET name = 'x' WHERE id = {i}",
    "ALTER TABLE t{j} DROP COLUMN c{i}",
    "DELETE FROM t{j} WHERE id = {i}",
    "COMMENT ON TABLE t{j} IS 'table {i}'",
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'e{i}') THEN CREATE TYPE e{i} AS ENUM ('a'); END IF; END $$",
    "ALTER TABLE t{j} RENAME COLUMN name TO name{i}",
]


def generate(count: int = 10_000) -> str:
    lines = []
    for i in range(count):
        lines.append(KINDS[i % len(KINDS)].format(i=i, j=max(i - i % len(KINDS), 0)) + ";")
    return "\n".join(lines) + "\n"


def run(rounds: int) -> list[Comparison]:
    """Each target twice: checked afresh (``--no-cache``: a fresh clone, what the target is about),
    and answered from the cache of an earlier run (a pre-commit hook, a CI job that restores it)."""
    folder = Path(tempfile.mkdtemp(prefix="nyxbench-lint-"))
    path = folder / "mixed.sql"
    path.write_text(generate())
    history = sorted((Path(__file__).parents[1] / "tests" / "corpus" / "cache" / "public").rglob("*.sql"))
    # nyxops' exit code for each: 0, the file's drops are of tables it creates itself; 2, the
    # history's few files that are not PostgreSQL (tests/guard/test_public_corpus.py lists them).
    # A crash exits 1, which neither case accepts. squawk exits 1 when it finds anything.
    cases = [("lint, 10,000 statements (whole process)", [str(path)], "<= 1.0", (0,))]
    if history:  # the public projects' migration histories, fetched by tests/corpus/fetch.py
        name = f"lint, a public migration history ({len(history)} files)"
        cases.append((name, list(map(str, history)), "<= 1.5", (2,)))
    bin_dir = Path(sys.executable).parent
    ours = [str(bin_dir / "nyxops"), "lint", "--format", "json"]
    results = []
    squawk = [str(bin_dir / "squawk"), "--reporter", "json"]
    for name, files, target, code in cases:
        theirs = partial(timed, [*squawk, *files], ok=(0, 1))
        fresh = alternate(rounds, partial(timed, [*ours, "--no-cache", *files], ok=code), theirs)
        results.append(Comparison(name, *fresh, "squawk", target))
        cache = ["--cache-dir", str(folder / f"cache{len(results)}")]  # filled by the uncounted first round
        warm = alternate(rounds, partial(timed, [*ours, *cache, *files], ok=code), theirs)
        results.append(Comparison(name.replace("lint,", "lint from the cache,"), *warm, "squawk", "(no target)"))
    return results
