"""``ALTER COLUMN … TYPE``: rewrites every row, and a lossy cast (or ``USING``) changes data for good.

``ALTER TYPE … ALTER ATTRIBUTE … TYPE … CASCADE`` does the same to every typed table of the
composite type (``CREATE TABLE t OF spec``). Without CASCADE, PostgreSQL refuses it while any
column or typed table holds the type, so no stored value can change.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit, attribute_name
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "alter-column-type"
MESSAGE = "Changing a column's type rewrites the table and may change or lose values."
HELP = "Add a new column, backfill it, switch the app over, then drop the old one in a later release."
NODES = ("AlterTableStmt",)
FAIL = [
    "ALTER TABLE workflow_insights ALTER COLUMN embedding TYPE vector(768)",
    "ALTER TABLE t ALTER c SET DATA TYPE bigint",
    "ALTER TABLE t ALTER COLUMN c TYPE int USING c::int",
    "ALTER TYPE spec ALTER ATTRIBUTE b TYPE numeric(10,2) CASCADE",
]
PASS = [
    "ALTER TABLE t ALTER COLUMN c SET DEFAULT 1",
    "ALTER TABLE t ALTER COLUMN c SET NOT NULL",
    "ALTER TYPE spec ALTER ATTRIBUTE b TYPE numeric(10,2)",
]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    objtype = body.get("objtype")
    if objtype not in (None, "OBJECT_TABLE", "OBJECT_FOREIGN_TABLE", "OBJECT_TYPE"):
        return
    rel = body["relation"]
    for cmd in body.get("cmds", []):
        command = cmd.get("AlterTableCmd", {})
        if command.get("subtype") != "AT_AlterColumnType":
            continue
        if objtype == "OBJECT_TYPE":
            if command.get("behavior") == "DROP_CASCADE":
                attribute = attribute_name(ctx, rel, command)
                yield Hit(attribute, rel.get("location"), detail="rewrites the typed tables of the composite type")
            continue
        columns = ctx.columns(rel, command.get("name", "?"))
        yield Hit(str(columns[0]), rel.get("location"), columns=columns)
