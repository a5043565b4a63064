"""The text prefilter: may a statement hold a node any rule looks at? If not, no parse tree is built.

A linted file is mostly statements no rule can match, and building their trees was most of lint's
time. Each branch rules a statement out only when its text proves it; the tests check that on every
statement of every corpus, in the file's own context.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pglast import keywords

from nyxops.names import NAME_PATTERN as _NAME
from nyxops.sql import Statement

_ALIAS = rf"(?:\s+(?:AS\s+)?(?!(?:USING|RETURNING|SET|WHERE)\b){_NAME})?"
_TARGET = rf"(?:ONLY\s+)?{_NAME}(?:\.{_NAME}){{0,2}}(?:\s*\*)?{_ALIAS}"
_PLAIN = r"(?:[^()'\"$;\\/-]|'[^'\\]*'|-(?!-)|/(?!\*))"
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?"
_CONDITION = re.compile(
    rf"\s*(?P<left>{_IDENT})\s*(?:=|<>|<|>|<=|>=)\s*(?:-?\d+(?:\.\d+)?|'[^'\\]*'|(?P<right>{_IDENT}))\s*", re.I
)
_AND = re.compile(r"AND\b", re.I)
_RETURNING = re.compile(rf"RETURNING\s+{_IDENT}(?:\s*,\s*{_IDENT})*\s*$", re.I)
# The top-level WHERE of a DELETE or UPDATE, proven from the text: it follows the target (and,
# for UPDATE, a SET list with no parenthesis, comment, dollar quote, backslash or quoted name in
# which a WHERE could hide). What follows it must be a plain condition (``_plain_where``).
_DELETE_WHERE = re.compile(rf"DELETE\s+FROM\s+{_TARGET}(?:\s+USING\s+{_TARGET})?\s+WHERE\b", re.I)
_UPDATE_WHERE = re.compile(rf"UPDATE\s+{_TARGET}\s+SET\s{_PLAIN}*?\sWHERE\b", re.I)


_NOT_A_COLUMN = frozenset(w.upper() for w in keywords.RESERVED_KEYWORDS | keywords.TYPE_FUNC_NAME_KEYWORDS)
"""Words that read like a name but are a constant or a function where an expression may stand
(``true``, ``null``, ``current_user``, ``current_schema``): never a column, written unquoted."""


def _plain_where(text: str, start: int, *, returning: bool) -> bool:
    """``a = 1 AND x.id = u.id …`` up to the end: never reaches every row (a column is compared
    with a literal or with a column written differently; ``where.py`` calls neither always true,
    and each names a column)."""
    pos = start
    while True:
        cond = _CONDITION.match(text, pos)
        if cond is None or (cond["right"] and cond["right"].lower() == cond["left"].lower()):
            return False
        if not _columns(cond["left"]) or (cond["right"] and not _columns(cond["right"])):
            return False
        pos = cond.end()
        if pos == len(text):
            return True
        if _AND.match(text, pos):
            pos += 3
            continue
        return returning and _RETURNING.match(text, pos) is not None


def _columns(name: str) -> bool:
    return not any(part.upper() in _NOT_A_COLUMN for part in name.split("."))


def _mentions(upper: str, words: Iterable[str]) -> bool:
    # A loop of plain ``in`` tests: three times faster than a regular expression, and twice any()
    # over a generator; this runs on every statement.
    for word in words:  # noqa: SIM110  (the generator is what this avoids)
        if word in upper:
            return True
    return False


class _Words:
    """Keywords searched as whole words (``\\b(A|B)\\b``) in upper-cased text, one ``str.upper()`` per
    statement being cheaper than ``re.I``. Most statements hold none of the words at all, so the
    expression runs only when plain ``in`` finds one."""

    def __init__(self, *words: str) -> None:
        self.words = words
        self.pattern = re.compile(r"\b(" + "|".join(words) + r")\b")

    def search(self, upper: str) -> bool:
        return _mentions(upper, self.words) and self.pattern.search(upper) is not None


_ALWAYS_GROUPS = (
    ("", ("NYXOPS", "UESCAPE", "\\", "DBLINK", "CRON", "PROGRAM", "SUBSCRIPTION", "DISCARD")),
    (
        "_",
        (
            "SESSION_REPLICATION_ROLE",
            "EVENT_TRIGGERS",
            "ALLOW_SYSTEM_TABLE_MODS",
            "SEARCH_PATH",
            "SET_CONFIG",
            "POSTGRES_FDW",
            "PG_BACKGROUND",
            "LO_UNLINK",
            "LO_TRUNCATE",
            "LO_PUT",
            "LO_EXPORT",
            "PG_FILE_",
            "_COMMAND",
            "ARCHIVE_LIBRARY",
            "_PG3_",
            "PG_TEMP",
        ),
    ),
    ("PL", ("PLPYTHON", "PLPERLU", "PLTCLU", "PLLUAU", "PLJAVAU", "PLSH", "PLR")),
)
"""Text that sends any statement to the tree: the guard's own objects, name resolution, escapes,
SQL handed to another session (``other-session``), large objects removed (``large-object``),
programs, files, command settings and untrusted languages on the server (``server-write``), and
psycopg's names for what it prepares and ``DISCARD`` of the tripwire's temporary record
(``guard-tamper``), and a permanent object tied to a ``pg_temp`` one (``temp-tie``).
Grouped by a part each word of the group holds (checked first): most statements hold no ``_``
and no ``PL``, and skip those groups' words at the cost of one test each."""
ALWAYS = tuple(word for _, words in _ALWAYS_GROUPS for word in words)


