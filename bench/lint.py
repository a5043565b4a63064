"""``nyxops lint`` against squawk on the same generated file of 10,000 mixed statements."""

from __future__ import annotations

import sys
import tempfile
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
    folder = Path(tempfile.mkdtemp(prefix="nyxbench-lint-"))
    path = folder / "mixed.sql"
    path.write_text(generate())
    bin_dir = Path(sys.executable).parent
    ours, theirs = alternate(
        rounds,
        lambda: timed([str(bin_dir / "nyxops"), "lint", "--format", "json", str(path)]),
        lambda: timed([str(bin_dir / "squawk"), "--reporter", "json", str(path)]),
    )
    results = [Comparison("lint, 10,000 statements (whole process)", ours, theirs, "squawk", "<= 1.0")]
    history = sorted((Path(__file__).parents[1] / "tests" / "corpus" / "cache" / "public").rglob("*.sql"))
    if history:  # the public projects' migration histories, fetched by the corpus test
        ours, theirs = alternate(
            rounds,
            lambda: timed([str(bin_dir / "nyxops"), "lint", "--format", "json", *map(str, history)]),
            lambda: timed([str(bin_dir / "squawk"), "--reporter", "json", *map(str, history)]),
        )
        name = f"lint, a public migration history ({len(history)} files)"
        results.append(Comparison(name, ours, theirs, "squawk", "<= 1.5"))
    return results
