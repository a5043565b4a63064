"""The one list of rule ids. An id not in it, in an allow comment, is an error (squawk's habit)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import cast

from nyxops.guard.model import Hit
from nyxops.guard.rules import (
    alter_column_type,
    delete_all,
    detach_partition,
    drop_cascade,
    drop_column,
    drop_database,
    drop_extension,
    drop_owned,
    drop_schema,
    drop_table,
    drop_type,
    guard_tamper,
    large_object,
    move_table,
    other_session,
    rename_column,
    rename_schema,
    rename_table,
    rename_type,
    rename_view,
    server_write,
    set_unlogged,
    silenced_write,
    stored_search_path,
    temp_tie,
    truncate,
    update_all,
    write_protected,
)
from nyxops.guard.scope import Scope
from nyxops.sql import Node

RULES: tuple[ModuleType, ...] = (
    drop_column,
    drop_table,
    drop_schema,
    drop_database,
    drop_extension,
    drop_type,
    drop_owned,
    truncate,
    set_unlogged,
    alter_column_type,
    rename_column,
    rename_table,
    rename_view,
    detach_partition,
    delete_all,
    update_all,
    write_protected,
    silenced_write,
    drop_cascade,
    move_table,
    rename_schema,
    rename_type,
    guard_tamper,
    other_session,
    large_object,
    server_write,
    stored_search_path,
    temp_tie,
)
DYNAMIC_SQL = "dynamic-sql"
INVALID_ALLOW = "invalid-allow"
UNUSED_ALLOW = "unused-allow"
INDIRECT_WRITE = "indirect-write"
"""Allowed by comment, checked only at run time (the ledger): rows lost in a table the file never writes."""
META_RULES = {
    INDIRECT_WRITE: "Rows deleted, overwritten or truncated in a table no statement names (a trigger, a cascade, "
    "dynamic SQL); the run-time ledger refuses it unless an allow comment names the table.",
    DYNAMIC_SQL: "Dynamic SQL that cannot be read statically. When it runs, the runtime guard refuses its drops, "
    "the protected values it would lose and rows it changes in tables no statement names; the rest (rows or a "
    "type change of a table the file names) is for the reviewer, in migrate plan's ledger.",
    INVALID_ALLOW: "An allow comment names an unknown rule or no object.",
    UNUSED_ALLOW: "An allow comment matches nothing in the statement below it.",
}
BY_ID: dict[str, ModuleType] = {rule.ID: rule for rule in RULES}
COLUMN_RULES = {"drop-column", "alter-column-type", "rename-column", "write-protected", "silenced-write"}
TABLE_RULES = {
    "indirect-write",
    "drop-table",
    "truncate",
    "rename-table",
    "rename-view",
    "delete-all",
    "update-all",
    "move-table",
    "set-unlogged",
    "detach-partition",
}

Checker = Callable[[Node, Scope], Iterator[Hit]]
_BY_NODE: dict[str, list[ModuleType]] = {}
for _rule in RULES:
    for _node in _rule.NODES:
        _BY_NODE.setdefault(_node, []).append(_rule)


_CHECKS: dict[str, list[tuple[str, Checker]]] = {
    kind: [(rule.ID, cast(Checker, rule.check)) for rule in rules] for kind, rules in _BY_NODE.items()
}


def checks_for(kind: str) -> list[tuple[str, Checker]]:
    """The (rule id, check) pairs for a node kind, looked up once per node: lint visits thousands."""
    return _CHECKS.get(kind, [])


def explain(rule_id: str) -> str:
    """The rule's page: message, help, and its SQL cases (``nyxops lint --explain``)."""
    if rule_id in META_RULES:
        return f"{rule_id}: {META_RULES[rule_id]}"
    rule = BY_ID.get(rule_id)
    if rule is None:
        raise KeyError(rule_id)
    doc = (rule.__doc__ or "").strip()
    lines = [f"{rule.ID}: {rule.MESSAGE}", "", doc, "", f"Instead: {rule.HELP}", "", "Caught:"]
    lines += [f"  {sql};" for sql in rule.FAIL] + ["", "Passes:"] + [f"  {sql};" for sql in rule.PASS]
    return "\n".join(lines)
