"""``UPDATE`` without a real ``WHERE``: every row overwritten (a WHERE always true, or naming no column, is none)."""

from collections.abc import Iterator

from nyxops.guard.model import Hit, target_columns
from nyxops.guard.scope import Scope
from nyxops.guard.where import every_row, whole_table_merge
from nyxops.sql import Node

ID = "update-all"
MESSAGE = "UPDATE without a real WHERE overwrites the columns it sets in every row."
HELP = "Add the WHERE clause you mean (for a backfill: WHERE col IS NULL)."
NODES = ("UpdateStmt", "MergeStmt")
FAIL = [
    "UPDATE workflow_insights SET embedding = NULL",
    "update t set a = 1, b = 2",
    "UPDATE t SET a = 1 WHERE true",
    "UPDATE t SET a = 1 WHERE a = a",
    "UPDATE t SET a = 1 WHERE a > 3 OR 1 = 1",
    "UPDATE t SET a = 1 WHERE true = 'on'",
    "UPDATE t SET a = 1 WHERE greatest(1, 2) = 2",
    "MERGE INTO t USING s ON 1 = 1 WHEN MATCHED THEN UPDATE SET a = s.a",
    "WITH u AS (UPDATE t SET a = 0 RETURNING id) SELECT 1",
    "UPDATE t SET a = 1 WHERE now() > '2020-01-01'",
    "UPDATE t SET a = 1 WHERE pg_catalog.current_setting('app.go') = 'yes'",
    "UPDATE t SET a = 1 WHERE id IN (SELECT id FROM t)",
    "UPDATE public.t AS x SET a = 1 WHERE x.id = ANY (SELECT t.id FROM public.t)",
    "UPDATE t SET a = 1 WHERE (SELECT count(*) FROM u) > 0",
    "UPDATE t SET a = 1 WHERE id > 0 OR NULL IS NULL",
    "UPDATE t SET a = 1 WHERE id > 0 OR NULL::int IS NULL",
    "UPDATE t SET a = 1 WHERE id IS NOT DISTINCT FROM id",
    "UPDATE t SET a = 1 WHERE id < 5 OR 'a' IS NOT DISTINCT FROM 'a'",
]
PASS = [
    "UPDATE t SET a = 1 WHERE a IS NULL",
    "UPDATE t SET a = 1 WHERE 1 = 1 AND id = 4",
    "UPDATE t SET a = 1 WHERE true = 'off'",
    "UPDATE t SET a = 1 WHERE now() > created_at",
    "UPDATE t SET a = 1 WHERE clock_timestamp() > '2020-01-01'",
    "UPDATE t SET a = 1 WHERE id IN (SELECT id FROM t WHERE stale)",
    "UPDATE t SET a = 1 WHERE id IN (SELECT id FROM t LIMIT 10)",
    "UPDATE t SET a = 1 WHERE id IN (SELECT id FROM other.t)",
    "UPDATE t SET a = 1 WHERE id IN (SELECT other_id FROM t)",
    "UPDATE t SET a = 1 WHERE id NOT IN (SELECT min(id) FROM t GROUP BY name)",
    "UPDATE t SET a = 1 WHERE (SELECT count(*) FROM u WHERE u.t_id = id) > 0",
    "UPDATE t SET a = 1 WHERE id > 0 OR NULL IS NOT NULL",
    "UPDATE t SET a = 1 WHERE id IS NOT DISTINCT FROM other_id",
    "UPDATE t SET a = 1 WHERE id > 0 OR 'a' IS NOT DISTINCT FROM 'b'",
    "UPDATE t SET a = 1 WHERE id IS DISTINCT FROM id",
]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    rel = body.get("relation", {})
    if "mergeWhenClauses" in body:
        clause = whole_table_merge(body, "CMD_UPDATE")
        if clause is not None:
            columns = target_columns(ctx, rel, clause.get("targetList", []))
            yield Hit(str(ctx.table(rel)), rel.get("location"), tables=ctx.written_tables(rel), columns=columns)
        return
    where = body.get("whereClause")
    reached = every_row(where, rel)
    if where is not None and not reached:
        return
    columns = target_columns(ctx, rel, body.get("targetList", []))
    yield Hit(str(ctx.table(rel)), rel.get("location"), columns=columns, detail=reached or "")