def _always(upper: str) -> bool:
    for part, words in _ALWAYS_GROUPS:  # noqa: SIM110  (as _mentions: no generator on every statement)
        if part in upper and _mentions(upper, words):
            return True
    return False


_BODY = _Words("EXECUTE", "DROP", "TRUNCATE", "DELETE", "UPDATE", "ALTER", "MERGE", "CALL", "FORMAT", "COPY")
BODY_WORDS = re.compile(_BODY.pattern.pattern, re.I)
_DML = _Words("DELETE", "UPDATE", "MERGE")
_FK_ACTION = re.compile(r"\bON\s+(DELETE|UPDATE)\b")
_CREATE_BODY = _Words("FUNCTION", "PROCEDURE", "RULE", "TRIGGER")
_ALTER_WORDS = _Words("DROP", "TYPE", "RENAME", "SCHEMA", "ATTACH", "EVENT", "TRIGGER", "UNLOGGED", "DETACH", "INHERIT")
_COPY_TO = _Words("TO")
_WRITES = {"DELETE", "UPDATE", "INSERT", "COPY"}
_ALWAYS_TREE = {"DROP", "TRUNCATE", "MERGE", "WITH", "SET", "RESET", "PREPARE", "EXECUTE", "CALL"}


def may_destroy(stmt: Statement, watch: Iterable[str] = ()) -> bool:
    """A cheap first look at the text before building the statement's parse tree.

    False only when no node any rule looks at can be in the statement, so the tree is never
    needed: a linted file is mostly statements like these, and building their trees was most of
    lint's time. A destructive node needs its keyword written in the text (no escape can make a
    keyword outside a string; strings matter only as bodies, and backslashes or UESCAPE send the
    statement to the tree). ``watch`` holds the upper-cased names (protected columns, functions,
    rules and triggers the file created) whose mere mention may make a statement destructive. The
    tests check every branch on every statement of the corpora, the public projects' SQL included.
    """
    keyword = stmt.keyword
    if keyword in _ALWAYS_TREE:
        return True
    text = stmt.text
    upper = text.upper()
    if _always(upper) or _mentions(upper, watch):
        return True
    if keyword == "CREATE":
        if _CREATE_BODY.search(upper):
            return _body_may_destroy(upper) or "RULE" in upper or "TRIGGER" in upper
        # CREATE TABLE … AS WITH d AS (DELETE …); most have neither word, and need no substitution
        return _DML.search(upper) and _DML.search(_FK_ACTION.sub(" ", upper))
    if keyword == "ALTER":
        return _ALTER_WORDS.search(upper)  # ALTER … ADD/SET: no rule can match
    if keyword in _WRITES and "PG_" in upper:  # may write a system catalog (guard-tamper)
        return True
    if keyword == "DELETE":
        found = _DELETE_WHERE.match(text)
        return found is None or not _plain_where(text, found.end(), returning=True)
    if keyword == "UPDATE":
        found = _UPDATE_WHERE.match(text)
        return found is None or not _plain_where(text, found.end(), returning=False)
    if keyword == "DO":
        return _body_may_destroy(upper)
    if keyword == "INSERT":
        return _DML.search(upper)  # ON CONFLICT DO UPDATE, a CTE
    if keyword == "EXPLAIN":
        return "ANALYZE" in upper
    if keyword == "COPY":  # COPY (query), or COPY … TO a server file
        return "(" in text or _COPY_TO.search(upper)
    return False


def _body_may_destroy(upper: str) -> bool:
    """A body can only match a rule through one of ``BODY_WORDS``, written in the statement's text.

    Searched in the upper-cased text: a keyword PostgreSQL reads is ASCII letters after a character
    that cannot continue a name (ASCII too: every non-ASCII character is a name character to its
    scanner), and upper-casing leaves both as they are, so every such keyword is still found.

    Not so with backslash escapes (``E'\\x44ROP'``): ``ALWAYS`` sends such text to the parse tree.
    """
    return _BODY.search(upper)
