"""A rule or trigger that makes the app's writes to workflow_insights do nothing, without an error.

The incident's second half: writes that "succeeded" and stored nothing. No value that exists is
lost, so neither the census nor the overwrite trigger moves; every re-embedding after commit is.
Lint refuses it where the file shows it (``silenced-write``); each way below lints clean, and
``migrate apply`` must refuse it from the catalog, with rules, triggers and rows as they were, and
the app's next write stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.guard.test_trigger_watch import _before
from tests.helpers import add_migration, nyxops, scalar, snapshot

RETURNS_NULL = "BEGIN RETURN NULL; END"
RETURNS_NEW = "BEGIN NEW.title := btrim(NEW.title); RETURN NEW; END"


def _function(body: str, replace: bool = False) -> str:
    verb = "CREATE OR REPLACE" if replace else "CREATE"
    return f"{verb} FUNCTION wi_keep() RETURNS trigger LANGUAGE plpgsql AS $$ {body} $$;\n"


TRIGGER = "CREATE TRIGGER wi_keep BEFORE UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION wi_keep();\n"
RULE = "CREATE RULE wi_keep AS ON UPDATE TO workflow_insights DO INSTEAD NOTHING;\n"
SILENCED = {  # (earlier reviewed file, set up by hand, the migration under test)
    "a rule built by dynamic SQL": (
        None,
        None,
        "DO $$ DECLARE t text := (SELECT 'workflow' || '_insights'); BEGIN\n"
        "  EXECUTE format('CREATE RULE wi_keep AS ON UPDATE TO %I DO INSTEAD NOTHING', t);\nEND $$;\n",
    ),
    "a disabled rule enabled again": (
        None,
        RULE + "ALTER TABLE workflow_insights DISABLE RULE wi_keep;\n",
        "ALTER TABLE workflow_insights ENABLE RULE wi_keep;\n",
    ),
    "a trigger for a function an earlier file created": (_function(RETURNS_NULL), None, TRIGGER),
    "its function replaced under it": (_function(RETURNS_NEW) + TRIGGER, None, _function(RETURNS_NULL, True)),
    "a trigger built by dynamic SQL": (
        _function(RETURNS_NULL),
        None,
        "DO $$ BEGIN EXECUTE (SELECT 'CREATE TRIGGER wi_keep BEFORE INSERT OR UPDATE ON workflow' || '_insights '\n"
        "  'FOR EACH ROW EXECUTE FUNCTION wi_keep()'); END $$;\n",
    ),
}
STATE = (
    "SELECT (SELECT array_agg(ev_enabled::text) FROM pg_rewrite WHERE rulename = 'wi_keep'),"
    " (SELECT array_agg(tgname::text) FROM pg_trigger WHERE tgname = 'wi_keep'),"
    " (SELECT array_agg(prosrc) FROM pg_proc WHERE proname = 'wi_keep')"
)
REEMBED = (
    "UPDATE workflow_insights SET embedding = array_fill(0.5, ARRAY[1536])::vector"
    " WHERE id = (SELECT min(id) FROM workflow_insights)"
)
STORED = "SELECT count(*) FROM workflow_insights WHERE embedding = array_fill(0.5, ARRAY[1536])::vector"


@pytest.mark.parametrize("way", sorted(SILENCED))
def test_a_rule_or_trigger_that_silences_the_apps_writes_is_refused(way: str, env, db_url, migrations: Path) -> None:
    earlier, by_hand, sql = SILENCED[way]
    _before(env, db_url, migrations, earlier, by_hand)
    path = add_migration(migrations, "0005_keep.sql", sql)
    assert nyxops("lint", str(path), env=env).code == 0  # nothing lint can read says so
    state, data_before = scalar(db_url, STATE), snapshot(db_url)

    result = nyxops("migrate", "apply", env=env)
    said = " ".join(result.stderr.split())
    assert result.code == 1, result.output
    assert "0005_keep.sql lost no row today, but: public.workflow_insights " in said
    how = (
        "rule wi_keep makes every UPDATE do nothing (DO INSTEAD NOTHING), so"
        if "rule" in way
        else ("trigger wi_keep (runs public.wi_keep()) returns NULL before every ")
    )
    assert how in said and "silenced-write rule" not in said, said
    assert "so from now on the app's own writes lose values of public.workflow_insights.embedding" in said
    assert snapshot(db_url) == data_before and scalar(db_url, STATE) == state
    with psycopg.connect(db_url) as conn:  # the app re-embeds a row: it is stored
        assert conn.execute(REEMBED).rowcount == 1
        assert conn.execute(STORED).fetchone() == (1,)
        conn.rollback()

    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    refused = [s["refused"] for s in plan["statements"] if s.get("refused")]
    assert refused and refused[0].startswith("apply would refuse, protected values cannot be allowed away: ")


@pytest.mark.parametrize("made", [RULE, _function(RETURNS_NULL) + TRIGGER], ids=["rule", "trigger"])
def test_the_same_silence_made_by_hand_stores_no_reembedding_and_raises_nothing(made: str, db_url, env) -> None:
    """The refusal is not a guess: made by hand, the app's re-embedding says UPDATE 0 and stores nothing."""
    assert nyxops("migrate", "apply", env=env).code == 0
    with psycopg.connect(db_url) as conn:
        conn.execute(made)
        assert conn.execute(REEMBED).rowcount == 0
        assert conn.execute(STORED).fetchone() == (0,)
        conn.rollback()


LOOKS_LIKE_ONE = {  # idioms that skip some writes and store this one, or keep rows: applied
    "redundant updates skipped (WHEN)": _function(RETURNS_NULL)
    + TRIGGER.replace("FOR EACH ROW", "FOR EACH ROW WHEN (OLD.* IS NOT DISTINCT FROM NEW.*)"),
    "redundant updates skipped (IF)": _function(
        "BEGIN IF NEW IS NOT DISTINCT FROM OLD THEN RETURN NULL; END IF; RETURN NEW; END"
    )
    + TRIGGER,
    "a rule with a WHERE": RULE.replace("DO INSTEAD", "WHERE OLD.title = 'frozen' DO INSTEAD"),
    "deletes made to do nothing": RULE.replace("ON UPDATE", "ON DELETE"),
}


@pytest.mark.parametrize("way", sorted(LOOKS_LIKE_ONE))
def test_a_trigger_or_rule_that_skips_only_some_writes_applies(way: str, env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    path = add_migration(migrations, "0005_skip.sql", LOOKS_LIKE_ONE[way])
    assert "silenced-write" not in nyxops("lint", str(path), env=env).output
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    with psycopg.connect(db_url) as conn:  # the app's re-embedding is stored
        assert conn.execute(REEMBED).rowcount == 1
        conn.rollback()
