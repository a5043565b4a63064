"""The settings a journaled file's done statements made, made again when a run resumes it.

A journaled file commits statement by statement, in one session. A run killed or refused midway
resumes in a new session, at the first statement not done, and the settings the done statements
had made were gone: after ``SET search_path = app, public`` (done), the file's later statements
read ``events`` as ``public.events``, and its ``DELETE FROM events WHERE id > 1``, meant for the
file's own ``app.events``, emptied the app's table; apply committed it (a test). So the resumed
run makes those settings again, in the file's order, before its first statement not done.

Only what can be made again exactly is: ``SET`` and ``RESET`` (not ``SET LOCAL``, which ended with
its statement's transaction, nor ``SET TRANSACTION``), and ``SELECT set_config(…, …, false)`` of
constants, which pg_dump writes at the top of its output. Each is idempotent. A setting made any
other way (``set_config`` of a computed value, inside a DO block or a function) and session state
that held rows (a TEMP table) are not made again; the README says so.
"""

from __future__ import annotations

from collections.abc import Iterable

from nyxops.sql import Node, Statement

_PER_TRANSACTION = {"TRANSACTION"}
"""``SET TRANSACTION …``: for the transaction it ran in only."""


def settings(statements: Iterable[Statement], done: Iterable[int]) -> list[Statement]:
    """The done statements whose only effect is a session setting, in the file's order."""
    finished = set(done)
    return [s for s in statements if s.index in finished and s.keyword in ("SET", "RESET", "SELECT") and _sets(s)]


def _sets(stmt: Statement) -> bool:
    body = stmt.body
    if stmt.kind == "VariableSetStmt":
        return not body.get("is_local") and body.get("name") not in _PER_TRANSACTION
    if stmt.kind == "SelectStmt":
        targets = body.get("targetList", [])
        plain = set(body) <= {"targetList", "limitOption", "op"}
        return plain and bool(targets) and all(_set_config(t.get("ResTarget", {}).get("val", {})) for t in targets)
    return False


def _set_config(node: Node) -> bool:
    """``[pg_catalog.]set_config('name', 'value', false)``, every argument a constant."""
    call = node.get("FuncCall", {})
    names = [n.get("String", {}).get("sval") for n in call.get("funcname", [])]
    if names not in (["set_config"], ["pg_catalog", "set_config"]):
        return False
    args = [a.get("A_Const") for a in call.get("args", [])]
    if len(args) != 3 or None in args:
        return False
    name, value, local = args
    return "sval" in name and "sval" in value and local.get("boolval") == {}
