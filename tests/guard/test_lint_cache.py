"""``nyxops lint``'s cache: the same answers as a fresh check, never a stale one.

Each test runs the command as an operator would, in a folder of its own, against the tricky
corpus (findings of every rule, allow comments) plus files written to fail in other ways.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import nyxops

TRICKY = Path(__file__).parents[1] / "corpus" / "tricky"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "migrations"
    shutil.copytree(TRICKY, root)
    (root / "0001_bad_parse.sql").write_text("CREATE TABLE ok (id int);\nCREAT TABLE nope (id int);\n")
    (root / "0002_bom.sql").write_bytes(b"\xef\xbb\xbfSELECT 1;\n")
    (root / "0003_clean.sql").write_text("CREATE TABLE t (id int);\n")
    return root


def _lint(tree: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    result = nyxops("lint", "--format", "json", *extra, str(tree), cwd=tree.parent, env=env)
    assert result.code in (0, 1, 2), result.output
    return result.code, json.loads(result.stdout)


def test_a_cached_run_answers_as_a_fresh_one(tree: Path) -> None:
    fresh = _lint(tree, "--no-cache")
    assert not (tree.parent / ".nyxops_cache").exists()  # --no-cache keeps nothing
    first = _lint(tree)
    cached = _lint(tree)
    assert fresh == first == cached
    assert fresh[0] == 2  # the parse error and the BOM are still reported from the cache
    files = {Path(f["path"]).name: f for f in cached[1]["files"]}
    assert files["0001_bad_parse.sql"]["error"] and files["0002_bom.sql"]["error"]
    assert any(f["blocking"] for f in files["destructive.sql"]["findings"])
    assert (tree.parent / ".nyxops_cache" / ".gitignore").read_text().strip().endswith("*")


def test_a_fully_cached_run_loads_neither_parser_nor_rules(tree: Path) -> None:
    _lint(tree)
    result = nyxops("lint", "--format", "json", str(tree), cwd=tree.parent, env={"PYTHONPROFILEIMPORTTIME": "1"})
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")}
    assert "nyxops.guard.lint" in imported  # the import times were read
    assert not {"pglast", "pglast.parser", "nyxops.guard.check", "nyxops.guard.registry"} & imported


def test_a_changed_file_is_checked_again(tree: Path) -> None:
    _lint(tree)
    clean = tree / "0003_clean.sql"
    clean.write_text("CREATE TABLE t (id int);\nDROP TABLE users;\n")
    _, report = _lint(tree)
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert [f["rule"] for f in files["0003_clean.sql"]["findings"]] == ["drop-table"]
    clean.write_text("CREATE TABLE t (id int);\n")  # back as it was: the old entry answers again
    assert {Path(f["path"]).name: f for f in _lint(tree)[1]["files"]}["0003_clean.sql"]["findings"] == []


def test_another_policy_is_not_answered_from_the_cache(tree: Path) -> None:
    (tree / "0004_notes.sql").write_text("UPDATE notes SET body = 'x' WHERE id = 1;\n")
    _lint(tree)
    protected = {"NYXOPS_PROTECTED_COLUMNS": '["public.notes.body"]'}
    _, report = _lint(tree, env=protected)
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert [f["rule"] for f in files["0004_notes.sql"]["findings"]] == ["write-protected"]
    _, again = _lint(tree)
    assert {Path(f["path"]).name: f for f in again["files"]}["0004_notes.sql"]["findings"] == []


def test_a_broken_or_unwritable_cache_changes_nothing(tree: Path) -> None:
    expected = _lint(tree, "--no-cache")
    _lint(tree)
    for entry in (tree.parent / ".nyxops_cache").glob("lint-*.json"):
        entry.write_text('{"not": "a result"')  # cut short: not JSON
    assert _lint(tree) == expected
    for entry in (tree.parent / ".nyxops_cache").glob("lint-*.json"):
        data = json.loads(entry.read_text())
        entry.write_text(json.dumps({k: {"statements": "x"} for k in data}))  # JSON of another shape
    assert _lint(tree) == expected
    blocked = tree.parent / "not-a-folder"
    blocked.write_text("a file where the cache folder would go\n")
    assert _lint(tree, "--cache-dir", str(blocked / "cache")) == expected  # mkdir fails: ignored


def test_the_text_report_quotes_the_same_source_lines(tree: Path) -> None:
    """The text format shows each finding's lines of the file: kept in the entry, not re-read."""
    env = {"COLUMNS": "200"}
    fresh = nyxops("lint", "--no-cache", str(tree), cwd=tree.parent, env=env)
    nyxops("lint", str(tree), cwd=tree.parent, env=env)
    cached = nyxops("lint", str(tree), cwd=tree.parent, env=env)
    assert fresh.code == cached.code == 2
    assert fresh.stdout == cached.stdout and "DROP" in cached.stdout


def test_a_cache_of_another_version_is_removed(tree: Path) -> None:
    cache = tree.parent / ".nyxops_cache"
    cache.mkdir()
    (cache / "lint-v0-0123456789abcdef.json").write_text("{}")
    _lint(tree)
    assert [p.name for p in cache.glob("lint-*.json")] != ["lint-v0-0123456789abcdef.json"]
    assert len(list(cache.glob("lint-*.json"))) == 1


def test_a_tree_shared_among_workers_answers_as_one_process(tmp_path: Path, monkeypatch) -> None:
    """Files shared among forked workers (every core, as on a migration history of a few hundred
    files): the same findings, parse errors and order, fresh and through the cache."""
    from nyxops.guard import lint as lint_module
    from nyxops.guard import workers
    from nyxops.guard.policy import Policy

    root = tmp_path / "many"
    root.mkdir()
    count = 300
    for i in range(count):
        sql = ("ALTER TABLE t DROP COLUMN c;\n", "CREAT TABLE x (id int);\n", "CREATE TABLE t (id int);\n")[i % 3]
        (root / f"{i:05d}.sql").write_text(sql)

    def summary(report: lint_module.LintReport) -> list[tuple[str, list[str], str | None]]:
        return [(r.path.name, [f.rule for f in r.findings], r.error and str(r.error)) for r in report.files]

    forks: list[int] = []
    real_fork = workers._fork
    monkeypatch.setattr(workers, "_fork", lambda *a: forks.append(1) or real_fork(*a))
    monkeypatch.setattr(workers, "PARALLEL_FROM_BYTES", 0)
    monkeypatch.setattr(workers, "other_threads", lambda: False)  # threads other tests left behind
    parallel = summary(lint_module.lint([root], Policy()))
    cached_first = summary(lint_module.lint([root], Policy(), cache=tmp_path / "cache"))
    cached = summary(lint_module.lint([root], Policy(), cache=tmp_path / "cache"))
    assert len(forks) == 2 * (workers.cores() - 1)  # the fresh runs forked; the cached one had nothing to check
    monkeypatch.setattr(workers, "PARALLEL_FROM_BYTES", 10**12)
    alone = summary(lint_module.lint([root], Policy()))
    assert len(forks) == 2 * (workers.cores() - 1)
    assert len(alone) == count and sum(1 for _, rules, _ in alone if "drop-column" in rules) == (count + 2) // 3
    assert sum(1 for *_, error in alone if error) == (count + 1) // 3
    assert parallel == alone == cached_first == cached
