"""Lint over mutated corpus SQL (seeded, bounded): never a traceback, never an exit code outside 0/1/2."""

from __future__ import annotations

import random
from pathlib import Path

from nyxops.guard.lint import lint_text
from nyxops.guard.policy import Policy
from tests.helpers import nyxops

CORPUS = sorted((Path(__file__).parents[1] / "corpus" / "tricky").glob("*.sql")) + sorted(
    (Path(__file__).parents[2] / "migrations").glob("*.sql")
)
PIECES = ["(", ")", "'", '"', "$$", "$x$", ";", "--", "/*", "*/", "\\", "\x00", "\ufeff", "E'", "U&'", "ARRAY[", "]",
          " CASCADE", " DROP ", " WHERE true", " RETURNING *", "\n", "DO $$ BEGIN ", " END $$", "é", "\udcff"]  # fmt: skip


def _mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(text) + 1)
        action = rng.randrange(4)
        if action == 0:
            text = text[:pos] + rng.choice(PIECES) + text[pos:]
        elif action == 1:
            text = text[:pos] + text[pos + rng.randint(1, 20) :]
        elif action == 2:
            text = text[:pos]
        else:
            start = rng.randrange(len(text) + 1)
            text = text[:pos] + text[start : start + rng.randint(1, 80)] + text[pos:]
    return text


def test_mutated_sql_never_crashes_lint() -> None:
    rng = random.Random(1719)
    texts = [p.read_text() for p in CORPUS]
    codes = {0: 0, 1: 0, 2: 0}
    for _ in range(400):
        mutated = _mutate(rng.choice(texts), rng)
        report = lint_text(mutated, "<fuzz>", Policy())
        assert report.exit_code in (0, 1, 2)
        codes[report.exit_code] += 1
    assert all(codes.values()), codes  # the mutations reach all three outcomes


def test_mutated_sql_through_the_command_line(tmp_path: Path) -> None:
    rng = random.Random(83)
    texts = [p.read_text() for p in CORPUS]
    for i in range(8):
        path = tmp_path / f"{i:04d}_fuzz.sql"
        path.write_bytes(_mutate(rng.choice(texts), rng).encode("utf-8", errors="surrogateescape"))
    for fmt in ("text", "json", "github"):
        result = nyxops("lint", "--format", fmt, str(tmp_path))
        assert result.code in (0, 1, 2) and "Traceback" not in result.output, result.output[-2000:]
