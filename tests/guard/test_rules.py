"""Each rule's own SQL cases (beside it, squawk-style): they parse, fail cases fire, pass cases don't."""

from __future__ import annotations

import pytest

from nyxops.guard import registry
from nyxops.guard.check import check
from nyxops.guard.fold import literal_value
from nyxops.guard.policy import Policy
from nyxops.sql import parse

FAIL = [(rule.ID, sql) for rule in registry.RULES for sql in rule.FAIL]
PASS = [(rule.ID, sql) for rule in registry.RULES for sql in rule.PASS]


@pytest.mark.parametrize(("rule_id", "sql"), FAIL)
def test_fail_case_is_caught(rule_id: str, sql: str) -> None:
    statements = parse(sql + ";")
    assert len(statements) == 1 + sql.count(";\n")  # a case of several statements ends each but its last so
    findings = check(statements)
    assert rule_id in {f.rule for f in findings if f.blocking}, findings


@pytest.mark.parametrize(("rule_id", "sql"), PASS)
def test_pass_case_is_not_caught(rule_id: str, sql: str) -> None:
    statements = parse(sql + ";")
    assert len(statements) == 1 + sql.count(";\n")
    assert rule_id not in {f.rule for f in check(statements)}


def test_every_rule_has_cases_message_and_help() -> None:
    ids = [rule.ID for rule in registry.RULES]
    assert len(ids) == len(set(ids))
    for rule in registry.RULES:
        assert rule.FAIL and rule.PASS, rule.ID
        assert rule.MESSAGE.endswith(".") and rule.HELP, rule.ID
        assert rule.ID in registry.explain(rule.ID)


def test_messages_are_stable() -> None:
    """A reworded message is a visible change: it has to be changed here too."""
    assert registry.BY_ID["drop-column"].MESSAGE == "Dropping a column deletes its data in every row."
    assert registry.BY_ID["truncate"].MESSAGE == "TRUNCATE deletes every row of the table."


def test_prisma_pattern_names_the_exact_column() -> None:
    sql = 'ALTER TABLE "workflow_insights" DROP COLUMN "embedding",\n    ADD COLUMN "embedding" vector(1536);'
    [finding] = check(parse(sql))
    assert (finding.rule, finding.object, finding.line, finding.column) == (
        "drop-column",
        "public.workflow_insights.embedding",
        1,
        13,
    )
    assert any("protected" in n for n in finding.notes)


def test_allow_comment_allows_that_object_only() -> None:
    sql = (
        "-- nyxops:allow drop-column public.legacy.old_flag\n"
        "ALTER TABLE legacy DROP COLUMN old_flag, DROP COLUMN other;\n"
    )
    findings = check(parse(sql))
    by_object = {f.object: f for f in findings}
    assert by_object["public.legacy.old_flag"].allowed
    assert by_object["public.legacy.other"].blocking


def test_allow_comment_must_be_directly_above() -> None:
    sql = "-- nyxops:allow drop-table public.a\nSELECT 1;\nDROP TABLE a;\n"
    findings = check(parse(sql))
    assert {f.rule for f in findings if f.blocking} == {"drop-table"}
    assert {f.rule for f in findings} == {"drop-table", "unused-allow"}


def test_protected_column_cannot_be_allowed() -> None:
    sql = "-- nyxops:allow drop-column workflow_insights.embedding\nALTER TABLE workflow_insights DROP embedding;\n"
    [finding] = check(parse(sql))
    assert finding.blocking
    assert "cannot allow" in " ".join(finding.notes)


def test_protected_table_cannot_be_allowed_either() -> None:
    sql = "-- nyxops:allow drop-table public.workflow_insights\nDROP TABLE workflow_insights;\n"
    [finding] = check(parse(sql))
    assert finding.blocking


def test_configured_protected_columns() -> None:
    policy = Policy.from_names(["public.other.vec"])
    sql = "-- nyxops:allow drop-column workflow_insights.embedding\nALTER TABLE workflow_insights DROP embedding;\n"
    [finding] = check(parse(sql), policy)
    assert finding.allowed


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        ("-- nyxops:allow drop-colum public.t.c", "unknown rule 'drop-colum'"),
        ("-- nyxops:allow drop-column", "names no object"),
        ("-- nyxops:allow drop-column public.t.c please", "extra words"),
    ],
)
def test_bad_allow_comment_is_an_error(comment: str, message: str) -> None:
    findings = check(parse(comment + "\nALTER TABLE t DROP COLUMN c;\n"))
    invalid = [f for f in findings if f.rule == "invalid-allow"]
    assert invalid and invalid[0].blocking and message in invalid[0].message
    assert any(f.rule == "drop-column" and f.blocking for f in findings)


