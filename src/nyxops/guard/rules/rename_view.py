"""``ALTER VIEW … RENAME TO``: a view is read by the app like a table, and loses its name the same way."""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "rename-view"
MESSAGE = "Renaming a view breaks every query of the running app that reads it under the old name."
HELP = (
    "Create a view with the old name over the new one (CREATE VIEW old AS SELECT * FROM new), "
    "or rename in a release where the app already uses the new name."
)
NODES = ("RenameStmt",)
FAIL = [
    "ALTER VIEW recent_insights RENAME TO insights_recent",
    "ALTER VIEW IF EXISTS app.recent RENAME TO recent_old",
    "ALTER MATERIALIZED VIEW insight_stats RENAME TO insight_stats_old",
]
PASS = [
    "ALTER VIEW recent_insights OWNER TO app",
    "ALTER VIEW recent_insights ALTER COLUMN title SET DEFAULT 'x'",
    "ALTER SEQUENCE s RENAME TO t",
    "ALTER INDEX i RENAME TO j",
]
_VIEWS = {"OBJECT_VIEW", "OBJECT_MATVIEW"}


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if body.get("renameType") not in _VIEWS:
        return
    views = ctx.tables(body["relation"])
    yield Hit(str(views[0]), body["relation"].get("location"), tables=views, detail=f"to {body.get('newname')}")
