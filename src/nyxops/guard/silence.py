"""Triggers and rules that make the app's writes to a protected table do nothing, and say nothing.

The incident had two halves: the embeddings were dropped, and then writes failed without an
error. ``CREATE RULE … ON UPDATE TO workflow_insights DO INSTEAD NOTHING``, or a BEFORE UPDATE
row trigger whose function returns NULL, turns each later UPDATE of the app (a re-embedding
too) into ``UPDATE 0``: nothing is raised, nothing is stored, and no value that exists today is
lost, so neither the census nor the overwrite trigger moves. Only a silence that is certain
counts, so that the old idioms that only look like one pass:

- a rule: ``DO INSTEAD NOTHING`` with no WHERE. An INSTEAD rule with actions reroutes the write
  (partitioning by rules), one with a WHERE skips only some rows (duplicates): the reviewer's.
- a trigger: BEFORE … FOR EACH ROW on INSERT or UPDATE, no WHEN, a PL/pgSQL function whose every
  RETURN is NULL, which runs no SQL itself and raises no error. A WHEN (``OLD IS NOT DISTINCT FROM
  NEW``: the redundant-update idiom), a RETURN of NEW on some path, an INSERT in the body
  (partitioning by triggers, which carries the row elsewhere) leaves it to the reviewer, and a
  RAISE EXCEPTION (a read-only table) fails the write loudly.

Read by lint from the file's own statements (guard/check.py, guard/rules/silenced_write.py) and
by the ledger from the catalog at run time (guard/trigger_watch.py), for what dynamic SQL made.
"""

from __future__ import annotations

from pglast import parser

from nyxops.guard import dynamic
from nyxops.guard.fold import expression_tree
from nyxops.sql import Node, walk

EVENTS = {"CMD_INSERT": "INSERT", "CMD_UPDATE": "UPDATE"}
"""The writes a silence loses (a DELETE made to do nothing keeps data; it is not one)."""

UNSEEN = "each of the app's writes there reports success and stores nothing"

_WRITES = ("PLpgSQL_stmt_execsql", "PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_call")
"""Body statements that may carry the row elsewhere: SQL, EXECUTE, CALL (a PERFORM is a SELECT)."""
_ERROR = 21
"""PostgreSQL's ERROR level: a ``RAISE`` (EXCEPTION, the default) at it or above makes the write fail loudly."""


def by_rule(node: Node) -> str | None:
    """How a RuleStmt silences its table's writes (``makes every UPDATE do nothing``), or None."""
    verb = EVENTS.get(str(node.get("event", "")))
    if verb is None or not node.get("instead") or node.get("actions") or "whereClause" in node:
        return None
    return f"makes every {verb} do nothing (DO INSTEAD NOTHING)"


def by_trigger_function(whole: str) -> bool:
    """Whether a PL/pgSQL trigger function (its CREATE FUNCTION) returns NULL on every path, runs
    no SQL itself (which may carry the row elsewhere) and raises no error on any path (a read-only
    table's trigger fails loudly, which is not silence): per row, before the write, it makes the
    write do nothing.

    A RETURN without an expression returns a variable (``RETURN NEW`` is compiled to one)."""
    try:
        tree = dynamic.plpgsql_tree(whole)
    except (parser.ParseError, RecursionError):
        return False  # the body's own problem is reported where it is walked
    returns: list[str | None] = []
    for kind, node in walk(tree):
        loud = kind == "PLpgSQL_stmt_assert" or (
            kind == "PLpgSQL_stmt_raise" and int(node.get("elog_level", _ERROR)) >= _ERROR
        )
        if kind in _WRITES or loud:
            return False
        if kind == "PLpgSQL_stmt_return":
            returns.append(node.get("expr", {}).get("PLpgSQL_expr", {}).get("query"))
    return bool(returns) and all(query is not None and _is_null(query) for query in returns)


def by_trigger(events: set[str], before_row: bool, when: bool, returns_null_only: bool) -> str | None:
    """How a trigger silences its table's writes, or None (see the module's list)."""
    verbs = [EVENTS[event] for event in sorted(events) if event in EVENTS]
    if not verbs or not before_row or when or not returns_null_only:
        return None
    return f"returns NULL before every {' and '.join(verbs)}"


def _is_null(expression: str) -> bool:
    """``NULL``, ``(NULL)``, ``NULL::workflow_insights``: an expression that is the null constant."""
    value = expression_tree(expression) or {}
    while "TypeCast" in value:
        value = value["TypeCast"].get("arg", {})
    return bool(value.get("A_Const", {}).get("isnull"))
