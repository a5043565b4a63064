"""SQL nobody here wrote, in functions: graphile-worker's migration history (npm, 19 files).

Nearly every statement is a PL/pgSQL function of its own schema (``RETURNS SETOF
graphile_worker.jobs``, ``DECLARE v_job graphile_worker.jobs``, ``specs graphile_worker.job_spec[]``),
which libpg_query's PL/pgSQL parser cannot resolve: before ``guard/declared_types.py`` the guard read
none of those bodies (28 ``dynamic-sql`` warnings, "PL/pgSQL body does not parse"). The files say
``:GRAPHILE_WORKER_SCHEMA`` where graphile-worker puts its escaped schema name
(``runMigration`` in dist/migrate.js); ``fetch.as_graphile_worker_runs_it`` does the same, nothing
else. Downloaded before the tests (tests/corpus/fetch.py; pinned by version and the registry's
sha512), not committed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nyxops.guard.check import check
from nyxops.sql import Statement, parse_file
from tests.corpus import fetch
from tests.guard.test_prefilter import assert_skips_are_safe
from tests.guard.test_public_corpus import squawk_drops

LOSSES = {
    ("000011.sql", "alter-column-type", "graphile_worker.jobs.attempts"),
    ("000011.sql", "alter-column-type", "graphile_worker.jobs.max_attempts"),
    ("000011.sql", "alter-column-type", "graphile_worker.jobs.priority"),
    ("000011.sql", "rename-table", "graphile_worker.jobs"),
    ("000011.sql", "rename-table", "graphile_worker.job_queues"),
    ("000011.sql", "drop-table", "graphile_worker.jobs_legacy"),
    ("000011.sql", "drop-table", "graphile_worker.job_queues_legacy"),
    ("000016.sql", "rename-table", "graphile_worker.jobs"),
    ("000016.sql", "rename-table", "graphile_worker.job_queues"),
    ("000016.sql", "rename-table", "graphile_worker.tasks"),
    ("000016.sql", "rename-table", "graphile_worker.known_crontabs"),
}
"""The history's blocking findings, each read by hand: 000011 moves the jobs to new tables (the old
ones renamed, copied from, dropped), 000016 renames the tables to underscore names."""
SQUAWK_ONLY = {
    ("000013.sql", 2): "ALTER TYPE … ALTER ATTRIBUTE … TYPE without CASCADE: refused while any data has the type",
    ("000013.sql", 3): "the same",
}
"""squawk's type changes nyxops does not report, and why (tests/migrate/test_composite_types.py)."""


@pytest.fixture(scope="module")
def worker() -> Path:
    return fetch.cached("graphile-worker")


def _history(worker: Path) -> dict[str, list[Statement]]:
    return {path.name: parse_file(path) for path in sorted(worker.glob("*.sql"))}


def test_every_function_body_is_read(worker: Path) -> None:
    history = _history(worker)
    assert len(history) == 19
    functions = [s for statements in history.values() for s in statements if s.kind == "CreateFunctionStmt"]
    assert len(functions) == 48
    unread = [
        (name, f.line, f.message)
        for name, statements in history.items()
        for f in check(statements)
        if f.rule == "dynamic-sql"
    ]
    assert unread == []


def test_the_history_s_losses_are_found_and_nothing_else(worker: Path) -> None:
    found = {
        (name, f.rule, f.object)
        for name, statements in _history(worker).items()
        for f in check(statements)
        if f.blocking
    }
    assert found == LOSSES


def test_every_squawk_drop_is_found_by_nyxops_in_the_same_statement(worker: Path) -> None:
    checked, skipped = 0, set()
    for name, statements in _history(worker).items():
        findings = check(statements)
        for stmt, rule in squawk_drops(worker / name, statements):
            if (name, stmt.line) in SQUAWK_ONLY:
                skipped.add((name, stmt.line))
                continue
            assert rule in {f.rule for f in findings if f.statement_index == stmt.index}, (name, stmt.line, rule)
            checked += 1
    assert checked == 11 and skipped == set(SQUAWK_ONLY)


def test_the_text_prefilter_skips_no_statement_with_a_finding(worker: Path) -> None:
    skipped = sum(assert_skips_are_safe(statements, name) for name, statements in _history(worker).items())
    assert skipped >= 20  # of 140 statements, a third of them functions (whose bodies need the tree)