def test_do_block_execute_literal_is_checked_as_sql() -> None:
    sql = "DO $$ BEGIN EXECUTE 'ALTER TABLE t DROP COLUMN ' || 'c'; END $$;"
    findings = check(parse(sql))
    assert [(f.rule, f.object, f.blocking) for f in findings] == [("drop-column", "public.t.c", True)]


FOLDS = [
    ("format('DELETE FROM t WHERE id = %s', 7)", "DELETE FROM t WHERE id = 7"),
    ("'DELETE FROM t WHERE id = ' || 0", "DELETE FROM t WHERE id = 0"),
    ("format('DELETE FROM t WHERE %s', true)", "DELETE FROM t WHERE t"),
    ("format('DELETE FROM t WHERE id = %s', -3)", "DELETE FROM t WHERE id = -3"),
    ("format('DELETE FROM t WHERE id = %s', 1.50)", "DELETE FROM t WHERE id = 1.50"),
    ("format('DELETE FROM t WHERE id = %s', 4::text)", "DELETE FROM t WHERE id = 4"),
    ("format('DELETE FROM t WHERE id > %s', 1.5::int)", None),  # PostgreSQL prints 2
    ("format('DELETE FROM t WHERE id > %s', 1e3)", None),  # PostgreSQL prints 1000
    ("'DELETE FROM t WHERE id > ' || 2.5::numeric", None),
    ("format('DELETE FROM t WHERE id > %s', NULL)", None),
    ("format('DROP TABLE %I', 'Übung')", 'DROP TABLE "Übung"'),
    ("concat_ws(' ', 'DELETE FROM t WHERE id =', 5, 'OR', false)", "DELETE FROM t WHERE id = 5 OR f"),
]


@pytest.mark.parametrize(("expression", "folded"), FOLDS)
def test_numbers_and_booleans_fold_as_postgresql_prints_them(expression: str, folded: str | None) -> None:
    """A literal argument is a literal whatever its type; a cast whose output nyxops cannot be sure
    of stays unfolded (a dynamic-sql warning), never folded to a text PostgreSQL would not build."""
    assert literal_value(expression) == folded


def test_every_fold_is_what_postgresql_itself_builds(db_url: str) -> None:
    import psycopg

    with psycopg.connect(db_url) as conn:
        for expression, folded in FOLDS:
            row = conn.execute(f"SELECT ({expression})::text").fetchone()
            assert row is not None
            if folded is not None:
                assert row[0] == folded, expression


def test_a_folded_number_leaves_no_dynamic_sql_warning() -> None:
    sql = "DO $$ BEGIN EXECUTE format('UPDATE workflow_insights SET embedding = NULL WHERE id = %s', 7); END $$;"
    assert [(f.rule, f.blocking) for f in check(parse(sql))] == [("write-protected", True)]
    assert check(parse("DO $$ BEGIN EXECUTE 'DELETE FROM t WHERE id = ' || 0; END $$;")) == []


def test_do_block_static_statement_is_checked() -> None:
    findings = check(parse("DO $$ BEGIN IF true THEN DELETE FROM workflow_insights; END IF; END $$;"))
    assert [f.rule for f in findings if f.blocking] == ["delete-all"]


def test_dynamic_sql_built_at_run_time_is_a_warning_naming_the_runtime_guard() -> None:
    sql = (
        "DO $$ DECLARE c text; BEGIN SELECT attname INTO c FROM pg_attribute LIMIT 1;"
        " EXECUTE format('ALTER TABLE t DROP COLUMN %I', c); END $$;"
    )
    [finding] = check(parse(sql))
    assert finding.rule == "dynamic-sql" and not finding.blocking
    assert "apply refuses the drops" in finding.message and "only migrate plan shows" in finding.message


