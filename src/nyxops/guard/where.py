"""What a WHERE clause proves: always true (so it is no WHERE), or limited to rows where a column IS NULL.

Both are read from the parse tree, not the text. "Always true" is decided only from constants and
from comparisons of a column with itself (``x = x`` holds for every row where x is set, which is
all of them as far as a reviewer is concerned); anything the folding does not understand counts as
a real condition, so an unusual WHERE is never mistaken for none.
"""

from __future__ import annotations

from typing import Any

from nyxops.sql import Node

_TRUE_WORDS = {"t", "true", "y", "yes", "on", "1"}
_FALSE_WORDS = {"f", "false", "n", "no", "off", "0"}
_COMPARE = {"=", "<>", "!=", "<", ">", "<=", ">="}
_UNKNOWN = object()


def always_true(where: Node | None) -> bool:
    return where is not None and _value(where) is True


def _value(node: Node) -> Any:
    """The constant a node always evaluates to, or ``_UNKNOWN``."""
    if "A_Const" in node:
        const = node["A_Const"]
        for key in ("boolval", "ival", "fval", "sval"):
            if key in const:
                inner = const[key]
                return inner.get(key, False if key == "boolval" else 0 if key == "ival" else "")
        return _UNKNOWN  # NULL
    if "TypeCast" in node:
        cast = node["TypeCast"]
        value = _value(cast.get("arg", {}))
        names = [n.get("String", {}).get("sval") for n in cast.get("typeName", {}).get("names", [])]
        if names[-1:] in (["bool"], ["boolean"]) and isinstance(value, str | int):
            word = str(value).strip().lower()
            return True if word in _TRUE_WORDS else False if word in _FALSE_WORDS else _UNKNOWN
        return value
    if "BoolExpr" in node:
        expr = node["BoolExpr"]
        values = [_value(a) for a in expr.get("args", [])]
        op = expr.get("boolop")
        if op == "OR_EXPR":
            return True if any(v is True for v in values) else _UNKNOWN
        if op == "AND_EXPR":
            return True if values and all(v is True for v in values) else _UNKNOWN
        if op == "NOT_EXPR" and values and values[0] is False:
            return True
        return _UNKNOWN
    if "A_Expr" in node:
        return _compare(node["A_Expr"])
    if "NullTest" in node:
        test = node["NullTest"]
        value = _value(test.get("arg", {}))
        if value is not _UNKNOWN:
            return test.get("nulltesttype") == "IS_NOT_NULL"
        return _UNKNOWN
    if "BooleanTest" in node:
        test = node["BooleanTest"]
        value = _value(test.get("arg", {}))
        kind = test.get("booltesttype")
        if value is True and kind in ("IS_TRUE", "IS_NOT_FALSE", "IS_NOT_UNKNOWN"):
            return True
        if value is False and kind in ("IS_FALSE", "IS_NOT_TRUE", "IS_NOT_UNKNOWN"):
            return True
        return _UNKNOWN
    return _UNKNOWN


def _compare(expr: Node) -> Any:
    if expr.get("kind") != "AEXPR_OP":
        return _UNKNOWN
    op = [n.get("String", {}).get("sval") for n in expr.get("name", [])]
    if len(op) != 1 or op[0] not in _COMPARE:
        return _UNKNOWN
    left, right = expr.get("lexpr", {}), expr.get("rexpr", {})
    if "ColumnRef" in left and "ColumnRef" in right and _fields(left) == _fields(right):
        return op[0] in ("=", "<=", ">=")
    a, b = _value(left), _value(right)
    if a is _UNKNOWN or b is _UNKNOWN:
        return _UNKNOWN
    if isinstance(a, str) != isinstance(b, str):
        a, b = str(a), str(b)  # '1' = 1: PostgreSQL casts the literal
    try:
        return {
            "=": a == b,
            "<>": a != b,
            "!=": a != b,
            "<": a < b,
            ">": a > b,
            "<=": a <= b,
            ">=": a >= b,
        }[op[0]]
    except TypeError:
        return _UNKNOWN


def _fields(ref: Node) -> list[Any]:
    return [f.get("String", {}).get("sval", "*") for f in ref["ColumnRef"].get("fields", [])]


def restricted_to_null(where: Node | None, column: str) -> bool:
    """True when the WHERE only admits rows where ``column`` IS NULL (an AND of conditions, one of them that)."""
    if where is None:
        return False
    if "NullTest" in where:
        test = where["NullTest"]
        ref = test.get("arg", {}).get("ColumnRef", {})
        fields = [f.get("String", {}).get("sval") for f in ref.get("fields", [])]
        return test.get("nulltesttype") == "IS_NULL" and bool(fields) and fields[-1] == column
    if "BoolExpr" in where and where["BoolExpr"].get("boolop") == "AND_EXPR":
        return any(restricted_to_null(a, column) for a in where["BoolExpr"].get("args", []))
    return False


def whole_table_merge(merge: Node, command: str) -> Node | None:
    """The MERGE action of ``command`` (CMD_DELETE, CMD_UPDATE) that reaches every row, if any.

    Every row: the action has no condition (or one always true), and either the join is always
    true or it is ``WHEN NOT MATCHED BY SOURCE`` (every target row the source lacks: with an empty
    source, all of them).
    """
    for when in merge.get("mergeWhenClauses", []):
        clause = when.get("MergeWhenClause", {})
        if clause.get("commandType") != command:
            continue
        condition = clause.get("condition")
        unconditional = condition is None or always_true(condition)
        by_source = clause.get("matchKind") == "MERGE_WHEN_NOT_MATCHED_BY_SOURCE"
        if unconditional and (by_source or always_true(merge.get("joinCondition"))):
            return clause  # type: ignore[no-any-return]
    return None
