"""``ALTER TABLE … SET UNLOGGED``: every row the table holds survives only until the next crash.

An unlogged table is not written to the WAL: after a crash or an unclean shutdown PostgreSQL
empties it, a streaming replica and a physical backup (``pg_basebackup``, a snapshot restored
with its WAL) hold it empty, and nothing says so. The rows are lost later, quietly, which is the
loss this project exists to prevent. A table created in the same file holds nothing yet.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "set-unlogged"
MESSAGE = "An unlogged table is emptied after a crash and is empty on replicas and in physical backups."
HELP = "Keep tables whose rows matter logged; for a table of throwaway data, allow it with a comment naming it."
NODES = ("AlterTableStmt",)
FAIL = [
    "ALTER TABLE workflow_insights SET UNLOGGED",
    "alter table if exists only public.t add column x int, set unlogged",
]
PASS = [
    "ALTER TABLE t SET LOGGED",
    "CREATE UNLOGGED TABLE cache_entries (k text PRIMARY KEY, v jsonb)",
    "ALTER TABLE t SET (fillfactor = 70)",
    "ALTER INDEX unlogged_idx SET TABLESPACE fast",
]


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if body.get("objtype") not in (None, "OBJECT_TABLE") or "relation" not in body:
        return
    for cmd in body.get("cmds", []):
        if cmd.get("AlterTableCmd", {}).get("subtype") == "AT_SetUnLogged":
            tables = ctx.tables(body["relation"])
            yield Hit(str(tables[0]), body["relation"].get("location"), tables=tables)
            return
