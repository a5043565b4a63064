"""SQL inside ``DO`` blocks and PL/pgSQL bodies, which PostgreSQL's parser sees only as a string.

pglast parses PL/pgSQL too: static statements in a body are checked like any other, and an
``EXECUTE`` of a string literal (or of literals joined with ``||`` or passed to ``format()``,
``concat()``, ``concat_ws()``, ``quote_ident()``, ``quote_literal()``) is parsed and checked as SQL.
What is built at run time (variables) cannot be read here; it becomes a warning that names the
runtime guard, which sees the real statement when it runs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pglast import parser

from nyxops.sql import Node, load_tree, walk


@dataclass(frozen=True)
class Embedded:
    """A piece of SQL found in a body: ``sql`` is set when it can be read, else ``expression``."""

    sql: str | None
    expression: str
    dynamic: bool


def body_and_language(kind: str, body: Node) -> tuple[str | None, str]:
    """The code and language of a DoStmt or CreateFunctionStmt (language defaults as PostgreSQL's)."""
    key = "args" if kind == "DoStmt" else "options"
    code: str | None = None
    language = "plpgsql" if kind == "DoStmt" else "sql"
    for item in body.get(key, []):
        elem = item.get("DefElem", {})
        arg = elem.get("arg", {})
        if elem.get("defname") == "as":
            if "String" in arg:
                code = arg["String"]["sval"]
            elif "List" in arg and arg["List"].get("items"):
                code = arg["List"]["items"][0].get("String", {}).get("sval")
        elif elem.get("defname") == "language" and "String" in arg:
            language = arg["String"]["sval"].lower()
    return code, language


def literal_value(expression: str) -> str | None:
    """The string an expression always evaluates to, when it is literals joined by ``||``."""
    try:
        tree = load_tree(parser.parse_sql_json(f"SELECT {expression}"))
        target = tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]
    except (parser.ParseError, KeyError, IndexError):
        return None
    return _fold(target)


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


def _fold(node: Node) -> str | None:
    if "A_Const" in node:
        return _constant_text(node["A_Const"])
    if "A_Expr" in node:
        expr = node["A_Expr"]
        op = [n.get("String", {}).get("sval") for n in expr.get("name", [])]
        if op == ["||"]:
            left, right = _fold(expr.get("lexpr", {})), _fold(expr.get("rexpr", {}))
            if left is not None and right is not None:
                return left + right
    if "TypeCast" in node:
        cast = node["TypeCast"]
        arg = cast.get("arg", {})
        names = [n.get("String", {}).get("sval") for n in cast.get("typeName", {}).get("names", [])]
        if "sval" not in arg.get("A_Const", {"sval": None}) and names[-1:] not in (["text"], ["varchar"]):
            return None  # 1.5::int prints 2, true::int 1: only a cast to text keeps the literal's text
        return _fold(arg)
    if "FuncCall" in node:
        call = node["FuncCall"]
        names = [n.get("String", {}).get("sval") for n in call.get("funcname", [])]
        name = names[-1] if names[:-1] in ([], ["pg_catalog"]) else None
        args = [_fold(a) for a in call.get("args", [])]
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


@functools.lru_cache(maxsize=8)
def _plpgsql(whole: str) -> Any:
    """pglast's PL/pgSQL tree of a CREATE FUNCTION (read only): a trigger function's is read twice,
    by the walk (``embedded_sql``) and by ``new_fields_assigned``, and parsed once."""
    return load_tree(parser.parse_plpgsql_json(whole))


