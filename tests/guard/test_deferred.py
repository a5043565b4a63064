"""What a migration defers to its commit, and what runs on nyxops' own writes: after every check.

A ``DEFERRABLE INITIALLY DEFERRED`` constraint trigger fires at COMMIT, after the census, the
ledger and the overwrite trigger's last look. One whose body nulls the protected column by a
statement built at run time (lint can only warn; the trigger watch cannot read it) made
``migrate apply`` commit the loss of every value, ``protect`` installed or not. Now apply runs
what the file deferred (``SET CONSTRAINTS ALL IMMEDIATE``) before it reads anything, and refuses
a trigger or rule the file puts on nyxops' own tables, which would run on nyxops' own writes (the
census log, the history row) after the checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import add_migration, nyxops, scalar, snapshot

_WIPE = (  # the column named by the trigger's argument: no statement lint or the trigger watch can read
    "CREATE FUNCTION late() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN\n"
    "  EXECUTE 'UPDATE workflow_insights SET ' || quote_ident(TG_ARGV[0]) || ' = NULL'; RETURN NULL; END $f$;\n"
)
_DEFERRED = (
    _WIPE + 'CREATE CONSTRAINT TRIGGER late AFTER UPDATE ON "Project" DEFERRABLE INITIALLY DEFERRED\n'
    "  FOR EACH ROW EXECUTE FUNCTION late('embedding');\n"
    "UPDATE \"Project\" SET id = id WHERE id = 'proj_1';\n"
)
VALUES = "SELECT count(embedding) FROM workflow_insights"


@pytest.mark.parametrize("protect", [False, True], ids=["without protect", "protect installed"])
@pytest.mark.parametrize("journaled", [False, True], ids=["one transaction", "journaled"])
def test_a_trigger_deferred_to_commit_is_run_before_the_checks(
    protect: bool, journaled: bool, env, db_url, migrations: Path
) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    if protect:
        assert nyxops("protect", "install", env=env).code == 0
    concurrently = 'CREATE INDEX CONCURRENTLY project_late ON "Project" (id);\n' if journaled else ""
    add_migration(migrations, "0004_late.sql", _DEFERRED + concurrently)
    assert nyxops("lint", str(migrations / "0004_late.sql"), env=env).code == 0  # a warning only
    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    if protect:  # the overwrite trigger, armed, refuses the write where the deferred trigger runs
        refused = [s["refused"] for s in plan["statements"] if s["file"] == "0004_late.sql" and s["refused"]]
        assert "would fail at its end, where what it deferred to commit runs" in str(refused), refused
    else:
        assert plan["census_after"]["public.workflow_insights.embedding"]["non_null"] == 0
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert scalar(db_url, VALUES) == 382
    if not journaled:
        assert snapshot(db_url) == before


def test_a_deferred_constraint_that_fails_at_the_end_says_so(env, db_url, migrations: Path) -> None:
    """A deferred foreign key still unmet at the file's end: the failure is named as such, at the
    file's last statement, in plan and apply alike."""
    assert nyxops("migrate", "apply", env=env).code == 0
    sql = (
        "CREATE TABLE parent (id int PRIMARY KEY);\n"
        "CREATE TABLE child (parent_id int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);\n"
        "INSERT INTO child VALUES (1);\n"
    )
    add_migration(migrations, "0004_child.sql", sql)
    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    [last] = [s for s in plan["statements"] if s["file"] == "0004_child.sql" and s["statement"] == 3]
    assert "would fail at its end, where what it deferred to commit runs: insert or update on table" in last["refused"]
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "what it deferred to commit (a DEFERRABLE constraint or constraint trigger) failed" in result.stderr
    assert scalar(db_url, "SELECT to_regclass('child') IS NULL") is True


def _built(sql: str) -> str:
    """``sql`` with nyxops' schema named at run time: lint's guard-tamper refuses it written out."""
    return f"DO $$ DECLARE n text := (SELECT 'nyx' || 'ops'); BEGIN EXECUTE {sql}; END $$;\n"


@pytest.mark.parametrize(
    "on_own",
    [
        pytest.param(
            _built(
                "'CREATE TRIGGER late AFTER INSERT ON ' || n || '.census_log FOR EACH ROW EXECUTE FUNCTION late(''embedding'')'"
            ),
            id="a trigger",
        ),
        pytest.param(
            _built("'CREATE RULE late AS ON INSERT TO ' || n || '.schema_migrations DO ALSO SELECT 1'"), id="a rule"
        ),
    ],
)
def test_a_trigger_or_rule_on_nyxops_own_tables_is_refused(on_own: str, env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_own.sql", _WIPE + on_own)
    assert nyxops("lint", str(migrations / "0004_own.sql"), env=env).code == 0  # a warning only
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "on nyxops' own table nyxops." in result.stderr, result.stderr
    assert scalar(db_url, VALUES) == 382
    assert snapshot(db_url) == before
