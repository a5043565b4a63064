"""``DELETE`` without a real ``WHERE``: the whole table.

A WHERE that is always true (``WHERE true``, ``1 = 1``, ``id = id``, ``… OR true``) is no WHERE,
and neither is the join of a ``MERGE … ON true … THEN DELETE``. A MERGE's ``WHEN NOT MATCHED BY
SOURCE THEN DELETE`` with no condition removes every row the source lacks: with an empty source,
all of them.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.guard.where import always_true, whole_table_merge
from nyxops.sql import Node

ID = "delete-all"
MESSAGE = "DELETE without a real WHERE removes every row of the table."
HELP = "Add the WHERE clause you mean; if it really is every row, allow it with a comment naming the table."
NODES = ("DeleteStmt", "MergeStmt")
FAIL = [
    "DELETE FROM workflow_insights",
    "delete from only public.t",
    "DELETE FROM workflow_insights WHERE true",
    "DELETE FROM t WHERE 1 = 1",
    "DELETE FROM t WHERE 'a' = 'a'",
    "DELETE FROM t WHERE id = id",
    "DELETE FROM t WHERE id = 5 OR true",
    "DELETE FROM t WHERE 't'::boolean",
    "DELETE FROM t WHERE NOT false",
    "MERGE INTO workflow_insights w USING projects p ON true WHEN MATCHED THEN DELETE",
    "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE",
    "WITH gone AS (DELETE FROM workflow_insights RETURNING id) SELECT count(*) FROM gone",
    "EXPLAIN ANALYZE DELETE FROM workflow_insights",
    "COPY (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) TO STDOUT",
]
PASS = [
    "DELETE FROM t WHERE id = 1",
    "DELETE FROM t USING u WHERE t.id = u.id",
    "DELETE FROM t WHERE id = 5 AND true",
    "DELETE FROM t WHERE 1 = 2 OR id = 3",
    "EXPLAIN DELETE FROM t",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
    "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE AND t.stale THEN DELETE",
]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    rel = body.get("relation", {})
    tables = ctx.tables(rel)
    if "mergeWhenClauses" in body:
        if whole_table_merge(body, "CMD_DELETE") is not None:
            yield Hit(str(tables[0]), rel.get("location"), tables=tables, detail="MERGE … THEN DELETE")
        return
    where = body.get("whereClause")
    if where is None or always_true(where):
        detail = "" if where is None else "its WHERE is always true"
        yield Hit(str(tables[0]), rel.get("location"), tables=tables, detail=detail)
