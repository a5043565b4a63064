"""A trigger armed by a migration to overwrite a protected column on the app's later edits.

The migration writes nothing, so no count before and after moves: each row the app updates from
then on loses its embedding. Lint reads the trigger only when the file writes both the trigger
and its function; every other way past it below lints clean, and ``migrate apply`` must refuse
it from the catalog, with the trigger as it was before and every embedding kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.helpers import add_migration, nyxops, scalar, snapshot

WIPE = "BEGIN IF NEW.title IS DISTINCT FROM OLD.title THEN NEW.embedding := NULL; END IF; RETURN NEW; END"
TOUCH = "BEGIN NEW.title := btrim(NEW.title); RETURN NEW; END"
KEEP = "BEGIN NEW.embedding := OLD.embedding; RETURN NEW; END"


def _function(name: str, body: str, replace: bool = False) -> str:
    verb = "CREATE OR REPLACE" if replace else "CREATE"
    return f"{verb} FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ {body} $$;\n"


def _trigger(function: str) -> str:
    return f"CREATE TRIGGER wi_edit BEFORE UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION {function}();\n"


EMBEDDINGS = "SELECT count(embedding) FROM workflow_insights"
EDIT = "UPDATE workflow_insights SET title = title || '!' WHERE id = (SELECT min(id) FROM workflow_insights)"
TRIGGER_STATE = "SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'wi_edit'"

# Each: what exists before (applied as a reviewed file, or set up by hand as the app's DBA might),
# then the migration under test, which lints clean.
ARMED = {
    "a function an earlier file created": (_function("wi_wipe", WIPE), None, _trigger("wi_wipe")),
    "its function replaced under it": (
        _function("wi_touch", TOUCH) + _trigger("wi_touch"),
        None,
        _function("wi_touch", WIPE, replace=True),
    ),
    "a disabled trigger enabled again": (
        None,
        _function("wi_wipe", WIPE) + _trigger("wi_wipe") + "ALTER TABLE workflow_insights DISABLE TRIGGER wi_edit;\n",
        "ALTER TABLE workflow_insights ENABLE TRIGGER wi_edit;\n",
    ),
    "built by dynamic SQL": (
        None,
        None,
        "DO $$ DECLARE f text := (SELECT 'wi_' || 'wipe'); t text := (SELECT 'workflow' || '_insights');\n"
        f"BEGIN\n  EXECUTE format('CREATE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS %L', f, '{WIPE}');\n"
        "  EXECUTE format('CREATE TRIGGER wi_edit BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION %I()', t, f);\n"
        "END $$;\n",
    ),
    "a function hidden in nyxops' schema": (
        None,
        None,
        "DO $$ DECLARE s text := (SELECT 'nyx' || 'ops'); t text := (SELECT 'workflow' || '_insights');\n"
        f"BEGIN\n  EXECUTE format('CREATE FUNCTION %I.wi_wipe() RETURNS trigger LANGUAGE plpgsql AS %L', s, '{WIPE}');\n"
        "  EXECUTE format('CREATE TRIGGER wi_edit BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION %I.wi_wipe()', t, s);\n"
        "END $$;\n",
    ),
}


def _before(env, db_url: str, migrations: Path, earlier: str | None, by_hand: str | None) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    if earlier:
        add_migration(migrations, "0004_earlier.sql", earlier)
        result = nyxops("migrate", "apply", env=env)
        assert result.code == 0, result.output
    if by_hand:
        with psycopg.connect(db_url) as conn:
            conn.execute(by_hand)


@pytest.mark.parametrize("way", sorted(ARMED))
def test_a_trigger_armed_to_wipe_embeddings_on_later_edits_is_refused(way: str, env, db_url, migrations: Path) -> None:
    earlier, by_hand, sql = ARMED[way]
    _before(env, db_url, migrations, earlier, by_hand)
    path = add_migration(migrations, "0005_arm.sql", sql)
    assert nyxops("lint", str(path), env=env).code == 0  # nothing lint can read says so
    trigger_before = scalar(db_url, TRIGGER_STATE)
    function_before = scalar(db_url, "SELECT array_agg(prosrc ORDER BY proname) FROM pg_proc WHERE proname LIKE 'wi_%'")
    data_before = snapshot(db_url)

    result = nyxops("migrate", "apply", env=env)
    said = " ".join(result.stderr.split())
    assert result.code == 1, result.output
    assert "0005_arm.sql lost no row today, but: public.workflow_insights trigger wi_edit (runs " in said
    assert (
        "()) sets NEW.embedding before every UPDATE, so from now on the app's own writes lose values of "
        "public.workflow_insights.embedding" in said
    )
    assert "Protected values cannot be allowed away" in said
    assert snapshot(db_url) == data_before
    assert scalar(db_url, TRIGGER_STATE) == trigger_before
    assert scalar(db_url, "SELECT array_agg(prosrc ORDER BY proname) FROM pg_proc WHERE proname LIKE 'wi_%'") == (
        function_before
    )
    with psycopg.connect(db_url) as conn:  # the app edits a title: the embedding stays
        conn.execute(EDIT)
        assert conn.execute(EMBEDDINGS).fetchone() == (382,)
        conn.rollback()

    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    refused = [s["refused"] for s in plan["statements"] if s.get("refused")]
    assert refused and refused[0].startswith("apply would refuse, protected values cannot be allowed away: ")


def test_the_same_trigger_made_by_hand_wipes_an_embedding_on_the_next_edit(env, db_url, migrations: Path) -> None:
    """The refusal is not a guess: the same migration run by hand wipes an embedding on the next edit."""
    _before(env, db_url, migrations, _function("wi_wipe", WIPE), None)
    with psycopg.connect(db_url) as conn:
        conn.execute(_trigger("wi_wipe"))
        conn.execute(EDIT)
        assert conn.execute(EMBEDDINGS).fetchone() == (381,)
        conn.rollback()


@pytest.mark.parametrize("body", [TOUCH, KEEP], ids=["sets another column", "keeps the old value"])
def test_a_trigger_that_leaves_the_protected_column_alone_applies(body: str, env, db_url, migrations: Path) -> None:
    _before(env, db_url, migrations, _function("wi_fn", body), None)
    add_migration(migrations, "0005_arm.sql", _trigger("wi_fn"))
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, TRIGGER_STATE) == "O"


def test_the_apps_own_trigger_does_not_block_other_migrations(env, db_url, migrations: Path) -> None:
    """A trigger that was there before the file, unchanged by it, is the app's business."""
    _before(env, db_url, migrations, None, _function("wi_wipe", WIPE) + _trigger("wi_wipe"))
    add_migration(migrations, "0005_column.sql", "ALTER TABLE workflow_insights ADD COLUMN score integer;\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'score'") == 1


