"""``RENAME COLUMN``: the data stays, but the running app loses the column just the same."""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "rename-column"
MESSAGE = "Renaming a column breaks every query of the running app that uses the old name."
HELP = "Add the new column and keep both in sync until the app no longer reads the old one."
NODES = ("RenameStmt",)
FAIL = ["ALTER TABLE workflow_insights RENAME COLUMN embedding TO embedding_old", "ALTER TABLE t RENAME c TO d"]
PASS = ["ALTER TABLE t RENAME CONSTRAINT a TO b", "ALTER INDEX i RENAME TO j"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if body.get("renameType") != "OBJECT_COLUMN" or body.get("relationType") not in ("OBJECT_TABLE", None):
        return
    columns = ctx.columns(body["relation"], body.get("subname", "?"))
    yield Hit(str(columns[0]), body["relation"].get("location"), columns=columns, detail=f"to {body.get('newname')}")
