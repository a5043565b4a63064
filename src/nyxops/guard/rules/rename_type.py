"""``ALTER TYPE … RENAME TO`` / ``RENAME VALUE``: the running app loses a name it reads and writes.

An enum value renamed under the app's feet makes its inserts fail; a renamed type breaks its casts.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit, type_name
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "rename-type"
MESSAGE = "Renaming a type or an enum value breaks the running app's queries that use the old name."
HELP = "Add the new value (ALTER TYPE … ADD VALUE), switch the app and the data over, and drop the old one later."
NODES = ("RenameStmt", "AlterEnumStmt")
FAIL = ["ALTER TYPE mood RENAME TO feeling", "ALTER TYPE \"InsightKind\" RENAME VALUE 'bug' TO 'defect'"]
PASS = ["ALTER TYPE mood ADD VALUE 'calm'", "ALTER TYPE mood OWNER TO bob"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if "oldVal" in body:  # AlterEnumStmt: RENAME VALUE (ADD VALUE has no oldVal)
        name = type_name(body.get("typeName", []), ctx.search_path[0])
        yield Hit(name, detail=f"value {body['oldVal']!r} to {body.get('newVal')!r}")
    elif body.get("renameType") in ("OBJECT_TYPE", "OBJECT_DOMAIN"):
        obj = body.get("object", {})
        items = obj.get("List", {}).get("items", []) if "List" in obj else [obj]
        yield Hit(type_name(items, ctx.search_path[0]), detail=f"to {body.get('newname')}")
