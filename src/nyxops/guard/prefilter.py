"""The text prefilter: may a statement hold a node any rule looks at? If not, no parse tree is built.

A linted file is mostly statements no rule can match, and building their trees was most of lint's
time. Each branch rules a statement out only when its text proves it; the tests check that on every
statement of every corpus, in the file's own context.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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


def _plain_where(text: str, start: int, *, returning: bool) -> bool:
    """``a = 1 AND x.id = u.id …`` up to the end: never always true (a column is compared with a
    literal or with a column written differently; ``where.py`` calls neither always true)."""
    pos = start
    while True:
        cond = _CONDITION.match(text, pos)
        if cond is None or (cond["right"] and cond["right"].lower() == cond["left"].lower()):
            return False
        pos = cond.end()
        if pos == len(text):
            return True
        if _AND.match(text, pos):
            pos += 3
            continue
        return returning and _RETURNING.match(text, pos) is not None


_ALWAYS = ("NYXOPS", "SESSION_REPLICATION_ROLE", "SEARCH_PATH", "SET_CONFIG", "UESCAPE", "\\")
"""Text that sends any statement to the tree: the guard's own objects, name resolution, escapes."""
BODY_WORDS = re.compile(r"\b(EXECUTE|DROP|TRUNCATE|DELETE|UPDATE|ALTER|MERGE|CALL|FORMAT)\b", re.I)
# The patterns below run on upper-cased text (one str.upper() per statement is cheaper than re.I).
_DML = re.compile(r"\b(DELETE|UPDATE|MERGE)\b")
_FK_ACTION = re.compile(r"\bON\s+(DELETE|UPDATE)\b")
_CREATE_BODY = re.compile(r"\b(FUNCTION|PROCEDURE|RULE|TRIGGER)\b")
_ALTER_WORDS = re.compile(r"\b(DROP|TYPE|RENAME|SCHEMA|ATTACH|EVENT)\b")
_ALWAYS_TREE = {"DROP", "TRUNCATE", "MERGE", "WITH", "SET", "RESET", "PREPARE", "EXECUTE", "CALL"}


def _always(upper: str) -> bool:
    # Chained ``in`` tests: four times faster than a regular expression or any() over a tuple,
    # and this runs on every statement. The tests check it against ``_ALWAYS``.
    return (
        "NYXOPS" in upper
        or "SEARCH_PATH" in upper
        or "SESSION_REPLICATION_ROLE" in upper
        or "SET_CONFIG" in upper
        or "UESCAPE" in upper
        or "\\" in upper
    )


# Each expression below is run only when one of its words is in the text at all.
def _dml(upper: str) -> bool:
    return ("DELETE" in upper or "UPDATE" in upper or "MERGE" in upper) and _DML.search(upper) is not None


def _create_body(upper: str) -> bool:
    return (
        "FUNCTION" in upper or "PROCEDURE" in upper or "RULE" in upper or "TRIGGER" in upper
    ) and _CREATE_BODY.search(upper) is not None


def _alter_words(upper: str) -> bool:
    return (
        "DROP" in upper
        or "RENAME" in upper
        or "TYPE" in upper
        or "SCHEMA" in upper
        or "ATTACH" in upper
        or "EVENT" in upper
    ) and _ALTER_WORDS.search(upper) is not None


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
    if _always(upper):
        return True
    for name in watch:
        if name in upper:
            return True
    if keyword == "CREATE":
        if _create_body(upper):
            return _body_may_destroy(upper) or "RULE" in upper or "TRIGGER" in upper
        # CREATE TABLE … AS WITH d AS (DELETE …); most have neither word, and need no substitution
        return _dml(upper) and _DML.search(_FK_ACTION.sub(" ", upper)) is not None
    if keyword == "ALTER":
        return _alter_words(upper)  # ALTER … ADD/SET/ENABLE: no rule can match
    if keyword == "DELETE":
        found = _DELETE_WHERE.match(text)
        return found is None or not _plain_where(text, found.end(), returning=True)
    if keyword == "UPDATE":
        found = _UPDATE_WHERE.match(text)
        return found is None or not _plain_where(text, found.end(), returning=False)
    if keyword == "DO":
        return _body_may_destroy(upper)
    if keyword == "INSERT":
        return _dml(upper)  # ON CONFLICT DO UPDATE, a CTE
    if keyword == "EXPLAIN":
        return "ANALYZE" in upper
    if keyword == "COPY":
        return "(" in text
    return False


_BODY_WORDS_UPPER = re.compile(BODY_WORDS.pattern)


def _body_may_destroy(upper: str) -> bool:
    """A body can only match a rule through one of ``BODY_WORDS``, written in the statement's text.

    Searched in the upper-cased text: a keyword PostgreSQL reads is ASCII letters after a character
    that cannot continue a name (ASCII too: every non-ASCII character is a name character to its
    scanner), and upper-casing leaves both as they are, so every such keyword is still found.

    Not so with backslash escapes (``E'\\x44ROP'``): ``_ALWAYS`` sends such text to the parse tree.
    """
    return (
        "EXECUTE" in upper
        or "DROP" in upper
        or "DELETE" in upper
        or "UPDATE" in upper
        or "ALTER" in upper
        or "TRUNCATE" in upper
        or "MERGE" in upper
        or "CALL" in upper
        or "FORMAT" in upper
    ) and _BODY_WORDS_UPPER.search(upper) is not None
