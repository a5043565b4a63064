"""Layer 2 for later writes: triggers and rules the migration arms that overwrite protected values.

A trigger or a rule runs on the app's own writes from commit on, where no migration guard looks:
the migration itself writes nothing, no count before and after moves, and the loss comes one
edit at a time. Lint reads a trigger's function or a rule's action only when the file writes it
(guard/check.py, ``_armed``); a trigger created for a function an earlier file created, a
function replaced under a trigger that already runs it, a disabled trigger or rule enabled
again, or any of these built by dynamic SQL, it cannot. The catalog knows after the fact: the
ledger reads every trigger and rule before and after the file, and each one that is new, changed
or newly firing is read back as the server prints it (``pg_get_functiondef``,
``pg_get_ruledef``) and checked as lint checks a file's own:

- a BEFORE UPDATE row trigger on a protected column's table (or a partition of it) whose
  function sets the column on NEW (``NEW.embedding := NULL``);
- a trigger whose function, or a rule whose action, overwrites a protected column's values or
  drops or empties its table, on whatever table it fires;
- a trigger or rule on a protected column's table that makes the app's writes there do nothing
  (guard/silence.py: ``DO INSTEAD NOTHING``, a BEFORE row trigger that only returns NULL).

Only PL/pgSQL trigger functions can be read: one in C or PL/Python is not, and says nothing here.
The functions a body calls are followed into the database (``_CALL_DEPTH`` calls deep): a
trigger function that only calls ``wipe_embeddings()``, created by an earlier file, counts, and
so does a trigger the file left alone when the file replaced a function it calls.
A trigger or rule enabled for replicas only never fires for the app's session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from pglast import parser

from nyxops.errors import SqlParseError
from nyxops.guard import dynamic, silence
from nyxops.guard import trigger_writes as tw
from nyxops.guard.check import statement_findings
from nyxops.guard.policy import Policy
from nyxops.guard.trigger_writes import overwritten
from nyxops.guard.walk import function_name, visits
from nyxops.names import QualifiedName
from nyxops.sql import Statement, parse

_FIRING = ("O", "A")
"""``tgenabled`` / ``ev_enabled``: fires in an ordinary session (origin, always); 'R' only on replicas, 'D' never."""
_CALL_DEPTH = 3
_READABLE = ("plpgsql",)
"""Trigger functions nyxops can read (PostgreSQL has no SQL-language trigger functions)."""

_TRIGGERS = """
SELECT t.oid::bigint, t.tgrelid::bigint, n.nspname, c.relname, t.tgname, t.tgfoid::bigint, t.tgenabled::text,
       t.tgtype::int, pg_catalog.md5(p.prosrc), l.lanname, t.tgfoid::regproc::text, t.tgqual IS NOT NULL,
       ARRAY(SELECT ARRAY[an.nspname::text, a.relname::text]
             FROM pg_catalog.pg_partition_ancestors(t.tgrelid) r(relid)
             JOIN pg_catalog.pg_class a ON a.oid = r.relid JOIN pg_catalog.pg_namespace an ON an.oid = a.relnamespace)
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE NOT t.tgisinternal
"""
"""Every user trigger, in any schema (a function hidden in ``nyxops`` is read like any other), with
its table's partition ancestors (a trigger on a partitioned table is cloned onto each partition)."""
_CALLED = """
SELECT p.oid::bigint, p.proname FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE p.proname = ANY(%s) AND l.lanname IN ('plpgsql', 'sql') AND p.prokind IN ('f', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY p.proname, p.oid
"""
"""The user functions and procedures of the names a body calls (every overload: calls match by name)."""
_FUNCTIONS = """
SELECT p.oid::bigint, pg_catalog.md5(p.prosrc) FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE l.lanname IN ('plpgsql', 'sql') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""
"""The bodies a trigger or rule can call, by their source's md5."""
_RULES = """
SELECT r.oid::bigint, r.ev_class::bigint, n.nspname, c.relname, r.rulename, r.ev_enabled::text,
       pg_catalog.pg_get_ruledef(r.oid)
FROM pg_catalog.pg_rewrite r
JOIN pg_catalog.pg_class c ON c.oid = r.ev_class JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE r.rulename <> '_RETURN' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""
"""Rules other than views' own (a view is its ``_RETURN`` rule: what it reads, not what it writes)."""


@dataclass(frozen=True)
class Trigger:
    table_oid: int
    table: QualifiedName
    name: str
    function: int
    source: str
    """md5 of the function's source: a replaced body is a changed trigger."""
    enabled: str
    kind: int
    language: str
    tables: frozenset[tuple[str, str]]
    """The table and its partition ancestors, as (schema, table)."""
    function_name: str
    when: bool
    """It has a WHEN condition (which cannot be changed without creating the trigger again)."""

    def state(self) -> tuple[int, str, str, int]:
        return self.function, self.source, self.enabled, self.kind


@dataclass(frozen=True)
class Rule:
    table_oid: int
    table: QualifiedName
    name: str
    enabled: str
    definition: str


