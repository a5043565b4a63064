"""``DROP OWNED BY``: every table the role owns, in the current database."""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.names import QualifiedName
from nyxops.sql import Node

ID = "drop-owned"
MESSAGE = "DROP OWNED drops every table the role owns, with its rows."
HELP = "Use REASSIGN OWNED BY … TO … first, then DROP OWNED only removes privileges."
NODES = ("DropOwnedStmt",)
FAIL = ["DROP OWNED BY nyxcore", "drop owned by a, b cascade"]
PASS = ["REASSIGN OWNED BY a TO b"]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    roles = [r.get("RoleSpec", {}).get("rolename", "?") for r in body.get("roles", [])]
    yield Hit(",".join(roles), tables=(QualifiedName("*", "*"),))
