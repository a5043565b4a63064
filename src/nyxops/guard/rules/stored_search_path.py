"""A search_path stored for a role, a database or the server: later sessions resolve names elsewhere.

``ALTER DATABASE nyxcore SET search_path = shadow, public`` after ``CREATE TABLE
shadow.workflow_insights (LIKE public.workflow_insights)`` loses nothing in the migration's own
transaction (every count is the same), and from the app's next connection on, each unqualified
``workflow_insights`` in its queries is the empty shadow table: the embeddings look gone, and new
ones land where nothing reads them. It is what ``move-table`` and ``rename-schema`` guard against,
done without touching the table. A search_path set for the migration's own session
(``SET search_path``), or for one function (``ALTER FUNCTION … SET search_path``, the usual
hardening), changes nothing for the app and passes.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "stored-search-path"
MESSAGE = (
    "This stores a search_path for later sessions: from its next connection the app may read and "
    "write other tables under the names it uses today."
)
HELP = (
    "Qualify the names where they are used, or leave the stored search_path alone; if the app is meant "
    "to move, allow it with a comment naming the role or database (system for ALTER SYSTEM)."
)
NODES = ("AlterRoleSetStmt", "AlterDatabaseSetStmt", "AlterSystemStmt")
FAIL = [
    "ALTER DATABASE nyxcore SET search_path = shadow, public",
    "ALTER ROLE app SET search_path TO shadow, public",
    "ALTER ROLE app IN DATABASE nyxcore SET search_path = shadow",
    "ALTER ROLE ALL SET search_path = shadow, public",
    "ALTER ROLE app RESET search_path",
    "ALTER ROLE CURRENT_USER SET search_path = shadow",
    "ALTER SYSTEM SET search_path = shadow, public",
    'ALTER DATABASE nyxcore SET "search_path" = shadow',
]
PASS = [
    "SET search_path = shadow, public",
    "ALTER FUNCTION f() SET search_path = pg_catalog, public",
    "ALTER DATABASE nyxcore SET statement_timeout = '30s'",
    "ALTER ROLE app SET work_mem = '64MB'",
]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    setstmt = body.get("setstmt", {})
    if str(setstmt.get("name", "")).lower() != "search_path":
        return
    if ctx.kind == "AlterDatabaseSetStmt":
        target = str(body.get("dbname", "?"))
    elif ctx.kind == "AlterRoleSetStmt":
        role = body.get("role")
        target = "all" if role is None else str(role.get("rolename") or role.get("roletype", "?")).lower()
        target = target.removeprefix("rolespec_")  # CURRENT_USER and its kind: no name of their own
    else:
        target = "system"
    yield Hit(target, setstmt.get("location"), detail=f"stored for {target}: every later session there")
