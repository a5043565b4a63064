"""``nyxops migrate plan``: runs for real, reports everything, leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import add_migration, nyxops, scalar, snapshot


def test_plan_reports_and_rolls_back_everything(env, db_url, migrations: Path) -> None:
    add_migration(
        migrations,
        "0004_mixed.sql",
        "-- nyxops:allow drop-column public.pipeline_insights.summary\n"
        "ALTER TABLE pipeline_insights DROP COLUMN summary;\n"
        "INSERT INTO project_syncs (id, project_id, repository) VALUES ('s1', 'proj_1', 'nyxcore/app');\n"
        "SELECT no_such_function();\n"
        "CREATE INDEX CONCURRENTLY wi_created ON workflow_insights (created_at);\n"
        "UPDATE workflow_insights SET title = upper(title);\n"
        + """DO $$ BEGIN EXECUTE format('ALTER TABLE %I DROP COLUMN embedding', 'workflow_insights'); END $$;\n""",
    )
    before = snapshot(db_url)
    result = nyxops("migrate", "plan", "--json", env=env)
    assert result.code == 1, result.output  # problems found
    plan = json.loads(result.stdout)
    rows = {(s["file"], s["statement"]): s for s in plan["statements"]}
    create = rows[("0001_project_syncs.sql", 1)]
    assert "public.project_syncs: AccessExclusiveLock" in create["locks"]
    drop = rows[("0004_mixed.sql", 1)]
    assert drop["findings"][0]["allowed"] and drop["would_lose"] == [
        "public.pipeline_insights.summary: 120 non-NULL values in 120 rows"
    ]
    assert rows[("0004_mixed.sql", 2)]["rows"] == 1 and rows[("0004_mixed.sql", 2)]["error"] is None
    assert "no_such_function() does not exist" in rows[("0004_mixed.sql", 3)]["error"]
    assert rows[("0004_mixed.sql", 4)]["not_executed"] == "CREATE INDEX CONCURRENTLY cannot run inside a transaction"
    update = rows[("0004_mixed.sql", 5)]
    assert update["rows"] == 382 and update["findings"][0]["rule"] == "update-all"
    assert update["would_lose"] == ["public.workflow_insights.title: 382 non-NULL values in 382 rows"]
    guarded = rows[("0004_mixed.sql", 6)]
    assert guarded["stopped_by_runtime_guard"] and "embedding would be dropped" in guarded["error"]
    assert plan["census_before"]["public.workflow_insights.embedding"]["non_null"] == 382
    assert plan["census_after"]["public.workflow_insights.embedding"]["non_null"] == 382
    assert snapshot(db_url) == before


def test_plan_text_output_and_clean_plan(env, db_url) -> None:
    before = snapshot(db_url)
    result = nyxops("migrate", "plan", env=env)
    assert result.code == 0, result.output
    assert "dry run (rolled back)" in result.stdout and "plan ok" in result.stdout
    assert "public.workflow_insights.embedding" in result.stdout
    assert snapshot(db_url) == before
    assert nyxops("migrate", "apply", env=env).code == 0
    assert "nothing pending" in nyxops("migrate", "plan", env=env).stdout


def test_plan_says_what_it_could_not_check_and_what_apply_will_refuse(env, db_url, migrations: Path) -> None:
    add_migration(migrations, "0004_idx.sql", "CREATE INDEX CONCURRENTLY wi_t_idx ON workflow_insights (title);\n")
    add_migration(migrations, "0005_unreviewed.sql", "SELECT 1;\n", review=False)
    result = nyxops("migrate", "plan", env={**env, "COLUMNS": "300"})
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert "0005_unreviewed.sql is not reviewed (or changed since): apply will refuse it" in result.stdout
    assert lines[-1].startswith("plan incomplete: 1 statement(s) could not run in the dry run"), lines[-1]
    assert "plan ok" not in lines[-1]


def test_each_statements_ledger_is_its_own(env, db_url, migrations: Path) -> None:
    """Plan starts each statement from the state the last one's ledger read; a failed statement's
    rows stay counted in the transaction, so the one after it must start from a fresh read."""
    pick = "WHERE id IN (SELECT id FROM pipeline_insights ORDER BY id LIMIT {})"
    add_migration(
        migrations,
        "0004_steps.sql",
        f"UPDATE pipeline_insights SET summary = upper(summary) {pick.format(3)};\n"
        f"WITH gone AS (DELETE FROM pipeline_insights {pick.format(5)} RETURNING 1)"
        " SELECT 1 / (count(*) - 5) FROM gone;\n"
        "COMMENT ON TABLE pipeline_insights IS 'steps';\n"
        f"UPDATE pipeline_insights SET summary = lower(summary) {pick.format(2)};\n"
        "COMMENT ON TABLE pipeline_insights IS 'done';\n",
    )
    before = snapshot(db_url)
    result = nyxops("migrate", "plan", "--json", env=env)
    plan = json.loads(result.stdout)
    steps = {s["statement"]: s for s in plan["statements"] if s["file"] == "0004_steps.sql"}
    assert steps[1]["ledger"] == ["public.pipeline_insights: 3 rows updated"], result.output
    assert "division by zero" in steps[2]["error"]
    assert steps[3]["ledger"] == [] and steps[3]["error"] is None
    assert steps[4]["ledger"] == ["public.pipeline_insights: 2 rows updated"] and steps[5]["ledger"] == []
    assert plan["ledger"]["0004_steps.sql"] == ["public.pipeline_insights: 3 rows updated"] + steps[4]["ledger"]
    assert snapshot(db_url) == before


def test_plan_judges_the_census_as_apply_does(env, db_url, migrations: Path) -> None:
    """Apply refuses fewer values in a protected column only; the embedding targets that are not
    protected are counted for verify's floor. Plan refused such a file (exit 1) that apply then
    committed: a dry run that answers otherwise than the run it stands for. Now it says what apply
    will do, and the reviewer reads that verify will then miss the values."""
    nulled = "UPDATE pipeline_insights SET embedding = NULL WHERE id <= 'pi_00010';\n"
    add_migration(migrations, "0004_reembed.sql", nulled)
    before = snapshot(db_url)
    planned = nyxops("migrate", "plan", "--json", env=env)
    assert planned.code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert plan["census_losses"] == []
    assert plan["census_unprotected"] == ["public.pipeline_insights.embedding: 120 values before, 110 after"]
    text = nyxops("migrate", "plan", env={**env, "COLUMNS": "300"})
    assert text.code == 0, text.output
    assert (
        "census, not protected: public.pipeline_insights.embedding: 120 values before, 110 after: apply commits "
        "this; verify's embeddings check then reports the values missing until nyxops backfill embeds them again"
    ) in text.stdout
    assert snapshot(db_url) == before
    assert nyxops("migrate", "apply", env=env).code == 0
    assert scalar(db_url, "SELECT count(embedding) FROM pipeline_insights") == 110

    protected = {**env, "NYXOPS_PROTECTED_COLUMNS": '["public.pipeline_insights.embedding"]'}
    add_migration(migrations, "0005_more.sql", nulled.replace("'pi_00010'", "'pi_00020'"))
    planned = nyxops("migrate", "plan", "--json", env=protected)
    assert planned.code == 1, planned.output
    plan = json.loads(planned.stdout)
    assert plan["census_losses"] == ["public.pipeline_insights.embedding: 110 values before, 100 after"]
    assert plan["census_unprotected"] == []
    assert nyxops("migrate", "apply", env=protected).code == 1
    assert scalar(db_url, "SELECT count(embedding) FROM pipeline_insights") == 110
