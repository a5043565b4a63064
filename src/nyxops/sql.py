"""SQL files -> statements, with PostgreSQL's own parser (libpg_query through pglast).

Why JSON and not pglast's Python AST: the guard only needs a few node types, and
``parse_sql_json`` + ``orjson.loads`` is several times faster than building AST objects for a
10,000-statement file. A file is parsed whole before anything runs, so a syntax error or a psql
meta-command is refused with file:line:column and nothing is executed.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pglast import parser

from nyxops.errors import SqlParseError

_ALLOW = re.compile(r"--\s*nyxops:allow\b[ \t]*(?P<rule>\S*)[ \t]*(?P<object>\S*)[ \t]*(?P<rest>[^\n]*)")
_NEAR = re.compile(r'at or near "(?P<token>.*)"')

Node = dict[str, Any]


def load_tree(raw: str) -> Any:
    """libpg_query's JSON (``parse_sql_json``, ``parse_plpgsql_json``) as dicts and lists.

    With orjson, at 2.5 times ``json.loads``: lint reads one tree for each statement it looks
    into. orjson refuses integers past 64 bits, which json reads, so those go the slow way.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


@dataclass(frozen=True)
class AllowDirective:
    rule: str
    object: str
    line: int
    extra: str = ""


_KEYWORD = re.compile(r"[A-Za-z_]+")
_SPACE = re.compile(r"[\s;]+")


@dataclass(slots=True)
class Statement:
    """One top-level statement: where it is, its text, and its parse tree (built on first use).

    The whole file is parsed once to find the statements (and any syntax error); a statement's
    own tree (libpg_query JSON) is built only when something asks for it, which the guard does
    only for the few kinds of statement that can destroy data.
    """

    index: int
    text: str
    offset: int
    source: SqlSource = field(repr=False)
    allows: list[AllowDirective] = field(default_factory=list)
    keyword: str = ""
    """The leading word, upper-cased: the guard's first, cheapest look."""
    _node: Node | None = field(default=None, repr=False)
    _kind: str | None = field(default=None, repr=False)

    @property
    def line(self) -> int:
        return self.source.line_col(self.offset)[0]

    @property
    def column(self) -> int:
        return self.source.line_col(self.offset)[1]

    @property
    def node(self) -> Node:
        if self._node is None:
            try:
                stmts = load_tree(parser.parse_sql_json(self.text)).get("stmts", [])
            except RecursionError:
                raise SqlParseError(
                    self.source.name, self.line, self.column, "nested too deeply to check (split the expression)"
                ) from None
            except parser.ParseError as exc:  # the splitter accepted it; the full parse did not
                raise SqlParseError(self.source.name, self.line, self.column, str(exc.args[0])) from None
            self._node = stmts[0]["stmt"] if stmts else {"EmptyStmt": {}}
        return self._node

    @property
    def kind(self) -> str:
        if self._kind is None:
            self._kind = next(iter(self.node))
        return self._kind

    @property
    def body(self) -> Node:
        value: Node = self.node[self.kind]
        return value

    def position(self, byte_location: int | None) -> tuple[int, int]:
        """Line and column in the file of a node's ``location`` (a byte offset into this statement)."""
        if byte_location is None or byte_location < 0:
            return self.source.line_col(self.offset)
        if self.source.ascii:
            return self.source.line_col(self.offset + byte_location)
        chars = len(self.text.encode("utf-8")[:byte_location].decode(errors="ignore"))
        return self.source.line_col(self.offset + chars)

    @property
    def transactional(self) -> bool:
        """False for statements PostgreSQL refuses inside a transaction block."""
        return non_transactional_reason(self) is None


_MAYBE_NON_TRANSACTIONAL = {"CREATE", "DROP", "REINDEX", "VACUUM", "ALTER", "CLUSTER"}
_REINDEX_WHOLE = {
    "REINDEX_OBJECT_SCHEMA": "REINDEX SCHEMA",
    "REINDEX_OBJECT_SYSTEM": "REINDEX SYSTEM",
    "REINDEX_OBJECT_DATABASE": "REINDEX DATABASE",
}


