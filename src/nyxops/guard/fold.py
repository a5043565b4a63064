"""The text an expression always evaluates to, when nyxops can know it without running it.

Literals, ``||``, casts to text, and the string builders a migration writes its EXECUTE with
(``format()``, ``concat()``, ``concat_ws()``, ``quote_ident()``, ``quote_literal()``), each folded
as PostgreSQL computes it; a variable of the body when its value is known (``variables.py``).
Anything else is None: the caller warns instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pglast import parser

from nyxops.sql import Node, load_tree


def literal_value(expression: str, constants: dict[str, str] | None = None) -> str | None:
    """The string an expression always evaluates to, when it is literals joined by ``||`` (or
    passed to a string builder); ``constants``: the body's variables whose value is known."""
    target = expression_tree(expression)
    return None if target is None else _fold(target, constants or {})


def array_value(expression: str, constants: dict[str, str], arrays: dict[str, list[str]]) -> list[str] | None:
    """The elements of a text array that are always the same: ``ARRAY['a', 'b']`` (cast to
    ``text[]`` or not) or a variable in ``arrays``; None when one of them is not known."""
    target = expression_tree(expression)
    return None if target is None else _elements(target, constants, arrays)


def _elements(target: Node, constants: dict[str, str], arrays: dict[str, list[str]]) -> list[str] | None:
    if "TypeCast" in target:
        cast = target["TypeCast"]
        names = [n.get("String", {}).get("sval") for n in cast.get("typeName", {}).get("names", [])]
        if names[-1:] not in (["text"], ["varchar"]) or not cast.get("typeName", {}).get("arrayBounds"):
            return None
        target = cast.get("arg")
    if target is None:
        return None
    if "ColumnRef" in target:
        known = arrays.get(_variable(target))
        return None if known is None else list(known)
    if "A_ArrayExpr" not in target:
        return None
    elements = [_fold(element, constants) for element in target["A_ArrayExpr"].get("elements", [])]
    return None if any(element is None for element in elements) else [e for e in elements if e is not None]


def query_values(query: str, constants: dict[str, str], arrays: dict[str, list[str]]) -> list[str] | None:
    """The rows of a one-column query that always returns the same texts, for ``FOR t IN query``:
    ``SELECT unnest(ARRAY['a', 'b'])``, ``SELECT * FROM unnest(…) [AS x(name)]`` (or the alias
    named instead of ``*``), ``VALUES ('a'), ('b')``. Nothing else: a WHERE, a join, an ORDER BY, a
    LIMIT or WITH ORDINALITY could change which values come, and a query of tables does."""
    try:
        stmts = load_tree(parser.parse_sql_json(query)).get("stmts", [])
    except parser.ParseError:
        return None
    select = stmts[0].get("stmt", {}).get("SelectStmt") if len(stmts) == 1 else None
    if select is None or select.get("op", "SETOP_NONE") != "SETOP_NONE":
        return None
    if "valuesLists" in select:
        rows = [row.get("List", {}).get("items", []) for row in select["valuesLists"]]
        values = [_fold(row[0], constants) if len(row) == 1 else None for row in rows]
        return None if any(v is None for v in values) else [v for v in values if v is not None]
    if set(select) - {"targetList", "fromClause", "op", "limitOption"}:
        return None
    targets = [t.get("ResTarget", {}).get("val", {}) for t in select.get("targetList", [])]
    sources = select.get("fromClause", [])
    if len(targets) != 1:
        return None
    if not sources:
        return _unnested(targets[0], constants, arrays)
    source = sources[0].get("RangeFunction", {}) if len(sources) == 1 else {}
    functions = source.get("functions", [])
    if not source or source.get("ordinality") or source.get("lateral") or len(functions) != 1:
        return None
    alias = source.get("alias", {})
    names = {alias.get("aliasname")} | {c.get("String", {}).get("sval") for c in alias.get("colnames", [])}
    fields = targets[0].get("ColumnRef", {}).get("fields", [])
    if len(fields) != 1 or not ("A_Star" in fields[0] or fields[0].get("String", {}).get("sval") in names - {None}):
        return None
    call = functions[0].get("List", {}).get("items", [{}])[0]
    return _unnested(call, constants, arrays)


def _unnested(node: Node, constants: dict[str, str], arrays: dict[str, list[str]]) -> list[str] | None:
    """``unnest(<known text array>)``'s elements."""
    call = node.get("FuncCall")
    if call is None or set(call) - {"funcname", "args", "location", "funcformat"}:
        return None
    names = [n.get("String", {}).get("sval") for n in call.get("funcname", [])]
    if names not in (["unnest"], ["pg_catalog", "unnest"]) or len(call.get("args", [])) != 1:
        return None
    return _elements(call["args"][0], constants, arrays)


