"""Writes to a protected column, whatever the WHERE: its existing values are what protection is for.

``UPDATE workflow_insights SET embedding = NULL WHERE id > 0`` loses embeddings as surely as a
drop. Caught in UPDATE, ``INSERT … ON CONFLICT DO UPDATE`` and MERGE, wherever they sit. A
backfill stays possible: a write restricted to rows where the column IS NULL changes no value
that existed. An allow comment cannot allow it; take the column out of the protected list first.
A generated column's new expression (PostgreSQL 17's ``SET EXPRESSION``) recomputes every value.
In a rule's action it blocks where the rule is created: the app's own writes fire it from commit on
(guard/check.py, ``_armed``). Through a view the file created on the table (``CREATE VIEW wv AS
SELECT * FROM workflow_insights``), a write lands in the table's column, and is caught as one.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.guard.where import restricted_to_null
from nyxops.names import QualifiedName
from nyxops.sql import Node

ID = "write-protected"
MESSAGE = "This overwrites existing values of a protected column."
HELP = "Write only where the column IS NULL (a backfill); to change existing values, unprotect the column first."
NODES = ("UpdateStmt", "InsertStmt", "MergeStmt", "AlterTableStmt")
FAIL = [
    "UPDATE workflow_insights SET embedding = NULL WHERE id > 0",
    "UPDATE public.workflow_insights SET embedding = '[1,2]' WHERE id = 1",
    "UPDATE workflow_insights SET (title, embedding) = ('x', NULL) WHERE id = 1",
    "INSERT INTO workflow_insights (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET embedding = NULL",
    "MERGE INTO workflow_insights w USING s ON w.id = s.id WHEN MATCHED THEN UPDATE SET embedding = s.e",
    "WITH x AS (UPDATE workflow_insights SET embedding = NULL WHERE id < 10 RETURNING 1) SELECT 1",
    "UPDATE workflow_insights w SET embedding = NULL FROM workflow_insights x WHERE x.embedding IS NULL",
    "UPDATE workflow_insights w SET embedding = NULL WHERE workflow_insights.embedding IS NULL",
    "UPDATE workflow_insights SET embedding = NULL WHERE other.workflow_insights.embedding IS NULL",
    "INSERT INTO workflow_insights (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET embedding = NULL "
    "WHERE excluded.embedding IS NULL",
    "MERGE INTO workflow_insights w USING s ON w.id = s.id WHEN MATCHED AND s.embedding IS NULL "
    "THEN UPDATE SET embedding = s.e",
    "DO $$ BEGIN EXECUTE format('UPDATE workflow_insights SET embedding = NULL WHERE id = %s', 7); END $$",
    "ALTER TABLE workflow_insights ALTER COLUMN embedding SET EXPRESSION AS (NULL::vector)",
    "CREATE RULE wipe AS ON UPDATE TO workflow_insights DO ALSO UPDATE workflow_insights SET embedding = NULL "
    "WHERE id = NEW.id",
    "CREATE RULE wipe AS ON INSERT TO notes DO ALSO UPDATE workflow_insights SET embedding = NULL WHERE id = NEW.id",
    "CREATE VIEW wv AS SELECT * FROM workflow_insights;\nUPDATE wv SET embedding = NULL WHERE id > ''",
    "CREATE VIEW wv (key, vec) AS SELECT id, embedding FROM public.workflow_insights w WHERE w.title <> '';\n"
    "CREATE VIEW wv2 AS SELECT vec AS v FROM wv;\nUPDATE wv2 SET v = '[0]' WHERE v IS NOT NULL",
]
PASS = [
    "UPDATE workflow_insights SET embedding = '[1,2]' WHERE embedding IS NULL AND id = 1",
    "UPDATE workflow_insights SET title = 'x' WHERE id = 1",
    "INSERT INTO workflow_insights (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding "
    "WHERE workflow_insights.embedding IS NULL",
    "UPDATE other SET embedding = NULL WHERE id = 1",
    "UPDATE workflow_insights w SET embedding = x.e FROM x WHERE w.embedding IS NULL AND w.id = x.id",
    "UPDATE public.workflow_insights SET embedding = '[1]' WHERE public.workflow_insights.embedding IS NULL",
    "MERGE INTO workflow_insights w USING s ON w.id = s.id WHEN MATCHED AND w.embedding IS NULL "
    "THEN UPDATE SET embedding = s.e",
    "ALTER TABLE workflow_insights ALTER COLUMN title SET EXPRESSION AS (upper(body))",
    "ALTER TABLE workflow_insights ALTER COLUMN embedding DROP EXPRESSION",
    "CREATE RULE fill AS ON INSERT TO notes DO ALSO UPDATE workflow_insights SET embedding = NEW.e "
    "WHERE id = NEW.id AND embedding IS NULL",
    "CREATE VIEW wv AS SELECT id, title FROM workflow_insights;\nUPDATE wv SET title = 'x' WHERE id > ''",
    "CREATE VIEW wv AS SELECT * FROM workflow_insights;\nUPDATE wv SET embedding = '[1]' WHERE embedding IS NULL",
]


def _protected(ctx: Scope, rel: Node, targets: list[Node]) -> list[tuple[str, tuple[QualifiedName, ...]]]:
    found: list[tuple[str, tuple[QualifiedName, ...]]] = []
    for target in targets:
        name = target.get("ResTarget", {}).get("name")
        if not name:
            continue
        columns = ctx.written_columns(rel, name)
        for col in ctx.protected:
            if any((c.schema, c.table, c.column) == (col.schema, col.table, col.column) for c in columns):
                found.append((name, (col,)))
    return found


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    rel = body.get("relation", {})
    writes: list[tuple[list[Node], Node | None, str]] = []
    if "cmds" in body:  # ALTER TABLE
        if body.get("objtype") in (None, "OBJECT_TABLE"):
            for cmd in body["cmds"]:
                command = cmd.get("AlterTableCmd", {})
                if command.get("subtype") == "AT_SetExpression" and command.get("name"):
                    target = [{"ResTarget": {"name": command["name"]}}]
                    writes.append((target, None, "SET EXPRESSION recomputes every value"))
    elif "mergeWhenClauses" in body:
        for when in body.get("mergeWhenClauses", []):
            clause = when.get("MergeWhenClause", {})
            if clause.get("commandType") == "CMD_UPDATE":
                writes.append((clause.get("targetList", []), clause.get("condition"), "MERGE … THEN UPDATE"))
    elif "onConflictClause" in body:
        conflict = body["onConflictClause"]
        if conflict.get("action") == "ONCONFLICT_UPDATE":
            writes.append((conflict.get("targetList", []), conflict.get("whereClause"), "ON CONFLICT DO UPDATE"))
    elif "targetList" in body and "selectStmt" not in body:
        writes.append((body.get("targetList", []), body.get("whereClause"), ""))
    for targets, where, how in writes:
        for name, columns in _protected(ctx, rel, targets):
            if not restricted_to_null(where, name, rel):
                yield Hit(str(columns[0]), rel.get("location"), columns=columns, detail=how)
