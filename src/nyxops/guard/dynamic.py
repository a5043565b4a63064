"""SQL inside ``DO`` blocks and PL/pgSQL bodies, which PostgreSQL's parser sees only as a string.

pglast parses PL/pgSQL too: static statements in a body are checked like any other, and an
``EXECUTE`` of a string literal (or of literals joined with ``||``) is parsed and checked as SQL.
What is built at run time (``format()``, variables) cannot be read here; it becomes a warning that
names the runtime guard, which sees the real statement when it runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import parser

from nyxops.sql import Node, walk


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
        tree = json.loads(parser.parse_sql_json(f"SELECT {expression}"))
        target = tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]
    except (parser.ParseError, KeyError, IndexError):
        return None
    return _fold(target)


def _fold(node: Node) -> str | None:
    if "A_Const" in node:
        const = node["A_Const"]
        return const["sval"]["sval"] if "sval" in const else None
    if "A_Expr" in node:
        expr = node["A_Expr"]
        op = [n.get("String", {}).get("sval") for n in expr.get("name", [])]
        if op == ["||"]:
            left, right = _fold(expr.get("lexpr", {})), _fold(expr.get("rexpr", {}))
            if left is not None and right is not None:
                return left + right
    if "TypeCast" in node:
        return _fold(node["TypeCast"].get("arg", {}))
    return None


def embedded_sql(code: str) -> Iterator[Embedded]:
    """Every SQL statement of a PL/pgSQL body, static or executed."""
    wrapper = f"CREATE FUNCTION nyxops_body() RETURNS void LANGUAGE plpgsql AS $nyxops_body${code}$nyxops_body$"
    tree: Any = json.loads(parser.parse_plpgsql_json(wrapper))
    for kind, node in walk(tree):
        if kind == "PLpgSQL_stmt_execsql":
            query = node.get("sqlstmt", {}).get("PLpgSQL_expr", {}).get("query", "")
            yield Embedded(query, query, dynamic=False)
        elif kind in ("PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors"):
            expression = node.get("query", {}).get("PLpgSQL_expr", {}).get("query", "")
            yield Embedded(literal_value(expression), expression, dynamic=True)
        elif kind == "PLpgSQL_stmt_open" and "dynquery" in node:
            expression = node["dynquery"].get("PLpgSQL_expr", {}).get("query", "")
            yield Embedded(literal_value(expression), expression, dynamic=True)
