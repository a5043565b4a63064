"""SQL inside ``DO`` blocks and PL/pgSQL bodies, which PostgreSQL's parser sees only as a string.

pglast parses PL/pgSQL too: static statements in a body are checked like any other, and an
``EXECUTE`` of a string literal (or of literals joined with ``||`` or passed to ``format()``,
``concat()``, ``concat_ws()``, ``quote_ident()``, ``quote_literal()``: ``fold.py``) is parsed and
checked as SQL, and so is one built from variables whose values are known (``variables.py``: a
constant text, each value of a FOREACH over a known array). What is built at run time cannot be
read here; it becomes a warning that names the runtime guard, which sees the real statement.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import parser

from nyxops.guard import declared_types
from nyxops.guard.fold import literal_value
from nyxops.guard.variables import EXECUTED, Variables
from nyxops.sql import Node, load_tree, walk


@dataclass(frozen=True)
class Embedded:
    """A piece of SQL found in a body: ``sql`` is set when it can be read, else ``expression``."""

    sql: str | None
    expression: str
    dynamic: bool


UNTRUSTED = frozenset(
    {"plpythonu", "plpython2u", "plpython3u", "plperlu", "pltclu", "plluau", "pljavau", "plsh", "plr"}
)
"""PostgreSQL's untrusted procedural languages: their code runs with the server's own rights."""
UNTRUSTED_BODY = "UntrustedLanguageBody"
"""The walk's own node for a body in one of them (``{"language": "plpython3u"}``): nyxops does not
read such code, and a rule (server-write) can only see that it is there."""


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


@functools.lru_cache(maxsize=8)
def plpgsql_tree(whole: str) -> Any:
    """pglast's PL/pgSQL tree of a CREATE FUNCTION (read only): a trigger function's is read three
    times, by the walk (``embedded_sql``), ``new_fields_assigned`` and ``silence``, and parsed once."""
    try:
        return load_tree(parser.parse_plpgsql_json(whole))
    except parser.ParseError as exc:
        for readable in declared_types.readings(whole):  # types its parser cannot resolve: see there
            try:
                return load_tree(parser.parse_plpgsql_json(readable))
            except parser.ParseError:
                continue
        raise exc from None  # the error of the text as written


def embedded_sql(code: str, whole: str | None = None) -> Iterator[Embedded]:
    """Every piece of SQL of a PL/pgSQL body: statements, expressions (``PERFORM f()``, ``x := f()``,
    ``FOR r IN query``, conditions) and what ``EXECUTE`` runs, when it can be read.

    ``whole`` is the CREATE FUNCTION statement itself when there is one (its parameters and return
    type decide what the body may say); a DO block's code is wrapped in a function returning void.
    """
    wrapper = (
        whole or f"CREATE FUNCTION nyxops_body() RETURNS void LANGUAGE plpgsql AS $nyxops_body${code}$nyxops_body$"
    )
    tree = plpgsql_tree(wrapper)
    variables: Variables | None = None  # read at the first EXECUTE: most bodies have none
    executed: set[int] = set()
    for kind, node in walk(tree):
        if kind in EXECUTED:
            if variables is None:
                variables = Variables(tree[0].get("PLpgSQL_function", {}) if isinstance(tree, list) and tree else {})
            for expr, bindings in variables.executed({kind: node}):
                executed.add(id(expr))
                expression = expr.get("query", "")
                folded = {literal_value(expression, {**variables.constants, **binding}) for binding in bindings}
                for sql in sorted(folded, key=lambda text: text or ""):  # one per loop value; None: unknown
                    yield Embedded(sql, expression, dynamic=True)
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
    tree = plpgsql_tree(whole)
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
