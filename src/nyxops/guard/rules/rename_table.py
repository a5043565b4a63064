"""``ALTER TABLE … RENAME TO``: the running app loses the table just as if it were dropped."""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "rename-table"
MESSAGE = "Renaming a table breaks every query of the running app that uses the old name."
HELP = "Create a view with the old name, or rename in a release where the app already uses the new one."
NODES = ("RenameStmt",)
FAIL = ["ALTER TABLE workflow_insights RENAME TO insights", 'ALTER TABLE IF EXISTS "Project" RENAME TO projects']
PASS = ["ALTER VIEW v RENAME TO w", "ALTER SEQUENCE s RENAME TO t"]  # a view: rename-view


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if body.get("renameType") != "OBJECT_TABLE":
        return
    tables = ctx.tables(body["relation"])
    yield Hit(str(tables[0]), body["relation"].get("location"), tables=tables, detail=f"to {body.get('newname')}")
