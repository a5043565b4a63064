"""``TRUNCATE``: every row, instantly, with no WHERE to get wrong."""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "truncate"
MESSAGE = "TRUNCATE deletes every row of the table."
HELP = "Delete the rows you mean with a WHERE clause, or allow it on the exact table."
NODES = ("TruncateStmt",)
FAIL = ["TRUNCATE workflow_insights", "truncate table only a, b restart identity cascade", "TRUNCATE public.t"]
PASS = ["SELECT 'truncate table t'"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    for rel in body.get("relations", []):
        tables = ctx.tables(rel["RangeVar"])
        yield Hit(str(tables[0]), rel["RangeVar"].get("location"), tables=tables)
