"""``DELETE`` without a real ``WHERE``: the whole table.

A WHERE that is always true (``WHERE true``, ``1 = 1``, ``id = id``, ``… OR true``) is no WHERE,
nor is one that names no column (``coalesce(true, false)``: the same for every row), nor the
join of a ``MERGE … ON true … THEN DELETE``. A MERGE's ``WHEN NOT MATCHED BY SOURCE THEN DELETE``
with no condition removes every row the source lacks: with an empty source, all of them.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.guard.where import every_row, whole_table_merge
from nyxops.sql import Node

ID = "delete-all"
MESSAGE = "DELETE without a real WHERE removes every row of the table."
HELP = "Add the WHERE clause you mean; if it really is every row, allow it with a comment naming the table."
NODES = ("DeleteStmt", "MergeStmt")
FAIL = [
    "DELETE FROM workflow_insights",
    "CREATE VIEW wi AS SELECT * FROM workflow_insights;\n-- nyxops:allow delete-all public.wi\nDELETE FROM wi",
    "delete from only public.t",
    "DELETE FROM workflow_insights WHERE true",
    "DELETE FROM t WHERE 1 = 1",
    "DELETE FROM t WHERE 'a' = 'a'",
    "DELETE FROM t WHERE id = id",
    "DELETE FROM t WHERE id = 5 OR true",
    "DELETE FROM t WHERE 't'::boolean",
    "DELETE FROM t WHERE NOT false",
    "DELETE FROM t WHERE true = 't'",
    "DELETE FROM t WHERE 'Yes' = true",
    "DELETE FROM t WHERE ' of ' = false",
    "DELETE FROM t WHERE 'tr'::boolean",
    "DELETE FROM t WHERE coalesce(true, false)",
    "DELETE FROM t WHERE NULL IS NULL",
    "DELETE FROM t WHERE id > 5 OR NULL IS NULL",
    "DELETE FROM t WHERE id IS NOT DISTINCT FROM id",
    "DO $$ BEGIN EXECUTE 'DELETE FROM t WHERE ' || 1 || ' = ' || 1; END $$",
    "DELETE FROM t WHERE current_user = 'app'",
    "DELETE FROM t WHERE CASE WHEN 1 > 2 THEN false ELSE true END",
    "DELETE FROM t WHERE id IS NOT NULL OR id IS NULL",
    "DELETE FROM t WHERE a = 1 OR t.a IS NULL OR t.a IS NOT NULL",
    "MERGE INTO t USING s ON coalesce(true, false) WHEN MATCHED THEN DELETE",
    "MERGE INTO workflow_insights w USING projects p ON true WHEN MATCHED THEN DELETE",
    "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE",
    "WITH gone AS (DELETE FROM workflow_insights RETURNING id) SELECT count(*) FROM gone",
    "EXPLAIN ANALYZE DELETE FROM workflow_insights",
    "COPY (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) TO STDOUT",
    "DELETE FROM t WHERE id IN (SELECT id FROM t)",
    "DELETE FROM t WHERE id IN (SELECT t.id FROM t) OR id = 1",
    "DELETE FROM t WHERE now() > '2000-01-01'",
    "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u)",
    "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.active)",
    "DELETE FROM t WHERE EXISTS (SELECT 1 FROM t WHERE t.id = 5)",
]
PASS = [
    "DELETE FROM t WHERE id = 1",
    "DELETE FROM t USING u WHERE t.id = u.id",
    "DELETE FROM t WHERE id = 5 AND true",
    "DELETE FROM t WHERE 1 = 2 OR id = 3",
    "DELETE FROM t WHERE false = 't'",
    "DELETE FROM t WHERE false",
    "DELETE FROM t WHERE NULL",
    "DELETE FROM t WHERE random() < 0.5",
    "DELETE FROM t WHERE current_setting('app.purge') = 'yes' AND id = 1",
    "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)",
    "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE active)",
    "DELETE FROM t WHERE EXISTS (SELECT 1 FROM t AS t2 WHERE t2.id = t.parent)",
    "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id IN (SELECT id FROM v))",
    "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE created_at < now() - interval '30 days')",
    "DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY id OFFSET 100)",
    "DELETE FROM t WHERE id IN (SELECT DISTINCT ON (name) id FROM t ORDER BY name, id)",
    "DELETE FROM t WHERE id IN (SELECT id FROM u)",
    "DELETE FROM t WHERE random() < 0.5 AND now() > '2000-01-01'",
    "DELETE FROM t WHERE CURRENT OF c",
    "DELETE FROM t WHERE $1",
    "DELETE FROM t WHERE a IS NULL OR b IS NOT NULL",
    "DELETE FROM t WHERE a IS NULL AND a IS NOT NULL",
    "EXPLAIN DELETE FROM t",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
    "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE AND t.stale THEN DELETE",
]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    rel = body.get("relation", {})
    tables = ctx.written_tables(rel)
    if "mergeWhenClauses" in body:
        if whole_table_merge(body, "CMD_DELETE") is not None:
            yield Hit(str(tables[0]), rel.get("location"), tables=tables, detail="MERGE … THEN DELETE")
        return
    where = body.get("whereClause")
    reached = every_row(where, rel)
    if where is None or reached:
        yield Hit(str(tables[0]), rel.get("location"), tables=tables, detail=reached or "")