NULL_EMBEDDINGS = "UPDATE workflow_insights SET embedding = NULL WHERE workflow_insights.title IS NOT NULL"
PIPELINE_EDIT = (
    "UPDATE pipeline_insights SET summary = summary || '!' WHERE id = (SELECT min(id) FROM pipeline_insights)"
)
WIPE_LATER = f"CREATE FUNCTION wipe_later() RETURNS void LANGUAGE sql AS $$ {NULL_EMBEDDINGS} $$;\n"
"""Created, never called by its file: lint warns, and apply lets it in."""
ON_EDIT = (
    "CREATE FUNCTION on_edit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM wipe_later(); RETURN NEW; END $$;\n"
    "CREATE TRIGGER wipe_all AFTER UPDATE ON pipeline_insights FOR EACH ROW EXECUTE FUNCTION on_edit();\n"
)
ARMED_ELSEWHERE = {  # armed on pipeline_insights: the app's writes there overwrite workflow_insights.embedding
    "a trigger for a body an earlier file created": (
        "CREATE FUNCTION wipe_all() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN\n"
        f"  {NULL_EMBEDDINGS}; RETURN NEW; END $$;\n",  # lint warns: created, never run by the file
        None,
        "CREATE TRIGGER wipe_all AFTER UPDATE ON pipeline_insights FOR EACH ROW EXECUTE FUNCTION wipe_all();\n",
    ),
    "a rule built by dynamic SQL": (
        None,
        None,
        "DO $$ DECLARE t text := (SELECT 'pipeline' || '_insights'); BEGIN\n"
        f"  EXECUTE format('CREATE RULE wipe AS ON UPDATE TO %I DO ALSO {NULL_EMBEDDINGS}', t);\nEND $$;\n",
    ),
    "a trigger whose function calls one an earlier file created": (
        WIPE_LATER,
        None,
        ON_EDIT,
    ),
    "a rule whose action calls one an earlier file created": (
        WIPE_LATER,
        None,
        "CREATE RULE wipe AS ON UPDATE TO pipeline_insights DO ALSO SELECT wipe_later();\n",
    ),
    "a function the app's trigger calls, replaced": (
        "CREATE FUNCTION wipe_later() RETURNS void LANGUAGE sql AS $$ SELECT 1 $$;\n" + ON_EDIT,
        None,
        WIPE_LATER.replace("CREATE", "CREATE OR REPLACE"),
    ),
    "a disabled rule enabled again": (
        None,
        f"CREATE RULE wipe AS ON UPDATE TO pipeline_insights DO ALSO {NULL_EMBEDDINGS};\n"
        "ALTER TABLE pipeline_insights DISABLE RULE wipe;\n",
        "ALTER TABLE pipeline_insights ENABLE RULE wipe;\n",
    ),
}
ARMED_STATE = (
    "SELECT (SELECT array_agg(ev_enabled::text) FROM pg_rewrite WHERE rulename = 'wipe'),"
    " (SELECT array_agg(tgname::text) FROM pg_trigger WHERE tgname = 'wipe_all')"
)


@pytest.mark.parametrize("way", sorted(ARMED_ELSEWHERE))
def test_a_trigger_or_rule_on_another_table_that_overwrites_embeddings_is_refused(
    way: str, env, db_url, migrations: Path
) -> None:
    earlier, by_hand, sql = ARMED_ELSEWHERE[way]
    _before(env, db_url, migrations, earlier, by_hand)
    path = add_migration(migrations, "0005_arm.sql", sql)
    assert nyxops("lint", str(path), env=env).code == 0
    state, data_before = scalar(db_url, ARMED_STATE), snapshot(db_url)

    result = nyxops("migrate", "apply", env=env)
    said = " ".join(result.stderr.split())
    assert result.code == 1, result.output
    assert "0005_arm.sql lost no row today, but: public.pipeline_insights " in said
    assert "does what lint's write-protected rule refuses, so from now on the app's own writes lose values of" in said
    assert snapshot(db_url) == data_before and scalar(db_url, ARMED_STATE) == state
    with psycopg.connect(db_url) as conn:  # the app edits a pipeline insight: every embedding stays
        conn.execute(PIPELINE_EDIT)
        assert conn.execute(EMBEDDINGS).fetchone() == (382,)
        conn.rollback()


def test_a_file_that_changes_no_function_a_trigger_calls_applies(env, db_url, migrations: Path) -> None:
    """The app's own trigger already wipes through wipe_later(); a file that creates another function
    changes nothing it does, and is not blamed for it."""
    _before(env, db_url, migrations, None, WIPE_LATER + ON_EDIT)
    add_migration(migrations, "0005_fn.sql", "CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$;\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
