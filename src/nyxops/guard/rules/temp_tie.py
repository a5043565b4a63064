"""A permanent table, type, trigger or index that uses a ``pg_temp`` type or function.

PostgreSQL lets a permanent column be of a temporary type, a table be typed by a temporary
composite, and a default, check, trigger or index call a temporary function. When the session
ends it drops the temporary schema with CASCADE, and what uses it goes too: the column with its
values, the whole table, after the commit and with nothing said (guard/temp_ties.py refuses it at
run time, whatever lint saw). Here: what names ``pg_temp`` (which the prefilter sends to the tree,
``ALWAYS``), and a bare type name the file gave a type it made in ``pg_temp``, or a TEMP table
(its row type): such a type is looked up there first, and its name is then watched by the prefilter.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit, name_list
from nyxops.guard.scope import Scope, made_type
from nyxops.sql import Node

ID = "temp-tie"
MESSAGE = "A permanent object that uses a pg_temp type or function is dropped with it when the session ends."
HELP = "Create the type or function in a schema of the app (CREATE DOMAIN app.words AS text), not in pg_temp."
NODES = ("CreateStmt", "AlterTableStmt", "CreateTrigStmt", "IndexStmt", "CreateDomainStmt", "CompositeTypeStmt")
FAIL = [
    "CREATE DOMAIN pg_temp.words AS text;\nALTER TABLE workflow_insights ALTER COLUMN content TYPE pg_temp.words",
    "ALTER TABLE workflow_insights ADD COLUMN moods pg_temp.mood[]",
    "CREATE TABLE insight_titles OF pg_temp.titled",
    "ALTER TABLE workflow_insights OF pg_temp.wi_row",
    "ALTER TABLE workflow_insights ADD COLUMN moods pg_temp_3.mood",
    "CREATE TABLE notes (id int, body text DEFAULT pg_temp.untitled())",
    "ALTER TABLE workflow_insights ALTER COLUMN title SET DEFAULT pg_temp.untitled()",
    "CREATE TRIGGER keep BEFORE UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION pg_temp.keep()",
    "CREATE INDEX wi_title_idx ON workflow_insights (pg_temp.norm(title))",
    "CREATE DOMAIN app.words AS pg_temp.words",
    'CREATE TYPE app.pair AS (a int, b "pg_temp".mood)',
    "DO $$ BEGIN ALTER TABLE t ADD COLUMN m pg_temp.mood; END $$",
    # A bare type name finds the session's temporary types first (functions are never looked up there).
    "CREATE DOMAIN pg_temp.words AS text;\nALTER TABLE workflow_insights ALTER COLUMN content TYPE words",
    "CREATE TYPE pg_temp.mood AS ENUM ('calm');\nALTER TABLE workflow_insights ADD COLUMN moods mood[]",
    "CREATE TYPE pg_temp.titled AS (id text, title text);\nCREATE TABLE insight_titles OF titled",
    "CREATE TYPE pg_temp.wi_row AS (id text);\nALTER TABLE workflow_insights OF wi_row",
    "CREATE TYPE pg_temp.mood AS ENUM ('calm');\nCREATE TABLE notes (id int, m text DEFAULT 'calm'::mood::text)",
    "CREATE TYPE pg_temp.r AS RANGE (subtype = int);\nALTER TABLE notes ADD COLUMN span r",
    "CREATE TEMP TABLE stage (a int);\nALTER TABLE workflow_insights ADD COLUMN s stage",  # its row type
]
PASS = [
    "CREATE TEMP TABLE stage (id int, m pg_temp.mood DEFAULT pg_temp.calm())",
    "CREATE TABLE pg_temp.stage (m pg_temp.mood)",
    "CREATE TABLE pg_temp_3.stage (m pg_temp.mood)",  # this session's own, named by number
    "CREATE DOMAIN pg_temp.words AS text",
    "CREATE TYPE pg_temp.pair AS (a int, b pg_temp.mood)",
    "CREATE TEMP TABLE stage (id int);\nALTER TABLE stage ADD COLUMN m pg_temp.mood",
    "CREATE TEMP TABLE stage (id int);\nCREATE TRIGGER k BEFORE INSERT ON stage EXECUTE FUNCTION pg_temp.k()",
    "CREATE TEMP TABLE stage (id int);\nCREATE INDEX ON stage (pg_temp.norm(id))",
    "INSERT INTO notes SELECT pg_temp.untitled()",
    "ALTER TABLE workflow_insights ADD COLUMN words text",
    "CREATE TYPE pg_temp.mood AS ENUM ('calm');\nCREATE TEMP TABLE stage (m mood)",
    "CREATE TYPE mood AS ENUM ('calm');\nALTER TABLE workflow_insights ADD COLUMN moods mood[]",
    "CREATE TYPE pg_temp.mood AS ENUM ('calm');\nALTER TABLE workflow_insights ADD COLUMN moods app.mood",
    "CREATE TEMP TABLE stage (a int);\nINSERT INTO stage VALUES (1);\nALTER TABLE workflow_insights ADD COLUMN s text",
]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    # ALTER TABLE: only what a command defines (a column, a default, a constraint) is read; DROP
    # COLUMN, the common one, defines nothing, and lint's time goes on no name lookup for it
    searched: object = body
    if ctx.kind == "AlterTableStmt":
        searched = [d for c in body.get("cmds", []) if (d := c.get("AlterTableCmd", {}).get("def"))]
        if not searched:
            return
    target = _permanent_target(ctx.kind, body, ctx)
    if target is None:
        return
    if ctx.kind == "CreateTrigStmt" and _temporary(name_list(body.get("funcname", []))):
        yield Hit(target, body.get("relation", {}).get("location"), detail="its trigger function")
        return
    for what, names, location in _uses(searched):
        bare = what == "type" and len(names) == 1 and (names[0] in ctx.temp_types or names[0] in ctx.temp)
        if bare or _temporary(names):
            yield Hit(target, location, detail=f"{what} pg_temp.{names[-1]}")
            return


_TYPE_KEYS = {"typeName", "ofTypename", "TypeName"}
"""Where a type name sits: pglast leaves out the ``TypeName`` wrapper where the field can hold nothing else."""


def _uses(node: object) -> Iterator[tuple[str, list[str], int | None]]:
    """Every type and function name below ``node``, with its location."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                if key in _TYPE_KEYS and isinstance(value, dict):
                    yield "type", name_list(value.get("names", [])), value.get("location")
                elif key == "FuncCall" and isinstance(value, dict):
                    yield "function", name_list(value.get("funcname", [])), value.get("location")
                if isinstance(value, dict | list):
                    stack.append(value)


def _temporary(names: list[str]) -> bool:
    """``pg_temp.x``, or ``pg_temp_3.x``: another session's, gone when that session ends."""
    return len(names) > 1 and (names[0] == "pg_temp" or names[0].startswith("pg_temp_"))


def _permanent_target(kind: str, body: Node, ctx: Scope) -> str | None:
    """The permanent object the statement makes or changes, or None when it is temporary."""
    if kind in ("CreateStmt", "AlterTableStmt", "CreateTrigStmt", "IndexStmt"):
        rel = body.get("relation")
        if not rel or (kind == "AlterTableStmt" and body.get("objtype") not in (None, "OBJECT_TABLE")):
            return None
        if rel.get("relpersistence") == "t":
            return None
        table = ctx.tables(rel)[0]
        return None if _temporary([table.schema, table.table]) else str(table)
    names = made_type(kind, body)  # CREATE DOMAIN, CREATE TYPE … AS (…)
    return None if not names or _temporary(names) else ".".join(names)
