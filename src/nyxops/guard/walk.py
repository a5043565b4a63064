"""One visitor over every node of a statement, wherever a write can hide.

Writes nest: in the CTEs of a query, in ``ON CONFLICT DO UPDATE``, in ``MERGE``, in ``EXPLAIN
ANALYZE`` (which executes), in ``COPY (query) TO``, in rule actions, in prepared statements, in
function bodies (SQL strings, ``BEGIN ATOMIC``, PL/pgSQL). Rules name the node kinds they care
about and receive them from here, so no rule has to know where its node may sit.

Each visit carries a ``Frame``: ``None`` when the node runs as the statement runs, else the unit
whose body holds it (a function, a rule, a prepared statement), which runs only when something
calls or fires it. The checker turns findings in a frame into warnings, and into errors at the
statement of the same file that calls it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import parser

from nyxops.guard import dynamic
from nyxops.sql import Node

_MAX_DEPTH = 6
_WHERE = {
    "CommonTableExpr": "in a WITH query",
    "onConflictClause": "in INSERT … ON CONFLICT DO UPDATE",
    "MergeWhenClause": "in a MERGE action",
    "ExplainStmt": "in EXPLAIN ANALYZE, which executes it",
    "CopyStmt": "in COPY (query)",
}


@dataclass(frozen=True)
class Frame:
    """A body that runs later: ``kind`` is function, rule or prepared; ``name`` what calls it."""

    kind: str
    name: str
    table: tuple[str | None, str] | None = None
    event: str = ""

    def describe(self) -> str:
        if self.kind == "rule":
            return f"rule {self.name}"
        if self.kind == "prepared":
            return f"prepared statement {self.name}"
        return f"function {self.name}"


@dataclass(frozen=True)
class Visit:
    kind: str
    node: Node
    frame: Frame | None
    where: str
    """Where the node sits, for the finding's note ("in a WITH query"); empty at the top."""
    inner: bool
    """True for nodes of SQL parsed from a string (a body): their locations are not the statement's."""


def function_name(names: list[Node]) -> str:
    """A function's name as calls match it: its last part (schema-qualified calls match too)."""
    parts = [n["String"]["sval"] for n in names if "String" in n]
    return parts[-1] if parts else "?"


def visits(tree: Node, text: str | None = None) -> Iterator[Visit]:
    """Every ``{"NodeType": {...}}`` of a statement's tree, bodies and nested writes included.

    ``text`` is the statement as written: a PL/pgSQL function's body is read from it, with the
    function's own parameters and return type (a wrapper would refuse ``RETURN x`` or an OUT
    parameter's assignment).
    """
    yield from _walk(tree, None, "", False, 0, text)


def _walk(
    root: Any, frame: Frame | None, where: str, inner: bool, depth: int, text: str | None = None
) -> Iterator[Visit]:
    stack: list[tuple[Any, Frame | None, str]] = [(root, frame, where)]
    while stack:
        item, frame, where = stack.pop()
        if isinstance(item, list):
            stack.extend((value, frame, where) for value in item)
            continue
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if not isinstance(value, dict | list):
                continue
            if isinstance(value, dict) and key[:1].isupper():
                yield Visit(key, value, frame, where, inner)
                child_frame, child_where = frame, _WHERE.get(key, where)
                if key == "ExplainStmt" and not _analyze(value):
                    continue  # plain EXPLAIN plans the statement without running it
                if key == "CreateFunctionStmt":
                    child_frame = Frame("function", function_name(value.get("funcname", [])))
                    child_where = "in the body of " + child_frame.describe()
                    if depth < _MAX_DEPTH:
                        whole = text if item is root else None
                        yield from _string_body(key, value, child_frame, child_where, depth, whole)
                elif key == "DoStmt" and depth < _MAX_DEPTH:
                    yield from _string_body(key, value, frame, "in a DO block", depth)
                elif key == "RuleStmt":
                    rel = value.get("relation", {})
                    table = (rel.get("schemaname"), rel.get("relname", "?"))
                    child_frame = Frame("rule", value.get("rulename", "?"), table, value.get("event", ""))
                    child_where = "in the action of " + child_frame.describe()
                elif key == "PrepareStmt":
                    child_frame = Frame("prepared", value.get("name", "?"))
                    child_where = "in " + child_frame.describe()
                stack.append((value, child_frame, child_where))
            else:
                stack.append((value, frame, _WHERE.get(key, where)))


def _analyze(explain: Node) -> bool:
    for option in explain.get("options", []):
        elem = option.get("DefElem", {})
        if elem.get("defname") == "analyze":
            arg = elem.get("arg")
            return arg is None or _truthy(arg)
    return False


def _truthy(arg: Node) -> bool:
    const = arg.get("A_Const", {}) if isinstance(arg, dict) else {}
    if "boolval" in const:
        return bool(const["boolval"].get("boolval", False))
    text = str((arg.get("String") or const.get("sval") or {}).get("sval", "true")).lower()
    return text not in ("false", "off", "0", "no")


def _string_body(
    kind: str, node: Node, frame: Frame | None, where: str, depth: int, whole: str | None = None
) -> Iterator[Visit]:
    """The statements of a body PostgreSQL's parser sees only as a string (SQL or PL/pgSQL)."""
    code, language = dynamic.body_and_language(kind, node)
    if code is None:
        return
    if language == "sql":
        yield from _sql_text(code, frame, where, depth)
    elif language == "plpgsql":
        try:
            pieces = list(dynamic.embedded_sql(code, whole))
        except (parser.ParseError, RecursionError) as exc:
            problem = {"reason": str(exc.args[0]) if exc.args else "nested too deeply", "code": code}
            yield Visit("nyxops:unreadable-body", problem, frame, where, True)
            return
        for piece in pieces:
            if piece.sql is None:
                yield Visit("nyxops:dynamic", {"expression": piece.expression}, frame, where, True)
            else:
                note = where + (", EXECUTE of a literal" if piece.dynamic else "")
                yield from _sql_text(piece.sql, frame, note, depth)


def _sql_text(sql: str, frame: Frame | None, where: str, depth: int) -> Iterator[Visit]:
    try:
        tree = json.loads(parser.parse_sql_json(sql))
    except (parser.ParseError, ValueError, RecursionError):
        return  # PL/pgSQL expressions with variables need not parse as plain SQL
    for item in tree.get("stmts", []):
        yield from _walk(item.get("stmt", {}), frame, where, True, depth + 1)
