"""``ALTER SCHEMA … RENAME TO``: every table in it changes its name for the running app."""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.names import QualifiedName, quote_part
from nyxops.sql import Node

ID = "rename-schema"
MESSAGE = "Renaming a schema breaks every query of the running app that names a table in it."
HELP = "Rename it in a release where the app already uses the new name (search_path, or both names)."
NODES = ("RenameStmt",)
FAIL = ["ALTER SCHEMA public RENAME TO old_public", 'ALTER SCHEMA "App" RENAME TO app']
PASS = ["ALTER SCHEMA s OWNER TO bob", "CREATE SCHEMA renamed"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if body.get("renameType") != "OBJECT_SCHEMA":
        return
    name = body.get("subname", "?")
    yield Hit(quote_part(name), tables=(QualifiedName(name, "*"),), detail=f"to {body.get('newname')}")
