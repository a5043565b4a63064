"""Types that libpg_query's PL/pgSQL parser cannot look up, renamed so that it reads the body.

It parses a body without a catalog, yet resolves the type of each parameter, of the result and of
each declared variable: a type in a schema other than ``public`` and ``pg_catalog`` fails
("LookupExplicitNamespace only supports pg_catalog and public"), and so does an array of a type it
does not know ("PL/pgSQL functions cannot accept type _record"). ``DECLARE j app.jobs;``,
``RETURNS SETOF app.jobs`` or ``specs app.job_spec[]`` then left the guard unable to read the body
at all (a ``dynamic-sql`` warning, its drops and deletes unseen): graphile-worker's migration
history is written so. The guard reads no declared type but the built-in text ones
(``variables.py``), so for the parse alone such a type is renamed: its schema to ``public``, an
array's element to ``pg_catalog.int4``. The parser itself says which types need it (``_accepted``),
and every statement of the body stays as written.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import NamedTuple

from pglast.parser import ParseError, parse_plpgsql_json, parse_sql_json, scan

from nyxops.sql import Node, load_tree

_NAME_KINDS = frozenset({"NO_KEYWORD", "UNRESERVED_KEYWORD", "COL_NAME_KEYWORD", "TYPE_FUNC_NAME_KEYWORD"})
_DOT, _OPEN, _CLOSE, _SEMICOLON, _PERCENT = "ASCII_46", "ASCII_40", "ASCII_41", "ASCII_59", "ASCII_37"
_BRACKETS = ("ASCII_91", "ASCII_93", "ICONST")


class _Token(NamedTuple):
    start: int
    end: int
    """Inclusive, in characters, as pglast's scanner gives them."""
    name: str
    kind: str


def readings(whole: str) -> Iterator[str]:
    """``whole`` (a CREATE FUNCTION, or the function a DO block is wrapped in) with each type the
    PL/pgSQL parser cannot resolve renamed; nothing when there is none it can rename (the caller
    then keeps its parse error).

    Then, only if asked for (the first did not parse), the same with each declared variable's type
    that the parser takes for a row although it may be an enum or a domain (``_row_like``) read as
    ``pg_catalog.int4``: as a row it refuses ``SELECT a, b INTO status, flag`` ("record variable
    cannot be part of multiple-item INTO list"), as in procrastinate's functions. Second, because
    a row variable whose fields the body assigns (``r.id := 1``) does not parse as a scalar.
    """
    try:
        tokens = [_Token(t.start, t.end, t.name, t.kind) for t in scan(whole)]
        statement = load_tree(parse_sql_json(whole))["stmts"][0]["stmt"].get("CreateFunctionStmt", {})
    except (ParseError, KeyError, IndexError):
        return
    body = next((i for i in range(1, len(tokens)) if tokens[i].name == "SCONST" and tokens[i - 1].name == "AS"), None)
    if body is None:
        return
    types = [p["FunctionParameter"]["argType"] for p in statement.get("parameters", [])]
    types += [statement["returnType"]] if "returnType" in statement else []
    signature = [edit for t in types if (edit := _signature_type(whole, tokens, t)) is not None]
    previous = whole
    for scalars in (False, True):
        text = whole
        for start, end, replacement in sorted(signature + _declared(whole, tokens[body], scalars), reverse=True):
            text = text[:start] + replacement + text[end:]
        if text != previous:
            yield text
            previous = text


def _signature_type(whole: str, tokens: list[_Token], type_name: Node) -> tuple[int, int, str] | None:
    names = type_name.get("names", [])
    if type_name.get("pct_type") or not names or names[0].get("String", {}).get("sval") == "pg_catalog":
        return None  # %TYPE parses; built-in types written as keywords come back as pg_catalog.…
    at = len(whole.encode()[: type_name.get("location", -1)].decode(errors="ignore"))  # bytes to characters
    first = next((i for i, t in enumerate(tokens) if t.start == at), None)
    return None if first is None else _renamed(whole, tokens, first)