def non_transactional_reason(stmt: Statement) -> str | None:
    if stmt.keyword not in _MAYBE_NON_TRANSACTIONAL:
        return None
    kind, body = stmt.kind, stmt.body
    if kind == "IndexStmt" and body.get("concurrent"):
        return "CREATE INDEX CONCURRENTLY cannot run inside a transaction"
    if kind == "DropStmt" and body.get("concurrent"):
        return "DROP INDEX CONCURRENTLY cannot run inside a transaction"
    if kind == "ReindexStmt" and any(
        (p.get("DefElem") or {}).get("defname") == "concurrently" for p in body.get("params", [])
    ):
        return "REINDEX CONCURRENTLY cannot run inside a transaction"
    if kind == "ReindexStmt" and body.get("kind") in _REINDEX_WHOLE:
        return f"{_REINDEX_WHOLE[body['kind']]} cannot run inside a transaction"
    if kind == "ClusterStmt" and "relation" not in body:
        return "CLUSTER of every table cannot run inside a transaction"
    if kind == "AlterTableStmt" and any(
        c.get("AlterTableCmd", {}).get("subtype") == "AT_DetachPartition"
        and c["AlterTableCmd"].get("def", {}).get("PartitionCmd", {}).get("concurrent")
        for c in body.get("cmds", [])
    ):
        return "DETACH PARTITION CONCURRENTLY cannot run inside a transaction"
    reasons = {
        "VacuumStmt": "VACUUM cannot run inside a transaction",
        "CreatedbStmt": "CREATE DATABASE cannot run inside a transaction",
        "DropdbStmt": "DROP DATABASE cannot run inside a transaction",
        "AlterSystemStmt": "ALTER SYSTEM cannot run inside a transaction",
        "CreateTableSpaceStmt": "CREATE TABLESPACE cannot run inside a transaction",
        "DropTableSpaceStmt": "DROP TABLESPACE cannot run inside a transaction",
    }
    if kind == "VacuumStmt" and not body.get("is_vacuumcmd", False):
        return None  # plain ANALYZE runs in a transaction
    return reasons.get(kind)


class SqlSource:
    """The text of one file with fast byte->char and char->line:column conversions."""

    def __init__(self, text: str, name: str) -> None:
        self.text, self.name = text, name
        self._encoded = text.encode("utf-8")
        self.ascii = len(self._encoded) == len(text)
        self._char_of_byte: list[int] | None = None
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def char_offset(self, byte_offset: int) -> int:
        if self.ascii:
            return byte_offset
        if self._char_of_byte is None:
            table: list[int] = []
            for i, ch in enumerate(self.text):
                table.extend([i] * len(ch.encode("utf-8")))
            table.append(len(self.text))
            self._char_of_byte = table
        return self._char_of_byte[min(byte_offset, len(self._char_of_byte) - 1)]

    def line_col(self, char_offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, char_offset)
        return line, char_offset - self._line_starts[line - 1] + 1


def _error_offset(text: str, exc: parser.ParseError) -> int:
    """Where the parser stopped, as a character offset (pglast 6 shifts it in multi-byte text)."""
    reported = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
    near = _NEAR.search(str(exc.args[0]))
    if near and near.group("token"):
        token = near.group("token")
        found = text.find(token, max(0, reported - 1))
        if found >= 0:
            return found
    if "end of input" in str(exc.args[0]):
        return len(text.rstrip())
    return max(0, min(reported, len(text)))


def _gap(text: str, start: int, stop: int) -> tuple[int, list[int]]:
    """Skip whitespace, semicolons and comments from ``start``: where the statement begins, and the
    offsets of the ``--`` line comments on the way (only those can hold allow directives).

    Block comments nest in PostgreSQL (``/* a /* b */ c */`` is one comment), so they are counted,
    not matched by a regular expression; a ``--`` inside a block comment is no line comment.
    """
    pos, line_comments = start, []
    while pos < stop:
        space = _SPACE.match(text, pos, stop)
        if space is not None:
            pos = space.end()
        elif text.startswith("--", pos):
            line_comments.append(pos)
            end = text.find("\n", pos, stop)
            pos = stop if end < 0 else end + 1
        elif text.startswith("/*", pos):
            depth, pos = 1, pos + 2
            while depth and pos < stop:
                close, opened = text.find("*/", pos, stop), text.find("/*", pos, stop)
                if close < 0:
                    pos = stop
                elif 0 <= opened < close:
                    depth, pos = depth + 1, opened + 2
                else:
                    depth, pos = depth - 1, close + 2
        else:
            break
    return pos, line_comments


