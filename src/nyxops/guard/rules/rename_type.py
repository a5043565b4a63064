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
FAIL = [
    "ALTER TYPE mood RENAME TO feeling",
    "ALTER TYPE \"InsightKind\" RENAME VALUE 'bug' TO 'defect'",
    # Prisma's enum swap lifts the rename (guard/created_types.py) only when another type takes the
    # old name over and the renamed one is then dropped without CASCADE; short of that, it blocks.
    "ALTER TYPE mood RENAME TO mood_old;\nCREATE TYPE mood AS ENUM ('a')",
    "ALTER TYPE mood RENAME TO mood_old;\nDROP TYPE mood_old",
    "ALTER TYPE mood RENAME TO mood_old;\nCREATE TYPE mood AS ENUM ('a');\nDROP TYPE mood_old CASCADE",
    "ALTER TYPE mood RENAME TO mood_old;\nCREATE TYPE mood AS ENUM ('a');\nDROP TYPE mood;\nDROP TYPE mood_old",
    "ALTER TYPE mood RENAME TO mood_old;\nCREATE TYPE mood AS ENUM ('a');\nALTER TYPE mood RENAME TO m2;\n"
    "DROP TYPE mood_old",
    "CREATE TYPE mood_new AS ENUM ('a');\nALTER TYPE mood RENAME TO mood_old;\nALTER TYPE mood_new RENAME TO mood;\n"
    "ALTER TYPE mood_old SET SCHEMA archive;\nDROP TYPE mood_old",
    "CREATE TYPE app.mood AS ENUM ('a');\nALTER TYPE mood RENAME TO feeling",
    "ALTER TYPE mood RENAME TO mood_old;\nCREATE TYPE mood AS ENUM ('a');\n"
    "DO $$ BEGIN DROP TYPE mood; END $$;\nDROP TYPE mood_old",
]
PASS = ["ALTER TYPE mood ADD VALUE 'calm'", "ALTER TYPE mood OWNER TO bob"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if "oldVal" in body:  # AlterEnumStmt: RENAME VALUE (ADD VALUE has no oldVal)
        name = type_name(body.get("typeName", []), ctx.search_path[0])
        yield Hit(name, detail=f"value {body['oldVal']!r} to {body.get('newVal')!r}")
    elif body.get("renameType") in ("OBJECT_TYPE", "OBJECT_DOMAIN"):
        obj = body.get("object", {})
        items = obj.get("List", {}).get("items", []) if "List" in obj else [obj]
        yield Hit(type_name(items, ctx.search_path[0]), detail=f"to {body.get('newname')}")
