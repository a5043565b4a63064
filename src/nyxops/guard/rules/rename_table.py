"""``ALTER TABLE … RENAME TO``: the running app loses the table just as if it were dropped."""

from collections.abc import Iterator

from nyxops.guard.model import Hit, range_var
from nyxops.sql import Node

ID = "rename-table"
MESSAGE = "Renaming a table breaks every query of the running app that uses the old name."
HELP = "Create a view with the old name, or rename in a release where the app already uses the new one."
NODES = ("RenameStmt",)
FAIL = ["ALTER TABLE workflow_insights RENAME TO insights", 'ALTER TABLE IF EXISTS "Project" RENAME TO projects']
PASS = ["ALTER VIEW v RENAME TO w", "ALTER SEQUENCE s RENAME TO t"]


def check(body: Node) -> Iterator[Hit]:
    if body.get("renameType") != "OBJECT_TABLE":
        return
    table = range_var(body["relation"])
    yield Hit(str(table), body["relation"].get("location"), tables=(table,), detail=f"to {body.get('newname')}")