_ANOTHER_DATABASE = "syntax, not PostgreSQL's: is this another database's migrations folder?"
_FILLED_IN = "the tool that runs this file fills it in; give nyxops the SQL that tool sends"
_NOT_POSTGRES = (
    (re.compile(r"(?:PRAGMA|AUTOINCREMENT)\b", re.I), f"SQLite {_ANOTHER_DATABASE}"),
    (re.compile(r"(?:AUTO_INCREMENT|UNSIGNED)\b|ENGINE\s*=|`", re.I), f"MySQL {_ANOTHER_DATABASE}"),
    (re.compile(r":(?!:)[\"']?[A-Za-z_]"), f"a psql variable: {_FILLED_IN}"),
    (re.compile(r"\$%|\{\{|%\(|%s\b"), f"a placeholder of a template or a client library: {_FILLED_IN}"),
)
"""What a syntax error at the text's position most likely is, when it is another tool's, not newer SQL."""


def parse(text: str, name: str = "<sql>") -> list[Statement]:
    """Split and parse ``text``; raise SqlParseError (with line:column) when it is not PostgreSQL."""
    source = SqlSource(text, name)
    try:
        slices = parser.split(text, with_parser=True, only_slices=True)
    except parser.ParseError as exc:
        offset = _error_offset(text, exc)
        line, col = source.line_col(offset)
        message = str(exc.args[0]).split(", at index")[0]
        other = next((why for pattern, why in _NOT_POSTGRES if pattern.match(text, offset)), None)
        if other is not None:
            message += f" ({other})"
        elif message.startswith("syntax error"):  # could be syntax newer than the parser's
            message += f" (nyxops reads PostgreSQL {parser.get_postgresql_version()[0]} syntax)"
        if text[offset : offset + 1] == "\\":
            word = re.match(r"\\\S*", text[offset:])
            meta = word.group(0) if word else "\\"
            message = f"psql meta-command {meta} is not SQL; nyxops sends SQL only (use a separate tool or plain SQL)"
        raise SqlParseError(name, line, col, message) from None
    statements: list[Statement] = []
    previous_end = 0
    keyword, space = _KEYWORD.match, _SPACE.match
    for piece in slices:
        stop = piece.stop
        gap_start, previous_end = previous_end, stop
        blank = space(text, gap_start, stop)
        start = blank.end() if blank is not None else gap_start
        if text.startswith(("--", "/*"), start):  # comments before it: the whole gap, read with care
            start, comments = _gap(text, gap_start, stop)
        else:
            comments = []
        body = text[start:stop].rstrip().rstrip(";").rstrip()
        if not body:
            continue
        allows = []
        if comments and text.find("nyxops:allow", gap_start, start) >= 0:
            for comment in comments:
                match = _ALLOW.match(text, comment)
                if match is not None:
                    allow_line = source.line_col(match.start())[0]
                    allows.append(AllowDirective(match["rule"], match["object"], allow_line, match["rest"].strip()))
        word = keyword(body)
        upper = word.group(0).upper() if word else ""
        statements.append(Statement(len(statements), body, start, source, allows, upper))
    return statements


def parse_file(path: Path, data: bytes | None = None) -> list[Statement]:
    """``data``: the file's bytes when the caller has read them already (lint's cache hashed them)."""
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SqlParseError(str(path), 1, 1, f"cannot read: {exc.strerror}") from None
    return parse(decode(data, str(path)), str(path))


def decode(data: bytes, name: str) -> str:
    """The text of a SQL file, refused when it is not what a reviewer would read as plain UTF-8 text.

    A NUL byte ends the string libpq sends: everything after it would silently not run, so what
    was reviewed would not be what runs. A byte-order mark is named rather than passed to the
    parser as a syntax error at 1:1.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        raise SqlParseError(name, 1, 1, "starts with a UTF-8 byte-order mark (BOM): save it as UTF-8 without BOM")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SqlParseError(name, line, 1, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        column = nul - (text.rfind("\n", 0, nul) + 1) + 1
        reason = "contains a NUL byte: not a text file (what follows it would never run)"
        raise SqlParseError(name, line, column, reason)
    return text


def walk(node: Any) -> Iterator[tuple[str, Node]]:
    """Every ``{"NodeType": {...}}`` below ``node``, depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(value, dict) and key[:1].isupper():
                    yield key, value
                if isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