VARIABLES = [
    # a text variable declared with a literal and never written again: EXECUTE runs that literal
    ("DECLARE s text := 'ALTER TABLE workflow_insights DROP COLUMN embedding'; BEGIN EXECUTE s;", ["drop-column"]),
    (
        "DECLARE t text := 'workflow_insights'; c varchar := 'embedding';"
        " s text := format('ALTER TABLE %I DROP COLUMN %I', t, c); BEGIN EXECUTE s;",
        ["drop-column"],
    ),
    ("DECLARE s CONSTANT text := 'DELETE FROM workflow_insights'; BEGIN EXECUTE s || ' WHERE true';", ["delete-all"]),
    ("DECLARE c text := 'embedding'; BEGIN EXECUTE format('ALTER TABLE t DROP COLUMN %I', c);", ["drop-column"]),
    # a FOREACH over a known array: EXECUTE runs once for each value
    (
        "DECLARE t text; BEGIN FOREACH t IN ARRAY ARRAY['users', 'workflow_insights'] LOOP"
        " EXECUTE 'TRUNCATE ' || t; END LOOP;",
        ["truncate", "truncate"],
    ),
    (
        "DECLARE ts text[] := ARRAY['users', 'posts']::text[]; t text; c text; BEGIN FOREACH t IN ARRAY ts LOOP"
        " FOREACH c IN ARRAY ARRAY['note'] LOOP EXECUTE format('ALTER TABLE %I DROP COLUMN %I', t, c); END LOOP;"
        " END LOOP;",
        ["drop-column", "drop-column"],
    ),
    (
        "DECLARE t text; BEGIN FOREACH t IN ARRAY ARRAY['users', 'posts'] LOOP"
        " EXECUTE format('ALTER TABLE %I ADD COLUMN IF NOT EXISTS note text', t); END LOOP;",
        [],
    ),
    # a FOR over a query of known texts (unnest of a known array, VALUES): the same
    (
        "DECLARE t text; BEGIN FOR t IN SELECT unnest(ARRAY['users', 'posts']) LOOP"
        " EXECUTE format('ALTER TABLE %I DROP COLUMN legacy', t); END LOOP;",
        ["drop-column", "drop-column"],
    ),
    (
        "DECLARE t text; BEGIN FOR t IN SELECT * FROM pg_catalog.unnest(ARRAY['users']::text[]) AS x(name) LOOP"
        " EXECUTE 'TRUNCATE ' || t; END LOOP;",
        ["truncate"],
    ),
    ("DECLARE t text; BEGIN FOR t IN VALUES ('a'), ('b') LOOP EXECUTE 'TRUNCATE ' || t; END LOOP;", ["truncate"] * 2),
    # a FOR whose rows could be other texts, or whose variable something else writes: unknown
    (
        "DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables LOOP EXECUTE 'TRUNCATE ' || t; END LOOP;",
        ["dynamic-sql"],
    ),
    (
        "DECLARE t text; BEGIN FOR t IN SELECT unnest(ARRAY['a']) WHERE random() > 2 LOOP EXECUTE 'TRUNCATE ' || t;"
        " END LOOP;",
        ["dynamic-sql"],
    ),
    (
        "DECLARE t text; BEGIN FOR t IN SELECT unnest(ARRAY['a']) LOOP t := 'workflow_insights';"
        " EXECUTE 'TRUNCATE ' || t; END LOOP;",
        ["dynamic-sql"],
    ),
    (
        "DECLARE t text; BEGIN FOR t IN SELECT unnest(ARRAY['a']) LOOP EXECUTE 'TRUNCATE ' || t; END LOOP;"
        " FOR t IN VALUES ('b') LOOP NULL; END LOOP;",
        ["dynamic-sql"],
    ),
    (
        "DECLARE t text; BEGIN FOR t IN SELECT x FROM unnest(ARRAY['a']) AS u(y) LOOP EXECUTE 'TRUNCATE ' || t; END LOOP;",
        ["dynamic-sql"],
    ),
    # written somewhere, shadowed, passed to CALL (INOUT) or not text: what EXECUTE runs is unknown
    ("DECLARE s text := 'SELECT 1'; BEGIN s := 'ALTER TABLE t DROP COLUMN c'; EXECUTE s;", ["dynamic-sql"]),
    ("DECLARE s text := 'SELECT 1'; BEGIN SELECT 'x' INTO s; EXECUTE s;", ["dynamic-sql"]),
    ("DECLARE s text := 'SELECT 1'; BEGIN FOR s IN SELECT 'y' LOOP EXECUTE s; END LOOP;", ["dynamic-sql"]),
    ("DECLARE s text := 'SELECT 1'; BEGIN EXECUTE 'SELECT 2' INTO s; EXECUTE s;", ["dynamic-sql"]),
    ("DECLARE s text := 'SELECT 1'; BEGIN CALL p(s); EXECUTE s;", ["dynamic-sql"]),
    ("DECLARE s text := 'SELECT 1'; BEGIN GET DIAGNOSTICS s = PG_CONTEXT; EXECUTE s;", ["dynamic-sql"]),
    ("DECLARE s text := 'SELECT 1'; BEGIN DECLARE s text; BEGIN EXECUTE s; END;", ["dynamic-sql"]),
    ("DECLARE n int := 1.5; BEGIN EXECUTE 'DELETE FROM t WHERE id > ' || n;", ["dynamic-sql"]),
    (
        "DECLARE t text; BEGIN FOREACH t IN ARRAY ARRAY['a', 'b'] LOOP t := 'workflow_insights';"
        " EXECUTE 'TRUNCATE ' || t; END LOOP;",
        ["dynamic-sql"],
    ),
    (
        "DECLARE t text; BEGIN FOREACH t IN ARRAY ARRAY['a', NULL] LOOP EXECUTE 'TRUNCATE ' || t; END LOOP;",
        ["dynamic-sql"],
    ),
    ("DECLARE t text; BEGIN FOREACH t IN ARRAY ARRAY['a'] LOOP END LOOP; EXECUTE 'TRUNCATE ' || t;", ["dynamic-sql"]),
]


