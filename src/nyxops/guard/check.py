"""Statements -> findings: the rules, the SQL inside bodies, allow comments and protected columns."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pglast import parser

from nyxops.defaults import PROTECTED_COLUMNS
from nyxops.errors import SqlParseError
from nyxops.guard import dynamic, registry
from nyxops.guard.created import CreatedTables
from nyxops.guard.model import ANY_PROTECTED, Finding, Hit
from nyxops.names import NAME_PATTERN as _NAME
from nyxops.names import QualifiedName, dotted, split_identifier
from nyxops.sql import AllowDirective, Statement, parse

_MAX_DEPTH = 4
_BODY_WORDS = re.compile(r"\b(EXECUTE|DROP|TRUNCATE|DELETE|UPDATE|ALTER)\b", re.I)


@dataclass(frozen=True)
class Policy:
    protected: tuple[QualifiedName, ...] = tuple(QualifiedName.parse(n, parts=(2, 3)) for n in PROTECTED_COLUMNS)

    @classmethod
    def from_names(cls, names: Iterable[str]) -> Policy:
        return cls(tuple(QualifiedName.parse(n, parts=(2, 3)) for n in names))

    def protected_hit(self, finding: Finding) -> QualifiedName | None:
        """The protected column a finding would destroy, if any."""
        for col in self.protected:
            for touched in finding.columns:
                if touched == ANY_PROTECTED or (
                    (touched.schema, touched.table, touched.column) == (col.schema, col.table, col.column)
                ):
                    return col
            for table in finding.tables:
                if table.schema in ("*", col.schema) and table.table in ("*", col.table):
                    return col
        return None


def _finding(rule_id: str, hit: Hit, stmt: Statement, *, warning: bool = False, note: str = "") -> Finding:
    rule = registry.BY_ID[rule_id]
    line, column = stmt.position(hit.location)
    finding = Finding(
        rule=rule_id,
        severity="warning" if warning else "error",
        message=rule.MESSAGE,
        help=rule.HELP,
        object=hit.object,
        line=line,
        column=column,
        statement_index=stmt.index,
        statement_text=stmt.text,
        tables=hit.tables,
        columns=hit.columns,
    )
    for extra in (hit.detail, note):
        if extra:
            finding.notes.append(extra)
    return finding


def _meta(rule_id: str, stmt: Statement, message: str, *, error: bool, line: int | None = None) -> Finding:
    return Finding(
        rule=rule_id,
        severity="error" if error else "warning",
        message=message,
        help=registry.META_RULES[rule_id],
        object="",
        line=line or stmt.line,
        column=stmt.column if line is None else 1,
        statement_index=stmt.index,
        statement_text=stmt.text,
    )


def statement_findings(stmt: Statement, depth: int = 0, *, in_function: str = "") -> list[Finding]:
    """One statement's findings, from its parse tree (``check`` first asks ``may_destroy``)."""
    findings: list[Finding] = []
    for rule in registry.rules_for(stmt.kind):
        for hit in registry.checker(rule)(stmt.body):
            note = f"inside {in_function}: runs when it is called" if in_function else ""
            findings.append(_finding(rule.ID, hit, stmt, warning=bool(in_function), note=note))
    if stmt.kind in ("DoStmt", "CreateFunctionStmt") and depth < _MAX_DEPTH:
        findings.extend(_body_findings(stmt, depth, in_function))
    return findings


def _body_findings(stmt: Statement, depth: int, in_function: str) -> list[Finding]:
    code, language = dynamic.body_and_language(stmt.kind, stmt.body)
    if code is None or language != "plpgsql" or not _BODY_WORDS.search(code):
        return []  # no EXECUTE and none of the destructive words: nothing in the body can match a rule
    if stmt.kind == "CreateFunctionStmt":
        names = [n.get("String", {}).get("sval", "?") for n in stmt.body.get("funcname", [])]
        in_function = in_function or "function " + ".".join(names)
    try:
        pieces = list(dynamic.embedded_sql(code))
    except parser.ParseError as exc:
        return [_meta(registry.DYNAMIC_SQL, stmt, f"PL/pgSQL body does not parse ({exc.args[0]})", error=False)]
    findings: list[Finding] = []
    for piece in pieces:
        if piece.sql is None:
            message = f"EXECUTE {piece.expression[:80]} is built at run time; the runtime guard checks it"
            findings.append(_meta(registry.DYNAMIC_SQL, stmt, message, error=False))
            continue
        try:
            inner = parse(piece.sql, "<body>")
        except SqlParseError:
            continue  # PL/pgSQL expressions with variables need not parse as plain SQL
        for inner_stmt in inner:
            for found in statement_findings(inner_stmt, depth + 1, in_function=in_function):
                found.line, found.column = stmt.line, stmt.column
                found.statement_index, found.statement_text = stmt.index, stmt.text
                found.notes.append("in " + ("EXECUTE of a literal" if piece.dynamic else "a PL/pgSQL body"))
                findings.append(found)
    return findings


def _normal_object(rule_id: str, text: str) -> str | None:
    try:
        parts = split_identifier(text)
    except ValueError:
        return None
    if rule_id in registry.COLUMN_RULES:
        return str(QualifiedName.parse(text, parts=(2, 3))) if len(parts) in (2, 3) else None
    if rule_id in registry.TABLE_RULES or rule_id == "drop-type":
        return str(QualifiedName.parse(text)) if len(parts) in (1, 2) else None
    return dotted(parts)