def _declared(whole: str, literal: _Token, scalars: bool) -> list[tuple[int, int, str]]:
    """In the body's string: each type declared as ``name [CONSTANT] type`` in a DECLARE section."""
    text = whole[literal.start : literal.end + 1]
    if text.startswith("$"):
        tag = text[: text.index("$", 1) + 1]
        offset, code = literal.start + len(tag), text[len(tag) : -len(tag)]
    elif text.startswith("'"):
        offset, code = literal.start + 1, text[1:-1]
    else:  # E'…' or U&'…': escapes this does not undo
        return []
    try:
        tokens = [_Token(t.start + offset, t.end + offset, t.name, t.kind) for t in scan(code)]
    except ParseError:
        return []
    edits = []
    state = ""  # "" outside a DECLARE section; then "name", "type" and "rest" of each declaration
    for i, token in enumerate(tokens):
        if token.name == "DECLARE":
            state = "name"
        elif token.name == "BEGIN_P":
            state = ""
        elif not state:
            continue
        elif token.name == _SEMICOLON:
            state = "name"
        elif state == "name":
            state = "type"
        elif state == "type" and whole[token.start : token.end + 1].lower() != "constant":
            edit = _renamed(whole, tokens, i, scalars)
            edits += [edit] if edit is not None else []
            state = "rest"  # defaults, NOT NULL, a cursor's query: left as written
    return edits


def _renamed(whole: str, tokens: list[_Token], first: int, scalars: bool = False) -> tuple[int, int, str] | None:
    """The type starting at ``tokens[first]`` (``name``, ``schema.name``, a typmod, ``[]``), renamed
    when the parser refuses it as written: (start, end, replacement) of the part renamed."""
    i = first
    if tokens[i].kind not in _NAME_KINDS:
        return None
    while i + 2 < len(tokens) and tokens[i + 1].name == _DOT and tokens[i + 2].kind in _NAME_KINDS:
        i += 2
    if i + 1 < len(tokens) and tokens[i + 1].name in (_DOT, _PERCENT):
        return None  # three parts, or %TYPE / %ROWTYPE: left as written
    name_end = tokens[i].end + 1
    if i + 1 < len(tokens) and tokens[i + 1].name == _OPEN:  # a typmod: varchar(20), numeric(10, 2)
        i = next((j for j in range(i + 1, len(tokens)) if tokens[j].name == _CLOSE), len(tokens) - 1)
    array = i + 1 < len(tokens) and tokens[i + 1].name == _BRACKETS[0]
    while i + 1 < len(tokens) and tokens[i + 1].name in _BRACKETS:
        i += 1
    written = whole[tokens[first].start : tokens[i].end + 1]
    if array and not _accepted(written):
        return tokens[first].start, name_end, "pg_catalog.int4"
    qualified = first != i and tokens[first + 1].name == _DOT
    if scalars and not array and written.lower() != "record":
        schema_known = not qualified or _accepted(written)
        as_known = written if schema_known else "public" + whole[tokens[first].end + 1 : tokens[i].end + 1]
        if _row_like(as_known):
            return tokens[first].start, name_end, "pg_catalog.int4"
    if qualified and not _accepted(written):
        return tokens[first].start, tokens[first].end + 1, "public"
    return None


@functools.lru_cache(maxsize=256)
def _row_like(type_text: str) -> bool:
    """Does the parser take a variable of ``type_text`` for a row (every type it does not know)?"""
    probe = (
        f"CREATE FUNCTION nyxops_probe() RETURNS void LANGUAGE plpgsql AS $p$DECLARE v {type_text}; w int; "
        "BEGIN SELECT 1, 2 INTO v, w; END$p$"
    )
    try:
        parse_plpgsql_json(probe)
    except ParseError:
        return True
    return False


@functools.lru_cache(maxsize=256)
def _accepted(type_text: str) -> bool:
    """Does libpg_query's PL/pgSQL parser take ``type_text`` as a parameter's type? Asked of the parser."""
    probe = f"CREATE FUNCTION nyxops_probe(v {type_text}) RETURNS void LANGUAGE plpgsql AS $p$BEGIN END$p$"
    try:
        parse_plpgsql_json(probe)
    except ParseError:
        return False
    return True