def embedded_sql(code: str, whole: str | None = None) -> Iterator[Embedded]:
    """Every piece of SQL of a PL/pgSQL body: statements, expressions (``PERFORM f()``, ``x := f()``,
    ``FOR r IN query``, conditions) and what ``EXECUTE`` runs, when it can be read.

    ``whole`` is the CREATE FUNCTION statement itself when there is one (its parameters and return
    type decide what the body may say); a DO block's code is wrapped in a function returning void.
    """
    wrapper = (
        whole or f"CREATE FUNCTION nyxops_body() RETURNS void LANGUAGE plpgsql AS $nyxops_body${code}$nyxops_body$"
    )
    tree = _plpgsql(wrapper)
    executed: set[int] = set()
    for kind, node in walk(tree):
        if kind in ("PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors", "PLpgSQL_stmt_open"):
            expr = node.get("query" if kind != "PLpgSQL_stmt_open" else "dynquery", {}).get("PLpgSQL_expr")
            if expr is not None:
                executed.add(id(expr))
                expression = expr.get("query", "")
                yield Embedded(literal_value(expression), expression, dynamic=True)
                yield Embedded("SELECT " + expression, expression, dynamic=False)  # calls inside the expression
        elif kind == "PLpgSQL_expr" and id(node) not in executed:
            query = node.get("query", "")
            mode = node.get("parseMode", 0)
            if mode == 0:
                yield Embedded(query, query, dynamic=False)
            else:  # an expression; an assignment is "target := expression"
                expression = query.split(":=", 1)[1] if mode >= 3 and ":=" in query else query
                yield Embedded("SELECT " + expression, expression, dynamic=False)


def new_fields_assigned(whole: str) -> set[str]:
    """The columns a PL/pgSQL trigger function may set on the row it returns; ``*`` for all of them.

    In a BEFORE UPDATE trigger, each overwrites that column of every row the app later updates:
    ``NEW.col := …``, ``SELECT … INTO NEW.col``, a field of a copy (``r := NEW; r.col := …``),
    and ``NEW := …`` as a whole (``jsonb_populate_record``). Keeping the old value (``:= OLD.col``,
    ``NEW := OLD``) is left out. ``whole`` is the CREATE FUNCTION statement.
    """
    tree = _plpgsql(whole)
    function = tree[0].get("PLpgSQL_function", {}) if isinstance(tree, list) and tree else {}
    datums = function.get("datums", [])

    def datum(varno: int) -> Node:
        return datums[varno] if 0 <= varno < len(datums) else {}

    def target(varno: int) -> str | None:
        if datum(varno).get("PLpgSQL_rec", {}).get("refname") == "new":
            return "*"
        field = datum(varno).get("PLpgSQL_recfield")
        if field is None:
            return None
        parent = datum(field.get("recparentno", 0)).get("PLpgSQL_rec", {})
        return None if parent.get("refname") == "old" else str(field.get("fieldname"))

    found: set[str] = set()
    for kind, node in walk(function.get("action", {})):
        names: list[str | None] = []
        if kind == "PLpgSQL_stmt_assign":  # libpg_query leaves out a varno of 0: NEW, in a trigger function
            name = target(int(node.get("varno", 0)))
            query = node.get("expr", {}).get("PLpgSQL_expr", {}).get("query", "")
            if name is not None and not _keeps_old(name, query):
                names.append(name)
        elif kind == "PLpgSQL_row":
            names.extend(target(int(f.get("varno", 0))) for f in node.get("fields", []))
        elif kind == "PLpgSQL_rec" and node.get("refname") == "new":  # SELECT … INTO NEW
            names.append("*")
        found.update(name for name in names if name is not None)
    return found


def _keeps_old(name: str, assignment: str) -> bool:
    """``NEW := OLD`` or ``NEW.col := OLD.col``, the same column: the value stays what it was."""
    value = assignment.split(":=", 1)[-1] if ":=" in assignment else assignment.split("=", 1)[-1]
    parts = [p.strip() for p in value.strip().split(".")]
    if not parts or parts[0].lower() != "old":
        return False
    if name == "*":
        return len(parts) == 1
    column = parts[1] if len(parts) == 2 else ""
    unquoted = column[1:-1] if column[:1] == column[-1:] == '"' and len(column) > 1 else column.lower()
    return unquoted == name
