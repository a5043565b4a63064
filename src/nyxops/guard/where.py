"""What a WHERE clause proves: always true (so it is no WHERE), or limited to rows where a column IS NULL.

Both are read from the parse tree, not the text. "Always true" is decided only from constants,
from comparisons of a column with itself (``x = x`` holds for every row where x is set, which is
all of them as far as a reviewer is concerned; ``x IS NOT DISTINCT FROM x`` holds where it is NULL
too), from ``NULL IS NULL`` and from ``x IS NULL OR x IS NOT NULL``; anything
the folding does not understand counts as a real condition, so an unusual WHERE is never mistaken
for none. One more WHERE reaches every row: one that reads nothing of the row (``coalesce(true,
false)``, ``current_user = 'app'``, ``now() > '2000-01-01'``, a subquery that
names no outer column, which PostgreSQL runs once) has the same value for every row, so it keeps
all of them or none (``every_row``). Any other function or subquery counts as reading the row.
And ``id IN (SELECT id FROM <the same table>)`` keeps every row whose ``id`` is set.
"""

from __future__ import annotations

from typing import Any

from nyxops.sql import Node, walk

_TRUE_WORDS = ("true", "yes")
_FALSE_WORDS = ("false", "no")
_COMPARE = {"=", "<>", "!=", "<", ">", "<=", ">="}
_UNKNOWN = object()


def every_row(where: Node | None, target: Node | None = None) -> str | None:
    """Why ``where`` reaches every row (always true, or the same value for each); None for a real condition.

    ``target`` (the statement's RangeVar) lets ``id IN (SELECT id FROM <the target itself>)`` be
    seen for what it is: every row whose ``id`` is set.
    """
    if where is None:
        return None
    value = _value(where)
    if value is True:
        return "its WHERE is always true"
    if target is not None and _all_rows(where, target):
        return "its WHERE keeps every row: the subquery reads the same column of the whole table"
    if value is _UNKNOWN and _row_free(where) and not _is_null(where):
        return "its WHERE names no column, so it is the same for every row: it reaches all of them or none"
    return None


_ROW_FREE = {
    "A_Const", "TypeCast", "TypeName", "BoolExpr", "A_Expr", "NullTest", "BooleanTest", "CoalesceExpr",
    "MinMaxExpr", "CaseExpr", "CaseWhen", "NullIfExpr", "SQLValueFunction", "A_ArrayExpr", "RowExpr", "String",
    "Integer",
}  # fmt: skip
"""Node kinds whose value cannot differ from row to row. A column, subquery, function (``random()``),
parameter or ``CURRENT OF`` is none of them, and any kind not listed counts as one of those."""


_STATEMENT_CONSTANT = {
    "now", "transaction_timestamp", "statement_timestamp", "current_database", "current_schema", "current_setting",
    "version", "pg_backend_pid", "pg_postmaster_start_time", "txid_current", "pg_current_xact_id", "lower", "upper",
    "length", "char_length", "coalesce", "date_trunc", "to_timestamp", "to_date", "make_interval",
}  # fmt: skip
"""Functions whose value is the same for every row of one statement when their arguments are
(``now() > '2000-01-01'``): the time of the transaction or statement, settings, pure functions of
constants. ``clock_timestamp()`` and ``random()`` change from row to row and are not here."""


def _row_free(node: Any) -> bool:
    if isinstance(node, list):
        return all(_row_free(item) for item in node)
    if not isinstance(node, dict):
        return True
    for key, value in node.items():
        if key == "FuncCall" and _constant_call(value):
            continue
        if key == "SubLink" and _uncorrelated(value):
            if not _row_free(value.get("testexpr")):
                return False
            continue
        if key[:1].isupper() and key not in _ROW_FREE:
            return False
        if isinstance(value, dict | list) and not _row_free(value):
            return False
    return True


def _constant_call(call: Node) -> bool:
    names = [n.get("String", {}).get("sval") for n in call.get("funcname", [])]
    if names[:-1] not in ([], ["pg_catalog"]) or names[-1] not in _STATEMENT_CONSTANT:
        return False
    if call.get("over") or call.get("agg_star") or call.get("agg_filter") or call.get("agg_order"):
        return False
    return _row_free(call.get("args", []))


