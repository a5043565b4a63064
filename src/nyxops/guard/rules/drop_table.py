"""``DROP TABLE``: every row of every named table is gone."""

from collections.abc import Iterator

from nyxops.guard.model import Hit, dropped_objects
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "drop-table"
MESSAGE = "Dropping a table deletes all of its rows."
HELP = "Rename it out of the way in one release and drop it in a later one, with an allow comment naming it."
NODES = ("DropStmt",)
FAIL = ["DROP TABLE workflow_insights", "drop table if exists a, public.b cascade", 'DROP TABLE "Project"']
PASS = ["DROP VIEW v", "DROP INDEX idx", "DROP FUNCTION f()", "DROP MATERIALIZED VIEW mv"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if body.get("removeType") not in ("OBJECT_TABLE", "OBJECT_FOREIGN_TABLE"):
        return
    for obj in dropped_objects(body):
        if isinstance(obj, list):
            tables = ctx.from_list(obj)
            yield Hit(str(tables[0]), tables=tables)