@pytest.mark.parametrize(("body", "rules"), VARIABLES)
def test_a_variable_whose_value_is_known_is_executed_as_that_value(body: str, rules: list[str]) -> None:
    findings = check(parse(f"DO $$ {body} END $$;"))
    assert [(f.rule, f.blocking) for f in findings] == [(rule, rule != "dynamic-sql") for rule in rules]


def test_a_loop_of_more_values_than_nyxops_reads_is_left_to_the_runtime_guard() -> None:
    from nyxops.guard.variables import MAX_BINDINGS

    def loop(count: int) -> str:
        names = ", ".join(f"'t{i}'" for i in range(count))
        return f"DO $$ DECLARE t text; BEGIN FOREACH t IN ARRAY ARRAY[{names}] LOOP EXECUTE 'TRUNCATE ' || t; END LOOP; END $$;"

    assert [f.rule for f in check(parse(loop(MAX_BINDINGS)))] == ["truncate"] * MAX_BINDINGS
    assert [f.rule for f in check(parse(loop(MAX_BINDINGS + 1)))] == ["dynamic-sql"]


def test_a_variable_keeps_the_value_postgresql_gives_it(db_url: str) -> None:
    """What nyxops reads EXECUTE to run is what PostgreSQL builds: the same declarations and loops,
    in a function that collects the texts instead of running them. (Names that PostgreSQL quotes
    too: nyxops' %I always quotes, the same identifier.)"""
    import psycopg

    from nyxops.guard.dynamic import embedded_sql

    declare = (
        "DECLARE t text := 'Wi'; c varchar := 'Emb'; s text := format('ALTER TABLE %I DROP %I', t, c) || ';';"
        " tables text[] := ARRAY['A', 'B c', 'D' || 'e']; x text; y text;"
    )
    loop = (
        "FOREACH x IN ARRAY tables LOOP {run} format('ALTER TABLE %I DROP %I;', x, c); END LOOP;"
        " FOR y IN SELECT unnest(ARRAY['F', t || ' g']) LOOP {run} format('DROP TABLE %I;', y); END LOOP;"
        " {run} s;"
    )
    ours = loop.format(run="EXECUTE")
    theirs = loop.format(run="out := out ||").replace("s;", "s; RETURN out;")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE FUNCTION pg_temp.f() RETURNS text[] LANGUAGE plpgsql AS $$ {declare} out text[] := '{{}}';"
            f" BEGIN {theirs} END $$"
        )
        row = conn.execute("SELECT pg_temp.f()").fetchone()
    executed = [piece.sql for piece in embedded_sql(f"{declare} BEGIN {ours} END") if piece.dynamic]
    assert row is not None and len(row[0]) == 6 and sorted(executed) == sorted(row[0])


