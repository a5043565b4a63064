"""The text prefilter (``may_destroy``) may skip a statement's parse tree only when no rule could match.

A wrong skip would be a missed drop, so it is checked two ways: statements built to fool it
(a WHERE hidden in a subquery, a string, a comment, an escape, a RETURNING alias) must still be
reported, and on every statement of every corpus here (the tricky one, the migrations, the
benchmark's file) a skipped statement must have no finding when its tree is checked anyway.
The public projects' SQL gets the same check in ``test_public_corpus.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.lint import generate
from nyxops.guard import prefilter
from nyxops.guard.check import FileCheck, Policy, check
from nyxops.guard.created import plain_create
from nyxops.guard.prefilter import may_destroy
from nyxops.sql import Statement, parse, parse_file

ROOT = Path(__file__).parents[2]
FOOLING = {
    "UPDATE t SET a = (SELECT b FROM u WHERE u.id = 1)": "update-all",
    "UPDATE t SET a = 1 RETURNING a AS where": "update-all",
    "UPDATE t SET a = E'x\\' WHERE '": "update-all",
    "UPDATE t SET a = 'x WHERE y'": "update-all",
    "UPDATE t SET a = 1 -- WHERE id = 1\n": "update-all",
    "UPDATE t SET a = 1 /* WHERE id = 1 */": "update-all",
    'UPDATE t SET "where" = 1': "update-all",
    "UPDATE t SET a = $$ WHERE $$": "update-all",
    "UPDATE t AS x SET a = x.b || ' WHERE '": "update-all",
    "DELETE FROM t /* WHERE */": "delete-all",
    "DELETE FROM t USING u": "delete-all",
    "DELETE FROM ONLY s.t RETURNING id AS where": "delete-all",
    "DELETE FROM t WHERE true = 't'": "delete-all",
    "DELETE FROM t WHERE id = 1 OR TRUE = 'yes'": "delete-all",
    "UPDATE t SET a = 1 WHERE current_user = 'app'": "update-all",
    "UPDATE t SET a = 1 WHERE current_schema = 'public'": "update-all",
    "WITH d AS (DELETE FROM t WHERE a = 1) DELETE FROM u": "delete-all",
    "DO E'BEGIN \\x45XECUTE ''\\x44ROP TABLE t''; END'": "drop-table",
    "DO $$BEGIN EXECUTE 'DROP TABLE t'; END$$": "drop-table",
    "CREATE /* a comment longer than the old 200-character look-ahead: "
    + "x" * 200
    + " */ FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$BEGIN DROP TABLE t; END$$": "drop-table",
    "ALTER TABLE t DROP COLUMN c": "drop-column",
    "COPY t TO '/var/lib/postgresql/data/postgresql.auto.conf'": "server-write",
    "DO $$BEGIN COPY t TO '/srv/x'; END$$": "server-write",
    "DO $$BEGIN EXECUTE 'COPY t TO PRO' || 'GRAM ''true'''; END$$": "server-write",
    "DO LANGUAGE 'plpython3u' $$ import os $$": "server-write",
}
SKIPPED = [
    "UPDATE t SET name = 'x' WHERE id = 1",
    "update public.t x set a = a - 1, b = 'it''s' from u where x.id = u.id",
    'DELETE FROM "T" WHERE id = 1',
    "DELETE FROM ONLY s.t AS x WHERE x.id = 1 RETURNING x.id",
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'e') THEN CREATE TYPE e AS ENUM ('a'); END IF; END $$",
    "CREATE TABLE t (id bigint)",
    "ALTER TABLE t ADD COLUMN c integer",
    "COPY t FROM '/srv/import/t.csv'",
]


@pytest.mark.parametrize("sql", sorted(FOOLING), ids=range(len(FOOLING)))
def test_what_looks_safe_but_is_not_is_still_reported(sql: str) -> None:
    assert FOOLING[sql] in {f.rule for f in check(parse(sql))}


@pytest.mark.parametrize("sql", SKIPPED)
def test_the_common_statements_skip_the_parse_tree(sql: str) -> None:
    """Without this the linter stays correct but slow again, which only the benchmark would show."""
    (stmt,) = parse(sql)
    assert not may_destroy(stmt)
    assert stmt._node is None, "the prefilter looked at the tree"


def assert_skips_are_safe(statements: list[Statement], where: str) -> int:
    """Every statement the prefilter skips has no finding when its tree is checked anyway.

    Checked in the file's own context (functions, rules and triggers created earlier in it),
    since that is what the prefilter is given too.
    """
    skipped = 0
    file_check = FileCheck(Policy())
    for stmt in statements:
        if not may_destroy(stmt, file_check.watch):
            skipped += 1
            assert file_check._findings(stmt) == [], f"{where}:{stmt.line}: {stmt.text[:80]}"
        file_check.statement(stmt)
    return skipped


def test_no_statement_of_the_corpora_is_skipped_wrongly(tmp_path: Path) -> None:
    files = sorted((ROOT / "tests" / "corpus" / "tricky").glob("*.sql")) + sorted((ROOT / "migrations").glob("*.sql"))
    skipped = sum(assert_skips_are_safe(parse_file(path), str(path)) for path in files)
    assert skipped > 10
    generated = parse(generate(2_000), "generated.sql")
    assert assert_skips_are_safe(generated, "generated.sql") >= 1_400


def assert_plain_creates_agree_with_the_tree(statements: list[Statement], where: str) -> int:
    """``CREATE TABLE name (`` read from the text names the same new table as its parse tree."""
    read = 0
    for stmt in statements:
        plain = plain_create(stmt.text)
        if plain is None:
            continue
        read += 1
        assert stmt.kind == "CreateStmt" and not stmt.body.get("if_not_exists"), f"{where}:{stmt.line}"
        rel = stmt.body["relation"]
        tree = ("pg_temp" if rel.get("relpersistence") == "t" else rel.get("schemaname"), rel["relname"])
        assert plain == tree, f"{where}:{stmt.line}: {stmt.text[:80]}"
    return read


def test_plain_creates_read_from_the_text_agree_with_the_tree() -> None:
    files = sorted((ROOT / "tests" / "corpus" / "tricky").glob("*.sql")) + sorted((ROOT / "migrations").glob("*.sql"))
    read = sum(assert_plain_creates_agree_with_the_tree(parse_file(path), str(path)) for path in files)
    tricky = parse('CREATE TABLE if_x (a int); CREATE TEMPORARY TABLE "Q.x" (a int); create table S.T(a int)')
    assert assert_plain_creates_agree_with_the_tree(tricky, "inline") == 3
    assert read >= 5
    assert plain_create("CREATE TABLE IF NOT EXISTS t (a int)") is None
    assert plain_create("CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1)") is None
    assert plain_create('CREATE TABLE "a""b" (x int)') is None


def test_the_quick_word_tests_find_every_word_of_the_patterns() -> None:
    """Plain ``in`` tests run before each regular expression: each word must still be found,
    or a destructive statement would skip its tree."""
    for part, words in prefilter._ALWAYS_GROUPS:
        assert all(part in word for word in words), part  # the group's quick test may skip none of them
    for word in prefilter.ALWAYS:
        assert prefilter._always(f"SELECT 1 {word} 2"), word
    for words in (prefilter._BODY, prefilter._DML, prefilter._ALTER_WORDS, prefilter._CREATE_BODY):
        for word in words.words:
            assert words.search(f"X {word} Y"), word
            assert not words.search(f"X {word}S Y"), word  # whole words only, as before
    assert prefilter.BODY_WORDS.search("begin execute 'x'; end")
