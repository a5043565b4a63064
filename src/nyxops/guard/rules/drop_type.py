"""``DROP TYPE`` / ``DROP DOMAIN``: with CASCADE, every column of that type goes too."""

from collections.abc import Iterator

from nyxops.guard.model import Hit, dropped_objects, is_cascade, type_name
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "drop-type"
MESSAGE = "Dropping a type drops, with CASCADE, every column of that type."
HELP = "Change the columns that use it first; then drop the type without CASCADE, with an allow comment."
NODES = ("DropStmt",)
FAIL = [
    'DROP TYPE "InsightKind" CASCADE',
    "DROP TYPE mood",
    "DROP DOMAIN IF EXISTS email CASCADE",
    # A name the file gave a type that existed (guard/created_types.py) is let go only without CASCADE.
    "ALTER TYPE mood RENAME TO mood_old;\nDROP TYPE mood_old CASCADE",
    "CREATE TYPE app.mood AS ENUM ('a');\nDROP TYPE mood",
    "CREATE TYPE mood AS ENUM ('a');\nDO $$ BEGIN DROP TYPE mood CASCADE; END $$",
    # A type dropped is let go when another takes its name over, and only without CASCADE.
    "DROP TYPE mood;\nCREATE TYPE feeling AS ENUM ('a')",
    "DROP TYPE mood CASCADE;\nCREATE TYPE mood AS ENUM ('a')",
    "DROP TYPE mood;\nCREATE TYPE app.mood AS ENUM ('a')",
]
PASS = ["CREATE TYPE mood AS ENUM ('a')", "ALTER TYPE mood ADD VALUE 'b'"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if body.get("removeType") not in ("OBJECT_TYPE", "OBJECT_DOMAIN"):
        return
    for obj in dropped_objects(body):
        items = obj if isinstance(obj, list) else [obj]
        yield Hit(type_name(items, ctx.search_path[0]), detail="CASCADE" if is_cascade(body) else "")
