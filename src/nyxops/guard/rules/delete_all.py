"""``DELETE`` without ``WHERE``: the whole table."""

from collections.abc import Iterator

from nyxops.guard.model import Hit, range_var
from nyxops.sql import Node

ID = "delete-all"
MESSAGE = "DELETE without WHERE removes every row of the table."
HELP = "Add the WHERE clause you mean (WHERE true, if really all, with an allow comment)."
NODES = ("DeleteStmt",)
FAIL = ["DELETE FROM workflow_insights", "delete from only public.t"]
PASS = ["DELETE FROM t WHERE id = 1", "DELETE FROM t USING u WHERE t.id = u.id"]


def check(body: Node) -> Iterator[Hit]:
    if body.get("whereClause") is None:
        table = range_var(body["relation"])
        yield Hit(str(table), body["relation"].get("location"), tables=(table,))