def _uncorrelated(link: Node) -> bool:
    """A subquery that reads nothing of the outer row: PostgreSQL runs it once for the statement.

    Proven only in the plain case: one query level (no subquery inside it), and every column it
    names qualified by a table of its own FROM (an unqualified name could be the outer row's).
    """
    select = link.get("subselect", {}).get("SelectStmt")
    if not select or select.get("op", "SETOP_NONE") != "SETOP_NONE" or "withClause" in select:
        return False
    own: set[str] = set()
    for item in select.get("fromClause", []):
        rel = item.get("RangeVar")
        if rel is None:
            return False  # a join, a function in FROM, a subquery: not the plain case
        own.add(rel.get("alias", {}).get("aliasname") or rel.get("relname"))
    below = list(walk(select))
    if any(kind in ("SubLink", "RangeSubselect", "ParamRef") for kind, _ in below):
        return False
    refs = [_fields({"ColumnRef": ref}) for kind, ref in below if kind == "ColumnRef"]
    return all(len(fields) == 2 and fields[0] in own for fields in refs)


def _all_rows(where: Node, target: Node) -> bool:
    """``col IN (SELECT col FROM target)`` (or ``= ANY``), alone, OR-ed with anything, or AND-ed with
    conditions that are all always true."""
    if "BoolExpr" in where:
        expr = where["BoolExpr"]
        args = expr.get("args", [])
        if expr.get("boolop") == "OR_EXPR":
            return any(_all_rows(a, target) for a in args)
        if expr.get("boolop") == "AND_EXPR":
            return any(_all_rows(a, target) for a in args) and all(
                _value(a) is True or _all_rows(a, target) for a in args
            )
        return False
    link = where.get("SubLink")
    if link is None or link.get("subLinkType") != "ANY_SUBLINK":
        return False
    op = [n.get("String", {}).get("sval") for n in link.get("operName", [])]
    test, select = link.get("testexpr", {}), link.get("subselect", {}).get("SelectStmt", {})
    if op not in ([], ["="]) or "ColumnRef" not in test or not _names_target(_fields(test)[:-1], target):
        return False
    limited = ("whereClause", "havingClause", "limitCount", "limitOffset", "distinctClause", "withClause")
    if any(key in select for key in limited) or select.get("op", "SETOP_NONE") != "SETOP_NONE":
        return False
    froms, targets = select.get("fromClause", []), select.get("targetList", [])
    if len(froms) != 1 or "RangeVar" not in froms[0] or len(targets) != 1:
        return False
    rel = froms[0]["RangeVar"]
    if (rel.get("schemaname"), rel.get("relname")) != (target.get("schemaname"), target.get("relname")):
        return False
    value = targets[0].get("ResTarget", {}).get("val", {})
    if "ColumnRef" not in value:
        return False
    fields = _fields(value)
    return fields[-1] == _fields(test)[-1] and _names_target(fields[:-1], rel)


def _is_null(node: Node) -> bool:
    return node.get("A_Const", {}).get("isnull") is True


def _as_bool(text: str) -> bool | None:
    """A string literal as PostgreSQL's boolean input reads it (``'t'``, ``'Yes'``, ``' on '``, ``'0'``), or None."""
    word = text.strip().lower()
    if not word:
        return None
    if word in ("1", "on") or any(w.startswith(word) for w in _TRUE_WORDS):
        return True
    if word in ("0", "of", "off") or any(w.startswith(word) for w in _FALSE_WORDS):
        return False
    return None


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
        if names[-1:] in (["bool"], ["boolean"]) and isinstance(value, str | int) and not isinstance(value, bool):
            read = _as_bool(str(value))
            return _UNKNOWN if read is None else read
        return value
    if "BoolExpr" in node:
        expr = node["BoolExpr"]
        values = [_value(a) for a in expr.get("args", [])]
        op = expr.get("boolop")
        if op == "OR_EXPR":
            return True if any(v is True for v in values) or _null_or_not(expr["args"]) else _UNKNOWN
        if op == "AND_EXPR":
            return True if values and all(v is True for v in values) else _UNKNOWN
        if op == "NOT_EXPR" and values and values[0] is False:
            return True
        return _UNKNOWN
    if "A_Expr" in node:
        return _compare(node["A_Expr"])
    if "NullTest" in node:
        test = node["NullTest"]
        arg = test.get("arg", {})
        if _null_constant(arg):  # NULL IS NULL, NULL::int IS NOT NULL
            return test.get("nulltesttype") == "IS_NULL"
        if _value(arg) is not _UNKNOWN:
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


def _null_constant(node: Node) -> bool:
    while "TypeCast" in node:
        node = node["TypeCast"].get("arg", {})
    return _is_null(node)


