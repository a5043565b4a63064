"""``ALTER TABLE … DROP [COLUMN]``: the column and every value in it are gone for good.

Instead of dropping a column in the same deploy that stops using it, stop writing it first,
deploy, and drop it in a later reviewed migration with ``-- nyxops:allow drop-column <object>``.
``ALTER TYPE … DROP ATTRIBUTE`` is the same loss for every column of that composite type.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit, attribute_name
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "drop-column"
MESSAGE = "Dropping a column deletes its data in every row."
HELP = "Stop using the column first; drop it in a later release with an allow comment naming it."
NODES = ("AlterTableStmt",)
FAIL = [
    "ALTER TABLE workflow_insights DROP COLUMN embedding",
    'ALTER TABLE "workflow_insights" DROP COLUMN "embedding", ADD COLUMN "embedding" vector(1536)',
    "alter table only public.t drop if exists c cascade",
    "ALTER TABLE t DROP c",
    'ALTER TABLE "Sch"."Tab" ADD COLUMN x int, DROP COLUMN "Old"',
    "ALTER TYPE address DROP ATTRIBUTE street",
    "DO $$ DECLARE s text := format('ALTER TABLE %I DROP %I', 'workflow_insights', 'embedding');"
    " BEGIN EXECUTE s; END $$",
    "DO $$ DECLARE t text; BEGIN FOR t IN SELECT unnest(ARRAY['users', 'posts']) LOOP"
    " EXECUTE format('ALTER TABLE %I DROP COLUMN legacy', t); END LOOP; END $$",
]
PASS = [
    "ALTER TABLE t ALTER COLUMN c DROP DEFAULT",
    "ALTER TABLE t ALTER COLUMN c DROP NOT NULL",
    "ALTER TABLE t DROP CONSTRAINT t_pkey",
    "ALTER TABLE drop_column ADD COLUMN drop_me int",
    "ALTER TYPE address ADD ATTRIBUTE zip text",
]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    objtype = body.get("objtype")
    if objtype not in (None, "OBJECT_TABLE", "OBJECT_FOREIGN_TABLE", "OBJECT_TYPE"):
        return
    rel = body.get("relation", {})
    for cmd in body.get("cmds", []):
        command = cmd.get("AlterTableCmd", {})
        if command.get("subtype") != "AT_DropColumn":
            continue
        if objtype == "OBJECT_TYPE":
            yield Hit(attribute_name(ctx, rel, command), rel.get("location"), detail="an attribute of a composite type")
            continue
        columns = ctx.columns(rel, command.get("name", "?"))
        yield Hit(str(columns[0]), rel.get("location"), columns=columns)
