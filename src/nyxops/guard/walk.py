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

from dataclasses import dataclass
from typing import Any, NamedTuple

from pglast import parser

from nyxops.guard import dynamic
from nyxops.sql import Node, load_tree

_MAX_DEPTH = 6
_CONTAINERS = (dict, list)  # JSON trees are built of exactly these: ``type() is`` is the cheap test
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


class Visit(NamedTuple):
    """A node and where it sits (a tuple: lint builds thousands, and a frozen dataclass is slow to build)."""

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


def visits(tree: Node, text: str | None = None) -> list[Visit]:
    """Every ``{"NodeType": {...}}`` of a statement's tree, bodies and nested writes included.

    ``text`` is the statement as written: a PL/pgSQL function's body is read from it, with the
    function's own parameters and return type (a wrapper would refuse ``RETURN x`` or an OUT
    parameter's assignment). A list, not a generator: lint walks thousands of small trees, and
    resuming a generator for each node cost a third of the walk.
    """
    out: list[Visit] = []
    _walk(tree, None, "", False, 0, text, out)
    return out


def _walk(
    root: Any, frame: Frame | None, where: str, inner: bool, depth: int, text: str | None, out: list[Visit]
) -> None:
    stack: list[tuple[Any, Frame | None, str]] = [(root, frame, where)]
    push, pop, found = stack.append, stack.pop, out.append
    while stack:
        item, frame, where = pop()
        if type(item) is list:
            stack.extend([(value, frame, where) for value in item if type(value) in _CONTAINERS])
            continue
        if type(item) is not dict:
            continue
        for key, value in item.items():
            of = type(value)
            if of is list or (of is dict and not key[:1].isupper()):
                push((value, frame, _WHERE.get(key, where)))
                continue
            if of is not dict:
                continue
            found(Visit(key, value, frame, where, inner))
            child_frame, child_where = frame, _WHERE.get(key, where)
            if key == "ExplainStmt" and not _analyze(value):
                continue  # plain EXPLAIN plans the statement without running it
            if key == "CreateFunctionStmt":
                child_frame = Frame("function", function_name(value.get("funcname", [])))
                child_where = "in the body of " + child_frame.describe()
                if depth < _MAX_DEPTH:
                    whole = text if item is root else None
                    _string_body(key, value, child_frame, child_where, depth, whole, out)
            elif key == "DoStmt" and depth < _MAX_DEPTH:
                _string_body(key, value, frame, "in a DO block", depth, None, out)
            elif key == "RuleStmt":
                rel = value.get("relation", {})
                table = (rel.get("schemaname"), rel.get("relname", "?"))
                child_frame = Frame("rule", value.get("rulename", "?"), table, value.get("event", ""))
                child_where = "in the action of " + child_frame.describe()
            elif key == "PrepareStmt":
                child_frame = Frame("prepared", value.get("name", "?"))
                child_where = "in " + child_frame.describe()
            push((value, child_frame, child_where))


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
    kind: str, node: Node, frame: Frame | None, where: str, depth: int, whole: str | None, out: list[Visit]
) -> None:
    """The statements of a body PostgreSQL's parser sees only as a string (SQL or PL/pgSQL)."""
    code, language = dynamic.body_and_language(kind, node)
    if language in dynamic.UNTRUSTED:  # code nyxops cannot read, with the server's own rights: server-write
        out.append(Visit(dynamic.UNTRUSTED_BODY, {"language": language}, frame, where, True))
        return
    if code is None:
        return
    if language == "sql":
        _sql_text(code, frame, where, depth, out)
    elif language == "plpgsql":
        try:
            pieces = list(dynamic.embedded_sql(code, whole))
        except (parser.ParseError, RecursionError) as exc:
            problem = {"reason": str(exc.args[0]) if exc.args else "nested too deeply", "code": code}
            out.append(Visit("nyxops:unreadable-body", problem, frame, where, True))
            return
        for piece in pieces:
            if piece.sql is None:
                out.append(Visit("nyxops:dynamic", {"expression": piece.expression}, frame, where, True))
            else:
                note = where + (", EXECUTE of a literal" if piece.dynamic else "")
                _sql_text(piece.sql, frame, note, depth, out)


def _sql_text(sql: str, frame: Frame | None, where: str, depth: int, out: list[Visit]) -> None:
    try:
        tree = load_tree(parser.parse_sql_json(sql))
    except (parser.ParseError, ValueError, RecursionError):
        return  # PL/pgSQL expressions with variables need not parse as plain SQL
    for item in tree.get("stmts", []):
        _walk(item.get("stmt", {}), frame, where, True, depth + 1, None, out)
