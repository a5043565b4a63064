"""``ALTER TABLE … SET SCHEMA``: the table leaves the schema the running app reads it from."""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "move-table"
MESSAGE = "Moving a table to another schema breaks every query of the running app that uses its old name."
HELP = "Create a view under the old name, or move it in a release where the app already uses the new schema."
NODES = ("AlterObjectSchemaStmt",)
FAIL = ["ALTER TABLE workflow_insights SET SCHEMA archive", "ALTER TABLE IF EXISTS public.t SET SCHEMA old"]
PASS = ["ALTER FUNCTION f() SET SCHEMA util", "ALTER VIEW v SET SCHEMA w"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if body.get("objectType") not in ("OBJECT_TABLE", "OBJECT_FOREIGN_TABLE") or "relation" not in body:
        return
    tables = ctx.tables(body["relation"])
    yield Hit(str(tables[0]), body["relation"].get("location"), tables=tables, detail=f"to {body.get('newschema')}")
