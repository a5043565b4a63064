"""SQL nobody here wrote: the migration histories of two public PostgreSQL projects.

The pinned wheels of matrix-synapse and procrastinate are downloaded from PyPI before the tests
(tests/corpus/fetch.py; not committed) and their ~390 migration files linted. Every file must
parse, except the few that are not PostgreSQL as written (each listed with why); and every drop,
rename and type change that squawk (an independent linter, with its own parser) finds, nyxops must
find in the same statement.
"""

from __future__ import annotations

import bisect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nyxops.errors import SqlParseError
from nyxops.guard.check import check
from nyxops.sql import Statement, parse_file
from tests.corpus import fetch
from tests.guard.test_prefilter import assert_plain_creates_agree_with_the_tree, assert_skips_are_safe

NOT_POSTGRES = {
    "procrastinate/sql/queries.sql": "psycopg %(name)s placeholders, filled in by the application",
    "synapse/storage/schema/main/delta/12/v12.sql": "SQLite AUTOINCREMENT",
    "synapse/storage/schema/main/delta/14/v14.sql": "SQLite AUTOINCREMENT",
    "synapse/storage/schema/main/delta/16/users.sql": "MySQL UNSIGNED",
    "synapse/storage/schema/main/delta/54/account_validity_with_renewal.sql": "a missing semicolon (synapse splits files itself)",
    "synapse/storage/schema/main/delta/87/02_per_connection_state.sql": "$%AUTO_INCREMENT_PRIMARY_KEY%$ template variable",
    "synapse/storage/schema/state/delta/89/01_state_groups_deletion.sql": "$%AUTO_INCREMENT_PRIMARY_KEY%$ template variable",
}
SQUAWK_TO_NYXOPS = {
    "ban-drop-column": "drop-column",
    "ban-drop-table": "drop-table",
    "renaming-table": "rename-table",
    "renaming-column": "rename-column",
    "changing-column-type": "alter-column-type",
    "ban-drop-database": "drop-database",
}


@pytest.fixture(scope="module")
def corpus() -> Path:
    return fetch.cached("public")


def _files(corpus: Path) -> list[Path]:
    return sorted(corpus.rglob("*.sql"))


def test_every_file_parses_except_the_ones_that_are_not_postgres(corpus: Path) -> None:
    files = _files(corpus)
    assert len(files) > 380
    failed: dict[str, str] = {}
    for path in files:
        try:
            parse_file(path)
        except SqlParseError as exc:
            failed[str(path.relative_to(corpus))] = str(exc)
    assert sorted(failed) == sorted(NOT_POSTGRES)
    assert "AUTOINCREMENT" in failed["synapse/storage/schema/main/delta/12/v12.sql"]
    # each says what it is, where it can tell: not newer syntax, another database's or another tool's
    assert "(SQLite syntax" in failed["synapse/storage/schema/main/delta/12/v12.sql"]
    assert "(MySQL syntax" in failed["synapse/storage/schema/main/delta/16/users.sql"]
    assert "(a placeholder" in failed["procrastinate/sql/queries.sql"]
    assert "(a placeholder" in failed["synapse/storage/schema/main/delta/87/02_per_connection_state.sql"]


def test_lint_never_crashes_and_finds_real_drops(corpus: Path) -> None:
    counts: dict[str, int] = {}
    for path in _files(corpus):
        if str(path.relative_to(corpus)) in NOT_POSTGRES:
            continue
        for finding in check(parse_file(path)):
            counts[finding.rule] = counts.get(finding.rule, 0) + 1
    assert counts["drop-table"] >= 80
    assert counts["drop-column"] >= 2 and counts["rename-table"] >= 10 and counts["update-all"] >= 5


def test_a_known_drop_is_reported_where_it_is(corpus: Path) -> None:
    path = corpus / "synapse/storage/schema/main/delta/56/drop_unused_event_tables.sql"
    findings = check(parse_file(path))
    assert [f.object for f in findings if f.rule == "drop-table" and f.blocking] == [
        "public.room_names",
        "public.topics",
        "public.history_visibility",
        "public.guest_access",
    ]


def statement_at(statements: list[Statement], line: int, column: int) -> Statement | None:
    starts = [(s.line, s.column) for s in statements]
    index = bisect.bisect_right(starts, (line, column)) - 1
    return statements[index] if index >= 0 else None


def squawk_drops(path: Path, statements: list[Statement]) -> list[tuple[Statement, str]]:
    """Each drop, rename and type change squawk reports in the file: its statement, and nyxops' rule for it."""
    squawk = Path(sys.executable).parent / "squawk"
    proc = subprocess.run(
        [str(squawk), "--reporter", "json", str(path)], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    out = []
    for v in json.loads(proc.stdout or "[]"):
        if v["rule_name"] in SQUAWK_TO_NYXOPS:
            stmt = statement_at(statements, v["line"] + 1, v["column"] + 1)
            assert stmt is not None, (path, v)
            out.append((stmt, SQUAWK_TO_NYXOPS[v["rule_name"]]))
    return out


def test_every_squawk_drop_is_found_by_nyxops_in_the_same_statement(corpus: Path) -> None:
    checked = 0
    for path in _files(corpus):
        if str(path.relative_to(corpus)) in NOT_POSTGRES:
            continue
        statements = parse_file(path)
        findings = check(statements)
        for stmt, rule in squawk_drops(path, statements):
            assert rule in {f.rule for f in findings if f.statement_index == stmt.index}, (
                f"{path}:{stmt.line}: {rule} {stmt.text[:80]}"
            )
            checked += 1
    assert checked >= 90


def test_the_text_prefilter_skips_no_statement_with_a_finding(corpus: Path) -> None:
    skipped = 0
    for path in _files(corpus):
        if str(path.relative_to(corpus)) not in NOT_POSTGRES:
            skipped += assert_skips_are_safe(parse_file(path), str(path))
    assert skipped > 700  # of about 1,060 statements


def test_creates_read_from_the_text_agree_with_the_tree(corpus: Path) -> None:
    read = 0
    for path in _files(corpus):
        if str(path.relative_to(corpus)) not in NOT_POSTGRES:
            read += assert_plain_creates_agree_with_the_tree(parse_file(path), str(path))
    assert read > 100  # synapse mostly writes CREATE TABLE IF NOT EXISTS, which takes the tree


def test_the_cli_on_the_whole_history_answers_as_one_file_at_a_time(corpus: Path) -> None:
    """``nyxops lint`` on the whole history (680 KB: shared among forked workers on two cores) gives
    each file the findings and the parse error it gets checked alone in this process, in order."""
    from nyxops.guard import workers
    from nyxops.guard.lint import configured_policy

    files, policy = _files(corpus), configured_policy()
    assert sum(p.stat().st_size for p in files) >= workers.PARALLEL_FROM_BYTES
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nyxops"), "lint", "--format", "json", "--no-cache", str(corpus)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr  # the files that are not PostgreSQL
    got = [
        (f["path"], f["error"], [(x["rule"], x["line"], x["object"]) for x in f["findings"]])
        for f in json.loads(done.stdout)["files"]
    ]
    alone = []
    for path in files:
        try:
            found = [(f.rule, f.line, f.object) for f in check(parse_file(path), policy)]
            alone.append((str(path), None, found))
        except SqlParseError as exc:
            alone.append((str(path), str(exc), []))
    assert got == alone
    assert sum(len(found) for *_, found in got) >= 100