def _apply_allows(stmt: Statement, findings: list[Finding], policy: Policy, created: CreatedTables) -> list[Finding]:
    extra: list[Finding] = []
    for allow in stmt.allows:
        problem = _allow_problem(allow)
        if problem:
            extra.append(_meta(registry.INVALID_ALLOW, stmt, problem, error=True, line=allow.line))
            continue
        wanted = _normal_object(allow.rule, allow.object)
        matched = False
        for finding in findings:
            if finding.rule != allow.rule or _normal_object(finding.rule, finding.object) != wanted:
                continue
            matched = True
            protected = policy.protected_hit(finding)
            if protected is not None:
                finding.notes.append(f"{protected} is protected: an allow comment cannot allow this")
            else:
                finding.allowed = True
        if not matched:
            message = f"-- nyxops:allow {allow.rule} {allow.object} matches nothing in this statement"
            extra.append(_meta(registry.UNUSED_ALLOW, stmt, message, error=False, line=allow.line))
    for finding in findings:
        if finding.allowed or finding.severity != "error":
            continue
        protected = policy.protected_hit(finding)
        if protected is not None:
            if not any("is protected" in n for n in finding.notes):
                finding.notes.append(f"touches protected column {protected}")
            continue
        own = created.holds_only_this_files_data(finding)
        if own is not None:
            finding.allowed = True
            finding.notes.append(f"{own} was created earlier in this file: it holds nothing the database had before")
    return findings + extra


def _allow_problem(allow: AllowDirective) -> str | None:
    if allow.rule not in registry.BY_ID:
        known = ", ".join(sorted(registry.BY_ID))
        return f"unknown rule {allow.rule!r} in allow comment (known: {known})"
    if not allow.object:
        return f"allow comment for {allow.rule} names no object: write -- nyxops:allow {allow.rule} <object>"
    if allow.extra:
        return f"allow comment has extra words {allow.extra!r}: one rule and one object per comment"
    if _normal_object(allow.rule, allow.object) is None:
        return f"{allow.object!r} is not a valid object name for {allow.rule}"
    return None


def check(statements: Sequence[Statement], policy: Policy | None = None) -> list[Finding]:
    """All findings for a parsed file, in statement order."""
    policy = policy or Policy()
    findings: list[Finding] = []
    created = CreatedTables()
    for stmt in statements:
        own = statement_findings(stmt) if may_destroy(stmt) else []
        if own or stmt.allows:
            findings.extend(_apply_allows(stmt, own, policy, created))
        created.see(stmt)
    return findings


_BODIES = ("DoStmt", "CreateFunctionStmt")
_DESTRUCTIVE_KEYWORDS = {"ALTER", "DROP", "TRUNCATE", "DELETE", "UPDATE", "DO", "WITH"}
_ALIAS = rf"(?:\s+(?:AS\s+)?(?!(?:USING|RETURNING|SET|WHERE)\b){_NAME})?"
_TARGET = rf"(?:ONLY\s+)?{_NAME}(?:\.{_NAME}){{0,2}}(?:\s*\*)?{_ALIAS}"
_PLAIN = r"(?:[^()'\"$;\\/-]|'[^'\\]*'|-(?!-)|/(?!\*))"
# The top-level WHERE of a DELETE or UPDATE, proven from the text: it follows the target (and,
# for UPDATE, a SET list with no parenthesis, comment, dollar quote, backslash or quoted name in
# which a WHERE could hide). Anything else is left to the parse tree.
_DELETE_WHERE = re.compile(rf"DELETE\s+FROM\s+{_TARGET}\s+WHERE\b", re.I)
_UPDATE_WHERE = re.compile(rf"UPDATE\s+{_TARGET}\s+SET\s{_PLAIN}*?\sWHERE\b", re.I)


def may_destroy(stmt: Statement) -> bool:
    """A cheap first look at the text before building the statement's parse tree.

    False only when no rule can match, so the tree is never needed: a linted file is mostly
    statements like these, and building their trees was most of lint's time. Each branch rules a
    statement out only when its text proves that no rule can match; the tests check that on every
    statement of the corpora, the public projects' SQL included.
    """
    keyword = stmt.keyword
    if keyword == "CREATE":
        upper = stmt.text.upper()
        if "FUNCTION" not in upper and "PROCEDURE" not in upper:
            return False
        if not _body_may_destroy(stmt.text):
            return False
    elif keyword == "DO":
        if not _body_may_destroy(stmt.text):
            return False
    elif keyword == "ALTER":
        upper = stmt.text.upper()
        if "DROP" not in upper and "TYPE" not in upper and "RENAME" not in upper:
            return False  # ALTER … ADD/SET/ENABLE: no rule can match
    elif keyword == "DELETE":
        return _DELETE_WHERE.match(stmt.text) is None
    elif keyword == "UPDATE":
        found = _UPDATE_WHERE.match(stmt.text)
        return found is None or "RETURNING" in found.group(0).upper()
    elif keyword not in _DESTRUCTIVE_KEYWORDS:
        return False
    return bool(registry.rules_for(stmt.kind)) or stmt.kind in _BODIES


def _body_may_destroy(text: str) -> bool:
    """A body can only match a rule through one of ``_BODY_WORDS``, written in the statement's text.

    Not so with backslash escapes (``E'\\x44ROP'``): such text goes on to the parse tree.
    """
    return "\\" in text or _BODY_WORDS.search(text) is not None
