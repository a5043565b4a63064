"""A rule or trigger that makes the app's writes to a protected table do nothing, silently.

``CREATE RULE keep AS ON UPDATE TO workflow_insights DO INSTEAD NOTHING`` loses no value that
exists: it loses every one the app writes from commit on, a re-embedding too, each reported as
``UPDATE 0`` with no error (the incident's "writes failed silently"). So does a BEFORE row
trigger whose function returns NULL on every path. Only certain silences count (guard/silence.py):
an INSTEAD rule with a WHERE or with actions, and a trigger with a WHEN, that returns NEW on some
path or writes elsewhere, reroute or skip some rows and are the reviewer's; one that raises an
error on some path (a read-only table) fails loudly. Triggers are read
where the file creates both the function and the trigger; the ledger reads the rest from the
catalog at run time. An allow comment cannot allow it; take the column out of the protected
list first.
"""

from collections.abc import Iterator

from nyxops.guard import silence
from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "silenced-write"
MESSAGE = "This makes the app's writes to a protected table do nothing, without an error."
HELP = (
    "Drop the rule or trigger. To keep the app from writing there, change the app; to send its writes "
    "elsewhere, give the INSTEAD rule an action (which passes)."
)
NODES = ("RuleStmt",)
_RETURNS_NULL = "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;\n"
FAIL = [
    "CREATE RULE keep AS ON UPDATE TO workflow_insights DO INSTEAD NOTHING",
    "CREATE OR REPLACE RULE keep AS ON INSERT TO public.workflow_insights DO INSTEAD NOTHING",
    _RETURNS_NULL + "CREATE TRIGGER keep BEFORE UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION keep()",
    "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP = 'UPDATE' THEN RETURN NULL; "
    "END IF; RETURN (NULL)::workflow_insights; END $$;\n"
    "CREATE TRIGGER keep BEFORE INSERT OR UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION keep()",
    "CREATE TRIGGER keep BEFORE UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION keep();\n"
    "CREATE OR REPLACE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
]
PASS = [
    "CREATE RULE keep AS ON UPDATE TO notes DO INSTEAD NOTHING",
    "CREATE RULE keep AS ON DELETE TO workflow_insights DO INSTEAD NOTHING",
    "CREATE RULE dup AS ON INSERT TO workflow_insights WHERE EXISTS (SELECT 1 FROM workflow_insights w "
    "WHERE w.id = NEW.id) DO INSTEAD NOTHING",
    "CREATE RULE route AS ON INSERT TO workflow_insights DO INSTEAD INSERT INTO workflow_insights_2026 VALUES (NEW.*)",
    "CREATE RULE log AS ON UPDATE TO workflow_insights DO ALSO NOTHING",
    _RETURNS_NULL + "CREATE TRIGGER keep BEFORE UPDATE ON workflow_insights FOR EACH ROW "
    "WHEN (OLD.* IS NOT DISTINCT FROM NEW.*) EXECUTE FUNCTION keep()",
    _RETURNS_NULL + "CREATE TRIGGER keep AFTER UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION keep()",
    _RETURNS_NULL + "CREATE TRIGGER keep BEFORE DELETE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION keep()",
    _RETURNS_NULL + "CREATE TRIGGER keep BEFORE UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION keep()",
    "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW IS NOT DISTINCT FROM OLD THEN "
    "RETURN NULL; END IF; RETURN NEW; END $$;\n"
    "CREATE TRIGGER keep BEFORE UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION keep()",
    "CREATE FUNCTION ro() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP = 'UPDATE' THEN "
    "RAISE EXCEPTION 'read only'; END IF; RETURN NULL; END $$;\n"
    "CREATE TRIGGER ro BEFORE UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION ro()",
    "CREATE FUNCTION route() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO workflow_insights_2026 "
    "VALUES (NEW.*); RETURN NULL; END $$;\n"
    "CREATE TRIGGER route BEFORE INSERT ON workflow_insights FOR EACH ROW EXECUTE FUNCTION route()",
]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    how = silence.by_rule(body)
    if how is None:
        return
    rel = body.get("relation", {})
    for table in ctx.tables(rel):
        for col in ctx.protected:
            if (table.schema, table.table) == (col.schema, col.table):
                detail = f"rule {body.get('rulename', '?')} on {table} {how}: {silence.UNSEEN}"
                yield Hit(str(col), rel.get("location"), tables=(table,), columns=(col,), detail=detail)