def _compare(expr: Node) -> Any:
    if expr.get("kind") == "AEXPR_NOT_DISTINCT":  # true for NULLs too: x IS NOT DISTINCT FROM x is every row
        left, right = expr.get("lexpr", {}), expr.get("rexpr", {})
        if "ColumnRef" in left and "ColumnRef" in right and _fields(left) == _fields(right):
            return True
        if _null_constant(left) and _null_constant(right):
            return True
        a, b = _value(left), _value(right)
        return _UNKNOWN if a is _UNKNOWN or b is _UNKNOWN or type(a) is not type(b) else a == b
    if expr.get("kind") != "AEXPR_OP":
        return _UNKNOWN
    op = [n.get("String", {}).get("sval") for n in expr.get("name", [])]
    if len(op) != 1 or op[0] not in _COMPARE:
        return _UNKNOWN
    left, right = expr.get("lexpr", {}), expr.get("rexpr", {})
    if "ColumnRef" in left and "ColumnRef" in right and _fields(left) == _fields(right):
        return op[0] in ("=", "<=", ">=")
    if "ParamRef" in left and "ParamRef" in right and left["ParamRef"].get("number") == right["ParamRef"].get("number"):
        return op[0] in ("=", "<=", ">=")  # $1 = $1, as x = x
    a, b = _value(left), _value(right)
    if a is _UNKNOWN or b is _UNKNOWN:
        return _UNKNOWN
    if isinstance(a, bool) != isinstance(b, bool):  # true = 't': the literal read as a boolean
        other = b if isinstance(a, bool) else a
        read = _as_bool(other) if isinstance(other, str) else None
        if read is None:
            return _UNKNOWN  # true = 1 is an error in PostgreSQL, and 'x' no boolean
        a, b = (a, read) if isinstance(a, bool) else (read, b)
    elif isinstance(a, str) != isinstance(b, str):
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


def _null_or_not(args: list[Node]) -> bool:
    """``x IS NULL OR x IS NOT NULL`` (in any order, among other alternatives): every row."""
    tests = [a["NullTest"] for a in args if "NullTest" in a and "ColumnRef" in a["NullTest"].get("arg", {})]
    null = [_fields(t["arg"]) for t in tests if t.get("nulltesttype") == "IS_NULL"]
    return any(_fields(t["arg"]) in null for t in tests if t.get("nulltesttype") == "IS_NOT_NULL")


def _fields(ref: Node) -> list[Any]:
    return [f.get("String", {}).get("sval", "*") for f in ref["ColumnRef"].get("fields", [])]


def restricted_to_null(where: Node | None, column: str, target: Node) -> bool:
    """True when the WHERE only admits rows where the target's ``column`` IS NULL (an AND of
    conditions, one of them that).

    The column must be the target's (``target`` is its RangeVar): ``x.embedding IS NULL`` of
    another table in ``UPDATE … FROM x``, ``excluded.embedding`` in ``ON CONFLICT`` or the source's
    in a MERGE restricts nothing of the rows written. Unqualified, the name is the target's (the
    target has the column: if another table had it too, PostgreSQL would refuse it as ambiguous).
    """
    if where is None:
        return False
    if "NullTest" in where:
        test = where["NullTest"]
        arg = test.get("arg", {})
        if "ColumnRef" not in arg or test.get("nulltesttype") != "IS_NULL":
            return False
        fields = _fields(arg)
        return bool(fields) and fields[-1] == column and _names_target(fields[:-1], target)
    if "BoolExpr" in where and where["BoolExpr"].get("boolop") == "AND_EXPR":
        return any(restricted_to_null(a, column, target) for a in where["BoolExpr"].get("args", []))
    return False


def _names_target(qualifier: list[Any], target: Node) -> bool:
    if not qualifier:
        return True
    alias = target.get("alias", {}).get("aliasname")
    if alias is not None:  # once aliased, the table's own name no longer refers to it
        return qualifier == [alias]
    full = [target.get("catalogname"), target.get("schemaname"), target.get("relname")]
    return qualifier == full[-len(qualifier) :] if len(qualifier) <= 3 else False


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
        unconditional = condition is None or every_row(condition) is not None
        by_source = clause.get("matchKind") == "MERGE_WHEN_NOT_MATCHED_BY_SOURCE"
        if unconditional and (by_source or every_row(merge.get("joinCondition")) is not None):
            return clause  # type: ignore[no-any-return]
    return None
