"""Splitting and parsing: PostgreSQL's own parser, positions, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from nyxops.errors import SqlParseError
from nyxops.sql import parse, parse_file


def test_semicolons_in_strings_comments_and_bodies() -> None:
    sql = """
    SELECT 'a;b', "c;d" FROM t; -- trailing; comment
    /* block; comment */ SELECT $$x;y$$;
    CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;
    CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO u VALUES (1); INSERT INTO u VALUES (2));
    DO $body$ BEGIN PERFORM 1; END $body$;
    SELECT E'it\\'s; fine';
    """
    statements = parse(sql)
    assert [s.kind for s in statements] == [
        "SelectStmt",
        "SelectStmt",
        "CreateFunctionStmt",
        "RuleStmt",
        "DoStmt",
        "SelectStmt",
    ]
    assert statements[2].text.endswith("END")
    assert statements[1].text == "SELECT $$x;y$$"
    assert (statements[1].line, statements[1].column) == (3, 26)


def test_syntax_error_has_file_line_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.sql"
    path.write_text("SELECT 1;\nALTER TABLE t ADD COLUMN x int;\nALTER TABEL t DROP x;\n")
    with pytest.raises(SqlParseError) as info:
        parse_file(path)
    assert (info.value.line, info.value.column) == (3, 7)
    assert str(info.value).startswith(f"{path}:3:7: syntax error")
    assert "Nothing was executed" in str(info.value)


def test_error_position_after_multibyte_text() -> None:
    with pytest.raises(SqlParseError) as info:
        parse("SELECT 'héllo wörld ✓';\nSELEC 1;")
    assert (info.value.line, info.value.column) == (2, 1)


@pytest.mark.parametrize(
    "meta", ["\\connect nyxcore", "\\copy t from 'x.csv'", "\\set ON_ERROR_STOP on", "\\i other.sql"]
)
def test_psql_meta_command_is_refused(meta: str) -> None:
    with pytest.raises(SqlParseError) as info:
        parse(f"SELECT 1;\n{meta}\nSELECT 2;\n")
    assert info.value.line == 2 and info.value.column == 1
    assert "psql meta-command " + meta.split()[0] in str(info.value)


def test_backslash_inside_a_body_is_fine() -> None:
    statements = parse("DO $$ BEGIN RAISE NOTICE '\\connect'; END $$;\nSELECT 1;")
    assert len(statements) == 2


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.sql"
    path.write_bytes("SELECT 'caf\xe9';".encode("latin-1"))
    with pytest.raises(SqlParseError, match="not UTF-8"):
        parse_file(path)


def test_empty_statements_and_comment_only_file() -> None:
    assert parse("-- only a comment\n;;\n") == []


def test_positions_of_nodes_use_characters_not_bytes() -> None:
    from nyxops.guard.check import check

    [finding] = check(parse("SELECT 'ü';\n  DROP TABLE x;"))
    assert (finding.line, finding.column) == (2, 3)


PG17_18 = [
    "ALTER TABLE t ADD CONSTRAINT t_a_not_null NOT NULL a",  # PG18
    "CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a * 2) VIRTUAL)",  # PG18
    "UPDATE t SET a = 1 WHERE id = 2 RETURNING old.a, new.a",  # PG18
    "ALTER TABLE t ALTER COLUMN b SET EXPRESSION AS (a * 3)",  # PG17
    "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action()",  # PG17
    "COPY t FROM STDIN WITH (ON_ERROR ignore)",  # PG17
    "SELECT * FROM JSON_TABLE('[1]'::jsonb, '$[*]' COLUMNS (x int PATH '$')) AS j",  # PG17
]


@pytest.mark.parametrize("sql", PG17_18)
def test_postgresql_17_and_18_syntax_parses(sql: str) -> None:
    """The grammar is PostgreSQL 18's (pglast 8): a public history using it must not fail to parse."""
    (stmt,) = parse(sql + ";")
    assert stmt.kind != "EmptyStmt"


OUTSIDE_TRANSACTIONS = [
    "CREATE INDEX CONCURRENTLY t_a_idx ON t (a)",
    "DROP INDEX CONCURRENTLY t_b_idx",
    "REINDEX TABLE CONCURRENTLY t",
    "REINDEX SCHEMA public",
    "REINDEX DATABASE {db}",
    "REINDEX SYSTEM {db}",
    "VACUUM t",
    "CLUSTER",
    "CLUSTER VERBOSE",
    "ALTER TABLE ev DETACH PARTITION ev19 CONCURRENTLY",
]
INSIDE_TRANSACTIONS = [
    "CREATE INDEX t_a_idx ON t (a)",
    "REINDEX TABLE t",
    "ANALYZE t",
    "CLUSTER t USING t_b_idx",
    "ALTER TABLE ev DETACH PARTITION ev19",
    "ALTER TABLE ev DETACH PARTITION ev19 FINALIZE",
]


def test_what_runs_outside_a_transaction_is_what_postgresql_refuses_inside_one(db_url: str) -> None:
    """Each statement nyxops runs outside the file's transaction, PostgreSQL itself refuses in one
    (``cannot run inside a transaction block``), and each lookalike it keeps inside, PostgreSQL runs there."""
    import psycopg

    setup = (
        "CREATE TABLE t (a int, b int); CREATE INDEX t_b_idx ON t (b);"
        " CREATE TABLE ev (id int, at date) PARTITION BY RANGE (at);"
        " CREATE TABLE ev19 PARTITION OF ev FOR VALUES FROM ('2019-01-01') TO ('2020-01-01')"
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        db = conn.execute("SELECT current_database()").fetchone()[0]
        for text, outside in [(s, True) for s in OUTSIDE_TRANSACTIONS] + [(s, False) for s in INSIDE_TRANSACTIONS]:
            [stmt] = parse(text.format(db=db) + ";")
            assert stmt.transactional is not outside, text
            try:
                with conn.transaction():
                    conn.execute(setup)
                    conn.execute(stmt.text)
                    raise psycopg.Rollback()
            except psycopg.errors.ActiveSqlTransaction as exc:  # SQLSTATE 25001
                assert outside, f"{text}: {exc}"
            except psycopg.Error as exc:  # FINALIZE of a detach that is not pending: refused for that alone
                assert not outside and "cannot complete detaching partition" in str(exc), f"{text}: {exc}"
            else:
                assert not outside, f"{text}: PostgreSQL ran it inside a transaction"