def test_conditional_enum_creation_passes() -> None:
    sql = """
    DO $$ BEGIN
        CREATE TYPE "SyncStatus" AS ENUM ('idle', 'syncing', 'failed');
    EXCEPTION WHEN duplicate_object THEN null;
    END $$;
    """
    assert check(parse(sql)) == []


def test_function_body_findings_are_warnings() -> None:
    sql = "CREATE FUNCTION purge() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN DELETE FROM logs; END $f$;"
    [finding] = check(parse(sql))
    assert finding.rule == "delete-all" and finding.severity == "warning"
    assert "function purge" in " ".join(finding.notes)


@pytest.mark.parametrize("language", ["plpython3u", "PLPERLU", "pltclu", "plsh"])
def test_a_function_in_an_untrusted_language_warns_where_created_and_blocks_where_called(language: str) -> None:
    """Its code is not read (nyxops reads SQL and PL/pgSQL): what it may do on the server is said, not guessed."""
    create = f"CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE {language} AS $$ return a + b $$;\n"
    [created] = check(parse(create))
    assert (created.rule, created.severity, created.object) == ("server-write", "warning", language.lower())
    called = check(parse(create + "SELECT add(1, 2);\n"))
    assert [(f.rule, f.blocking, f.statement_index) for f in called] == [
        ("server-write", False, 0),
        ("server-write", True, 1),
    ]
    allowed = check(parse(create + f"-- nyxops:allow server-write {language.lower()}\nSELECT add(1, 2);\n"))
    assert not any(f.blocking for f in allowed)


def test_drop_extension_vector_touches_protected_columns() -> None:
    sql = "-- nyxops:allow drop-extension vector\nDROP EXTENSION vector CASCADE;\n"
    [finding] = check(parse(sql))
    assert finding.blocking


def test_mixed_case_objects_are_shown_quoted_and_the_shown_name_allows_them() -> None:
    [finding] = check(parse('ALTER TABLE "User" ALTER COLUMN "email" SET DATA TYPE varchar(320);'))
    assert finding.object == 'public."User".email'
    allowed = check(parse(f"-- nyxops:allow alter-column-type {finding.object}\n" + finding.statement_text + ";"))
    assert [f.allowed for f in allowed] == [True]
    unquoted = check(parse("-- nyxops:allow alter-column-type public.User.email\n" + finding.statement_text + ";"))
    assert {f.rule for f in unquoted} == {"alter-column-type", "unused-allow"}  # User folds to user: another table


def _trigger_file(body: str, trigger: str = "BEFORE UPDATE ON workflow_insights FOR EACH ROW") -> str:
    return (
        "CREATE FUNCTION wi_touch() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE r record; BEGIN "
        f"{body} RETURN NEW; END $$;\nCREATE TRIGGER wi_touch {trigger} EXECUTE FUNCTION wi_touch();\n"
    )


TRIGGER_OVERWRITES = {
    "assigned": _trigger_file("IF NEW.title <> OLD.title THEN NEW.embedding := NULL; END IF;"),
    "assigned, quoted, with =": _trigger_file('new."embedding" = NULL;'),
    "selected into": _trigger_file("SELECT NULL INTO NEW.embedding;"),
    "another column's old value": _trigger_file("NEW.embedding := OLD.title;"),
    "a copy of NEW": _trigger_file("r := NEW; r.embedding := NULL;"),
    "the whole row": _trigger_file("NEW := jsonb_populate_record(NEW, '{}'::jsonb);"),
    "the whole row, selected into": _trigger_file("SELECT * INTO NEW FROM workflow_insights LIMIT 1;"),
    "insert or update": _trigger_file(
        "NEW.embedding := NULL;", "BEFORE INSERT OR UPDATE OF title ON public.workflow_insights FOR EACH ROW"
    ),
    "replaced after its trigger": _trigger_file("NEW.updated_at := now();")
    + "CREATE OR REPLACE FUNCTION wi_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.embedding := NULL;"
    " RETURN NEW; END $$;\n",
}
TRIGGER_KEEPS = {
    "another column": _trigger_file("NEW.updated_at := now();"),
    "the old value": _trigger_file("NEW.embedding := OLD.embedding; NEW := OLD;"),
    "after the update": _trigger_file("NEW.embedding := NULL;", "AFTER UPDATE ON workflow_insights FOR EACH ROW"),
    "new rows only": _trigger_file("NEW.embedding := NULL;", "BEFORE INSERT ON workflow_insights FOR EACH ROW"),
    "per statement": _trigger_file("NEW.embedding := NULL;", "BEFORE UPDATE ON workflow_insights"),
    "another table": _trigger_file("NEW.embedding := NULL;", "BEFORE UPDATE ON notes FOR EACH ROW"),
}


