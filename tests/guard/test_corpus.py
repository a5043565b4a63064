"""Tricky SQL written here, each statement annotated with the blocking rules it must raise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nyxops.guard.check import check
from nyxops.sql import parse_file

CORPUS = Path(__file__).parents[1] / "corpus" / "tricky"
_EXPECT = re.compile(r"^-- expect: (.*)$", re.M)


def _expectations(path: Path) -> dict[int, list[str]]:
    """Line of the statement below each expect comment -> its rule ids (sorted)."""
    text = path.read_text()
    lines = text.splitlines()
    out: dict[int, list[str]] = {}
    for match in _EXPECT.finditer(text):
        line = text.count("\n", 0, match.start()) + 2
        while lines[line - 1].startswith("--") or not lines[line - 1].strip():
            line += 1
        rules = match.group(1).split()
        out[line] = [] if rules == ["none"] else sorted(rules)
    return out


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.sql")), ids=lambda p: p.name)
def test_corpus_file(path: Path) -> None:
    expected = _expectations(path)
    statements = parse_file(path)
    assert len(statements) == len(expected), "every statement in the corpus carries an expect line"
    findings = check(statements)
    for stmt in statements:
        got = sorted(f.rule for f in findings if f.statement_index == stmt.index and f.blocking)
        assert got == expected[stmt.line], f"{path.name}:{stmt.line}: {stmt.text[:60]}"
