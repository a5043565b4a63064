"""``UPDATE`` without ``WHERE``: every row overwritten."""

from collections.abc import Iterator

from nyxops.guard.model import Hit, range_var
from nyxops.names import QualifiedName
from nyxops.sql import Node

ID = "update-all"
MESSAGE = "UPDATE without WHERE overwrites the columns it sets in every row."
HELP = "Add the WHERE clause you mean (for a backfill: WHERE col IS NULL)."
NODES = ("UpdateStmt",)
FAIL = ["UPDATE workflow_insights SET embedding = NULL", "update t set a = 1, b = 2"]
PASS = ["UPDATE t SET a = 1 WHERE a IS NULL"]


def check(body: Node) -> Iterator[Hit]:
    if body.get("whereClause") is not None:
        return
    table = range_var(body["relation"])
    columns = tuple(
        QualifiedName(table.schema, table.table, t["ResTarget"]["name"])
        for t in body.get("targetList", [])
        if t.get("ResTarget", {}).get("name")
    )
    yield Hit(str(table), body["relation"].get("location"), columns=columns)
