"""``DROP EXTENSION``: with CASCADE, every column of the extension's types goes too.

``DROP EXTENSION vector CASCADE`` drops every embedding column in the database.
"""

from collections.abc import Iterator

from nyxops.guard.model import ANY_PROTECTED, Hit, dropped_objects, is_cascade
from nyxops.guard.scope import Scope
from nyxops.names import quote_part
from nyxops.sql import Node

ID = "drop-extension"
MESSAGE = "Dropping an extension drops, with CASCADE, every column of its types (vector: all embeddings)."
HELP = "Drop the columns that use it first, each reviewed; then drop the extension without CASCADE."
NODES = ("DropStmt",)
FAIL = ["DROP EXTENSION vector CASCADE", "drop extension if exists pg_trgm"]
PASS = ["CREATE EXTENSION IF NOT EXISTS vector", "ALTER EXTENSION vector UPDATE"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if body.get("removeType") != "OBJECT_EXTENSION":
        return
    for obj in dropped_objects(body):
        if isinstance(obj, dict) and "String" in obj:
            name = obj["String"]["sval"]
            columns = (ANY_PROTECTED,) if name == "vector" else ()
            yield Hit(quote_part(name), columns=columns, detail="CASCADE" if is_cascade(body) else "")