def _variable(column_ref: Node) -> str:
    """The name a one-part ``ColumnRef`` reads (a body's variable); '' for a qualified one (``blk.x``)."""
    fields = column_ref["ColumnRef"].get("fields", [])
    return str(fields[0].get("String", {}).get("sval", "")) if len(fields) == 1 else ""


def expression_tree(expression: str) -> Node | None:
    """The parse tree of one SQL expression (as a SELECT's target); None when it does not parse."""
    try:
        tree = load_tree(parser.parse_sql_json(f"SELECT {expression}"))
        node: Node = tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]
    except (parser.ParseError, KeyError, IndexError):
        return None
    return node


_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _constant_text(const: Node) -> str | None:
    """A literal's text as PostgreSQL prints it: ``format('… id = %s', 4)`` and ``'…' || 4`` read 4
    as '4', and true as 't'."""
    if "sval" in const:
        return str(const["sval"].get("sval", ""))
    if "ival" in const:
        return str(const["ival"].get("ival", 0))  # libpg_query leaves out a zero
    if "boolval" in const:
        return "t" if const["boolval"].get("boolval") else "f"  # bool's output function
    if "fval" in const:  # 1e3 prints as 1000 and .5 as 0.5: only the plain forms are read
        text = str(const["fval"].get("fval", ""))
        return text if _PLAIN_NUMBER.fullmatch(text) else None
    return None  # NULL


def _fold(node: Node, constants: dict[str, str]) -> str | None:
    if "A_Const" in node:
        return _constant_text(node["A_Const"])
    if "ColumnRef" in node:  # a variable of the body, when its value is known
        return constants.get(_variable(node))
    if "A_Expr" in node:
        expr = node["A_Expr"]
        op = [n.get("String", {}).get("sval") for n in expr.get("name", [])]
        if op == ["||"]:
            left, right = _fold(expr.get("lexpr", {}), constants), _fold(expr.get("rexpr", {}), constants)
            if left is not None and right is not None:
                return left + right
    if "TypeCast" in node:
        cast = node["TypeCast"]
        arg = cast.get("arg", {})
        names = [n.get("String", {}).get("sval") for n in cast.get("typeName", {}).get("names", [])]
        if "sval" not in arg.get("A_Const", {"sval": None}) and names[-1:] not in (["text"], ["varchar"]):
            return None  # 1.5::int prints 2, true::int 1: only a cast to text keeps the literal's text
        return _fold(arg, constants)
    if "FuncCall" in node:
        call = node["FuncCall"]
        names = [n.get("String", {}).get("sval") for n in call.get("funcname", [])]
        name = names[-1] if names[:-1] in ([], ["pg_catalog"]) else None
        args = [_fold(a, constants) for a in call.get("args", [])]
        if name not in _BUILDERS or not args or any(a is None for a in args):
            return None
        return _BUILDERS[name]([a for a in args if a is not None])
    return None


_SPEC = re.compile(r"%(?:(\d+)\$)?(-?\d*)([sIL%])")


def _format(args: list[str]) -> str | None:
    """``format()`` of literals, as PostgreSQL computes it (``%s``, ``%I``, ``%L``, ``%n$``)."""
    template, values = args[0], args[1:]
    position = 0
    out: list[str] = []
    last = 0
    for match in _SPEC.finditer(template):
        out.append(template[last : match.start()])
        last = match.end()
        argno, _width, spec = match.groups()
        if spec == "%":
            out.append("%")
            continue
        index = int(argno) - 1 if argno else position
        position = index + 1
        if index >= len(values):
            return None
        value = values[index]
        if spec == "I":
            out.append(_ident(value))
        elif spec == "L":
            out.append(_literal(value))
        else:
            out.append(value)
    out.append(template[last:])
    return "".join(out)


def _ident(value: str) -> str:
    """quote_ident's meaning, always quoted (``%I``, ``quote_ident()``)."""
    return '"' + value.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote_literal(args: list[str]) -> str | None:
    if len(args) != 1 or "\\" in args[0]:
        return None  # a backslash makes it E'…' in PostgreSQL: not folded
    return _literal(args[0])


_BUILDERS: dict[str, Callable[[list[str]], str | None]] = {
    "format": _format,
    "concat": lambda args: "".join(args),
    "concat_ws": lambda args: args[0].join(args[1:]),
    "quote_ident": lambda args: _ident(args[0]) if len(args) == 1 else None,
    "quote_literal": _quote_literal,
}
"""The string builders a migration writes its EXECUTE with, folded when every argument is a literal.
``quote_ident`` always quotes: the same identifier PostgreSQL means when it quotes only as needed."""