@dataclass
class Watched:
    """Every trigger and rule, by oid, as they were."""

    triggers: dict[int, Trigger] = field(default_factory=dict)
    rules: dict[int, Rule] = field(default_factory=dict)
    functions: dict[int, str] = field(default_factory=dict)
    """PL/pgSQL and SQL functions: the md5 of each one's source."""


Hit = tuple[QualifiedName, str, frozenset[int]]
"""A protected column, how it is overwritten, and the called functions the way goes through."""


@dataclass(frozen=True)
class Armed:
    """A trigger or rule that, from this file on, overwrites a protected column on the app's writes."""

    table_oid: int
    table: QualifiedName
    what: str
    """``trigger wi_edit (runs public.wi_wipe())`` or ``rule wipe``."""
    how: str
    column: QualifiedName

    def __str__(self) -> str:
        return f"{self.what} {self.how}, so from now on the app's own writes lose values of {self.column}"


def read(conn: psycopg.Connection) -> Watched:
    watched = Watched()
    for row in conn.execute(_TRIGGERS):
        oid, relid, schema, table, name, function, enabled, kind, source, language, function_name, when, tables = row
        watched.triggers[int(oid)] = Trigger(
            int(relid), QualifiedName(schema, table), str(name), int(function), str(source), str(enabled),
            int(kind), str(language), frozenset([(schema, table), *((str(s), str(t)) for s, t in tables)]),
            str(function_name), bool(when),
        )  # fmt: skip
    for oid, relid, schema, table, name, enabled, definition in conn.execute(_RULES):
        watched.rules[int(oid)] = Rule(int(relid), QualifiedName(schema, table), str(name), str(enabled), definition)
    watched.functions = {int(oid): str(source) for oid, source in conn.execute(_FUNCTIONS)}
    return watched


def armed(conn: psycopg.Connection, before: Watched, now: Watched, protected: Iterable[QualifiedName]) -> list[Armed]:
    """The triggers and rules the file armed between ``before`` and ``now`` (new, changed, firing
    again, or calling a function the file replaced) that overwrite a ``protected`` column. What one
    unchanged since ``before`` does without going through a function the file changed is the app's
    own business, not the file's."""
    policy = Policy(tuple(c for c in protected if c.column is not None))
    if not policy.protected:
        return []
    changed = frozenset(oid for oid, source in now.functions.items() if before.functions.get(oid) != source)
    out: list[Armed] = []
    for oid, trig in now.triggers.items():
        old = before.triggers.get(oid)
        same = old is not None and old.state() == trig.state()
        if trig.enabled not in _FIRING or trig.language not in _READABLE or (same and not changed):
            continue
        definition = _function_definition(conn, trig.function)
        what = f"trigger {trig.name} (runs {trig.function_name}())"
        hits = _new_fields(trig, definition, policy) + _silenced(trig, definition, policy)
        for column, how, via in hits + _body_hits(conn, _parsed(definition), policy):
            if not same or via & changed:
                out.append(Armed(trig.table_oid, trig.table, what, how, column))
    for oid, rule in now.rules.items():
        old_rule = before.rules.get(oid)
        same = old_rule is not None and old_rule == rule
        if rule.enabled not in _FIRING or (same and not changed):
            continue
        statements = _parsed(rule.definition)
        for column, how, via in _rule_silences(rule, statements, policy) + _body_hits(conn, statements, policy):
            if not same or via & changed:
                out.append(Armed(rule.table_oid, rule.table, f"rule {rule.name}", how, column))
    return out


_NOT_EXTENSIONS = """
SELECT p.oid::bigint FROM pg_catalog.pg_proc p WHERE p.oid = ANY(%s::oid[]) AND NOT EXISTS (SELECT
    FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
    AND d.deptype = 'e') ORDER BY 1
"""
"""Of the functions given, those no extension created (``CREATE EXTENSION`` scripts are not the file's own SQL)."""


_OWN_SCHEMA = "nyxops"


def tampering(conn: psycopg.Connection, before: Watched, now: Watched) -> list[str]:
    """Functions the file created or replaced whose body would switch nyxops' guard off when it
    runs later (a trigger, a job, the app; with its owner's rights if SECURITY DEFINER): lint's
    ``guard-tamper`` on the definition read back, for what dynamic SQL created unseen. And any
    trigger or rule the file put on nyxops' own tables: it would run on nyxops' own writes (the
    census log, the history row), after every check of the file."""
    out = [
        f"created or changed {what} on nyxops' own table {table} (it runs on nyxops' own writes, after every check)"
        for what, table in _on_own_tables(before, now)
    ]
    changed = sorted(oid for oid, source in now.functions.items() if before.functions.get(oid) != source)
    if not changed:
        return out
    for (oid,) in conn.execute(_NOT_EXTENSIONS, (changed,)).fetchall():
        statements = _parsed(_function_definition(conn, oid))
        body = (f for stmt in statements for f in statement_findings(stmt) if f.unit is not None)
        if any(f.rule == "guard-tamper" for f in body):  # its body's; where it was created is the switches' to read
            row = conn.execute("SELECT %s::oid::pg_catalog.regprocedure::text", (oid,)).fetchone()
            out.append(f"created or replaced function {row[0] if row else oid}, which would switch nyxops' guard off")
    return out


