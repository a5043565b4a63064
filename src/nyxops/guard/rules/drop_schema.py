"""``DROP SCHEMA``: with CASCADE, every table in it goes too."""

from collections.abc import Iterator

from nyxops.guard.model import Hit, dropped_objects, is_cascade
from nyxops.guard.scope import Scope
from nyxops.names import QualifiedName, quote_part
from nyxops.sql import Node

ID = "drop-schema"
MESSAGE = "Dropping a schema deletes the tables in it (with CASCADE) and everything the app keeps there."
HELP = "Move what must stay out of the schema first; drop it with an allow comment naming it."
NODES = ("DropStmt",)
FAIL = ["DROP SCHEMA legacy CASCADE", "drop schema if exists a, b"]
PASS = ["DROP SEQUENCE schema_seq"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if body.get("removeType") != "OBJECT_SCHEMA":
        return
    for obj in dropped_objects(body):
        if isinstance(obj, dict) and "String" in obj:
            name = obj["String"]["sval"]
            tables = (QualifiedName(name, "*"),)
            yield Hit(quote_part(name), tables=tables, detail="CASCADE" if is_cascade(body) else "")
