"""``ALTER TABLE … DROP [COLUMN]``: the column and every value in it are gone for good.

Instead of dropping a column in the same deploy that stops using it, stop writing it first,
deploy, and drop it in a later reviewed migration with ``-- nyxops:allow drop-column <object>``.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit, range_var
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
]
PASS = [
    "ALTER TABLE t ALTER COLUMN c DROP DEFAULT",
    "ALTER TABLE t ALTER COLUMN c DROP NOT NULL",
    "ALTER TABLE t DROP CONSTRAINT t_pkey",
    "ALTER TABLE drop_column ADD COLUMN drop_me int",
]


def check(body: Node) -> Iterator[Hit]:
    if body.get("objtype") not in (None, "OBJECT_TABLE", "OBJECT_FOREIGN_TABLE"):
        return
    table = range_var(body["relation"])
    for cmd in body.get("cmds", []):
        command = cmd.get("AlterTableCmd", {})
        if command.get("subtype") == "AT_DropColumn":
            column = table.__class__(table.schema, table.table, command.get("name"))
            yield Hit(str(column), body["relation"].get("location"), columns=(column,))