def _on_own_tables(before: Watched, now: Watched) -> list[tuple[str, QualifiedName]]:
    triggers = [
        (f"trigger {t.name}", t.table)
        for oid, t in sorted(now.triggers.items())
        if t.table.schema == _OWN_SCHEMA and (oid not in before.triggers or before.triggers[oid].state() != t.state())
    ]
    rules = [
        (f"rule {r.name}", r.table)
        for oid, r in sorted(now.rules.items())
        if r.table.schema == _OWN_SCHEMA and before.rules.get(oid) != r
    ]
    return triggers + rules


def _new_fields(trig: Trigger, definition: str, policy: Policy) -> list[Hit]:
    """What a BEFORE UPDATE row trigger sets on NEW, for a protected column of its table."""
    before_update_row = tw.ROW | tw.BEFORE | tw.UPDATE
    if trig.kind & before_update_row != before_update_row or trig.kind & tw.INSTEAD or trig.language != "plpgsql":
        return []
    try:
        fields = dynamic.new_fields_assigned(definition)
    except (parser.ParseError, RecursionError):
        return []  # not readable by this parser: verify's embeddings check finds the NULLs it leaves
    out: list[Hit] = []
    for col in policy.protected:
        what = overwritten(fields, col.column or "") if (col.schema, col.table) in trig.tables else None
        if what is not None:
            out.append((col, f"sets {what} before every UPDATE", frozenset()))
    return out


def _silenced(trig: Trigger, definition: str, policy: Policy) -> list[Hit]:
    """A BEFORE row trigger on a protected column's table (or a partition) that only returns NULL."""
    events = tw.events(trig.kind) & silence.EVENTS.keys()
    before_row = trig.kind & (tw.ROW | tw.BEFORE) == tw.ROW | tw.BEFORE
    if not events or not before_row or trig.when:  # the body is read only for a trigger it could silence
        return []
    how = silence.by_trigger(events, before_row, trig.when, silence.by_trigger_function(definition))
    if how is None:
        return []
    return [(col, how, frozenset()) for col in policy.protected if (col.schema, col.table) in trig.tables]


def _rule_silences(rule: Rule, statements: list[Statement], policy: Policy) -> list[Hit]:
    """A rule (its definition, parsed) on a protected column's table that makes its INSERTs or UPDATEs do nothing."""
    how = next((silence.by_rule(s.body) for s in statements if s.kind == "RuleStmt"), None)
    if how is None:
        return []
    table = (rule.table.schema, rule.table.table)
    return [(col, how, frozenset()) for col in policy.protected if (col.schema, col.table) == table]


def _parsed(definition: str) -> list[Statement]:
    """A definition read back from the catalog, parsed; nothing when this parser cannot read it
    (PostgreSQL accepted it, which it may do for syntax newer than the parser's)."""
    try:
        return parse(definition)
    except SqlParseError:
        return []


def _body_hits(
    conn: psycopg.Connection,
    statements: list[Statement],
    policy: Policy,
    seen: set[int] | None = None,
    depth: int = 0,
) -> list[Hit]:
    """What lint finds in a definition (parsed) that touches a protected column (its body's writes,
    drops, TRUNCATE), and in the database's functions it calls, each read once."""
    seen = set() if seen is None else seen
    out: list[Hit] = []
    called: set[str] = set()
    for stmt in statements:
        for finding in statement_findings(stmt, policy):
            if finding.rule == "silenced-write" and finding.unit is None:
                continue  # the rule read back itself: _rule_silences says so in its own words
            column = policy.protected_hit(finding)
            hit = (column, f"does what lint's {finding.rule} rule refuses", frozenset[int]())
            if column is not None and hit not in out:
                out.append((column, hit[1], hit[2]))
        for visit in visits(stmt.node, stmt.text):
            if visit.kind in ("FuncCall", "CallStmt"):
                call = visit.node.get("funccall", {}) if visit.kind == "CallStmt" else visit.node
                called.add(function_name(call.get("funcname", [])))
    if depth >= _CALL_DEPTH or not called:
        return out
    for oid, name in conn.execute(_CALLED, (sorted(called),)).fetchall():
        if int(oid) in seen:
            continue
        seen.add(int(oid))
        called_body = _parsed(_function_definition(conn, int(oid)))
        for column, how, via in _body_hits(conn, called_body, policy, seen, depth + 1):
            out.append((column, f"calls {name}(), which {how}", via | {int(oid)}))
    return out


def _function_definition(conn: psycopg.Connection, function: int) -> str:
    row = conn.execute("SELECT pg_catalog.pg_get_functiondef(%s::oid)", (function,)).fetchone()
    return str(row[0]) if row else ""
