"""``DETACH PARTITION`` and ``NO INHERIT``: the rows stay, but the parent no longer shows them.

The running app reads the parent table; after the detach, every query of it misses the
partition's rows, as if they were deleted, though nothing was. It is the loss of a rename, for a
share of the rows. The usual reason (archiving an old partition) is a decision for an allow
comment naming the partition, once the app no longer reads those rows from the parent.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "detach-partition"
MESSAGE = "A detached partition (or inheritance child) keeps its rows, but every query of the parent misses them."
HELP = "Detach it once the app no longer reads those rows from the parent, with an allow comment naming the partition."
NODES = ("AlterTableStmt",)
FAIL = [
    "ALTER TABLE events DETACH PARTITION events_2019",
    "alter table public.events detach partition archive.events_2019 concurrently",
    "ALTER TABLE events DETACH PARTITION events_2019 FINALIZE",
    "ALTER TABLE dogs NO INHERIT animals",
]
PASS = [
    "ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
    "ALTER TABLE dogs INHERIT animals",
    "ALTER INDEX events_idx ATTACH PARTITION events_2025_idx",
]
_DETACH = {"AT_DetachPartition", "AT_DetachPartitionFinalize"}


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if body.get("objtype") not in (None, "OBJECT_TABLE") or "relation" not in body:
        return
    for cmd in body.get("cmds", []):
        command = cmd.get("AlterTableCmd", {})
        subtype, definition = command.get("subtype"), command.get("def", {})
        if subtype in _DETACH and "PartitionCmd" in definition:
            child, parent = definition["PartitionCmd"].get("name", {}), body["relation"]
        elif subtype == "AT_DropInherit" and "RangeVar" in definition:
            child, parent = body["relation"], definition["RangeVar"]
        else:
            continue
        children, parents = ctx.tables(child), ctx.tables(parent)
        yield Hit(str(children[0]), child.get("location"), tables=(*children, *parents), detail=f"from {parents[0]}")
