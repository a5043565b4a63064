"""``ALTER COLUMN … TYPE``: rewrites every row, and a lossy cast (or ``USING``) changes data for good."""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "alter-column-type"
MESSAGE = "Changing a column's type rewrites the table and may change or lose values."
HELP = "Add a new column, backfill it, switch the app over, then drop the old one in a later release."
NODES = ("AlterTableStmt",)
FAIL = [
    "ALTER TABLE workflow_insights ALTER COLUMN embedding TYPE vector(768)",
    "ALTER TABLE t ALTER c SET DATA TYPE bigint",
    "ALTER TABLE t ALTER COLUMN c TYPE int USING c::int",
]
PASS = ["ALTER TABLE t ALTER COLUMN c SET DEFAULT 1", "ALTER TABLE t ALTER COLUMN c SET NOT NULL"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if body.get("objtype") not in (None, "OBJECT_TABLE", "OBJECT_FOREIGN_TABLE"):
        return
    for cmd in body.get("cmds", []):
        command = cmd.get("AlterTableCmd", {})
        if command.get("subtype") == "AT_AlterColumnType":
            columns = ctx.columns(body["relation"], command.get("name", "?"))
            yield Hit(str(columns[0]), body["relation"].get("location"), columns=columns)