@pytest.mark.parametrize("case", sorted(TRIGGER_OVERWRITES))
def test_a_trigger_that_overwrites_the_protected_column_on_later_updates_blocks(case: str) -> None:
    """Nothing is written while the file runs: every row the app updates afterwards loses its value."""
    findings = [f for f in check(parse(TRIGGER_OVERWRITES[case])) if f.blocking]
    assert [(f.rule, f.object) for f in findings] == [("write-protected", "public.workflow_insights.embedding")]
    assert "before every UPDATE: each row the app updates from now on loses its value" in " ".join(findings[0].notes)
    allow = "-- nyxops:allow write-protected public.workflow_insights.embedding\n"
    every_statement_allowed = "".join(allow + line + "\n" for line in TRIGGER_OVERWRITES[case].splitlines())
    assert any(f.blocking for f in check(parse(every_statement_allowed)))  # no comment allows it


@pytest.mark.parametrize("case", sorted(TRIGGER_KEEPS))
def test_a_trigger_that_keeps_the_protected_values_passes(case: str) -> None:
    assert [f for f in check(parse(TRIGGER_KEEPS[case])) if f.blocking] == []


RUN_BY_THE_APP = {  # a function whose body overwrites the protected column, run by a trigger of the file
    "trigger after the function": (
        "CREATE FUNCTION wipe_on_sync() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN\n"
        "  UPDATE workflow_insights SET embedding = NULL WHERE project_id = NEW.project_id; RETURN NEW; END $$;\n"
        "CREATE TRIGGER wipe_on_sync AFTER UPDATE ON project_syncs FOR EACH ROW EXECUTE FUNCTION wipe_on_sync();\n"
    ),
    "function replaced after the trigger": (
        "CREATE TRIGGER wipe_on_sync AFTER UPDATE ON project_syncs FOR EACH ROW EXECUTE FUNCTION wipe_on_sync();\n"
        "CREATE OR REPLACE FUNCTION wipe_on_sync() RETURNS trigger LANGUAGE sql BEGIN ATOMIC\n"
        "  UPDATE workflow_insights SET embedding = NULL WHERE id > 0; END;\n"
    ),
}


@pytest.mark.parametrize("case", sorted(RUN_BY_THE_APP))
def test_a_body_the_apps_writes_will_run_blocks_where_it_is_armed(case: str) -> None:
    """Only created, the function would warn (it may never run); a trigger makes the app run it."""
    findings = [f for f in check(parse(RUN_BY_THE_APP[case])) if f.blocking]
    assert [(f.rule, f.object) for f in findings] == [("write-protected", "public.workflow_insights.embedding")]
    assert "on the app's own writes from commit on" in " ".join(findings[0].notes)
    function_only = RUN_BY_THE_APP["trigger after the function"].split("CREATE TRIGGER")[0]
    assert [(f.rule, f.severity) for f in check(parse(function_only))] == [("write-protected", "warning")]


def test_a_body_that_drops_an_unprotected_table_still_only_warns_under_a_trigger() -> None:
    """Outside protected columns a body armed by a trigger is the reviewer's, as before: it warns."""
    sql = (
        "CREATE FUNCTION purge() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM audit_log; RETURN NEW; END $$;\n"
        "CREATE TRIGGER purge AFTER UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION purge();\n"
    )
    assert [(f.rule, f.severity) for f in check(parse(sql))] == [("delete-all", "warning")]
