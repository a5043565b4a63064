"""``DROP DATABASE``: everything."""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.names import QualifiedName
from nyxops.sql import Node

ID = "drop-database"
MESSAGE = "Dropping a database deletes every table in it."
HELP = "Never in a migration; do it by hand, on purpose, after a backup."
NODES = ("DropdbStmt",)
FAIL = ["DROP DATABASE nyxcore", "drop database if exists old with (force)"]
PASS = ["DROP ROLE olduser"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    yield Hit(body.get("dbname", "?"), tables=(QualifiedName("*", "*"),))
