"""``DROP … CASCADE`` of anything a column or a table can depend on.

A collation, an access method, an operator class, a function (behind a generated column or a
default), a foreign server, a sequence: with CASCADE, PostgreSQL drops what depends on it, and
that can be columns and tables with their data. Types, domains, schemas and extensions have
rules of their own; this one covers the rest.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit, dropped_objects, is_cascade, name_list
from nyxops.guard.scope import Scope
from nyxops.names import dotted
from nyxops.sql import Node

ID = "drop-cascade"
MESSAGE = "DROP … CASCADE drops what depends on the object, columns and tables with their data included."
HELP = "Drop without CASCADE: PostgreSQL then names what depends on it, and you change that first."
NODES = ("DropStmt",)
FAIL = [
    'DROP COLLATION "de_DE" CASCADE',
    "DROP ACCESS METHOD my_am CASCADE",
    "DROP FUNCTION slugify(text) CASCADE",
    "DROP SERVER remote CASCADE",
    "DROP OPERATOR CLASS my_ops USING btree CASCADE",
    "DROP SEQUENCE ids CASCADE",
]
PASS = ["DROP COLLATION de", "DROP FUNCTION f(int)", "DROP VIEW v CASCADE", "DROP INDEX i CASCADE"]
_OWN_RULES = {
    "OBJECT_TABLE",
    "OBJECT_FOREIGN_TABLE",
    "OBJECT_SCHEMA",
    "OBJECT_EXTENSION",
    "OBJECT_TYPE",
    "OBJECT_DOMAIN",
}
_HARMLESS = {"OBJECT_VIEW", "OBJECT_INDEX", "OBJECT_MATVIEW", "OBJECT_TRIGGER", "OBJECT_POLICY", "OBJECT_RULE"}
"""What CASCADE from these can reach holds no data of its own (views, indexes, policies, rules)."""


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    kind = body.get("removeType", "")
    if not is_cascade(body) or kind in _OWN_RULES or kind in _HARMLESS or kind == "OBJECT_EVENT_TRIGGER":
        return
    for obj in dropped_objects(body):
        names: list[str] = []
        if isinstance(obj, list):
            names = name_list(obj)
        elif "String" in obj:
            names = [obj["String"]["sval"]]
        elif "ObjectWithArgs" in obj:
            names = name_list(obj["ObjectWithArgs"].get("objname", []))
        elif "TypeName" in obj:
            names = name_list(obj["TypeName"].get("names", []))
        label = kind.removeprefix("OBJECT_").lower().replace("_", " ")
        yield Hit(dotted(names) if names else label, detail=f"{label} CASCADE")
