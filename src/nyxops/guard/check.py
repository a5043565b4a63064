"""Statements -> findings: the rules, the SQL inside bodies, allow comments and protected columns."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from nyxops.guard import registry
from nyxops.guard import trigger_writes as tw
from nyxops.guard.created import CreatedTables
from nyxops.guard.created_types import CreatedTypes
from nyxops.guard.model import Finding, Hit
from nyxops.guard.policy import Policy
from nyxops.guard.prefilter import BODY_WORDS, may_destroy
from nyxops.guard.scope import Scope
from nyxops.guard.trigger_writes import Trigger, TriggerWrites
from nyxops.guard.walk import Frame, Visit, function_name, visits
from nyxops.names import QualifiedName, dotted, split_identifier
from nyxops.sql import AllowDirective, Node, Statement


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


UNALLOWABLE = {"guard-tamper"}
"""Rules no allow comment can allow: a migration never switches the guard off."""


_WRITE_EVENT = {
    "InsertStmt": "CMD_INSERT",
    "UpdateStmt": "CMD_UPDATE",
    "DeleteStmt": "CMD_DELETE",
    "TruncateStmt": "CMD_TRUNCATE",
    "CopyStmt": "CMD_INSERT",
}


class FileCheck:
    """One file's statements in order: what each destroys, and what later statements set off.

    Bodies that run later (functions, rule actions, prepared statements) are checked when they
    are created; what they would destroy is a warning there, and an error at the statement of
    the same file that calls, fires or executes them. A protected column is the exception: a
    rule's action, or a function a trigger of the file runs, is run by the app's own writes from
    commit on, where no migration guard looks, so what it would do to the column blocks where it
    is armed (``_armed``). A body that would switch nyxops' guard off (``guard-tamper``) blocks
    where it is created: a trigger, a cron job or the app may run it later (with its owner's rights
    if SECURITY DEFINER), where no migration guard looks either.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.scope = Scope(policy.protected)
        self.created = CreatedTables(self.scope)
        self.types = CreatedTypes(self.scope)
        self.deferred: dict[tuple[str, str], list[Finding]] = {}
        self.defined_at: dict[tuple[str, str], int] = {}
        self.triggers: list[Trigger] = []
        self.trigger_writes = TriggerWrites(self.scope, self.triggers)
        self.rules: dict[str, tuple[set[QualifiedName], str]] = {}
        self.watch: set[str] = {c.column.upper() for c in policy.protected if c.column}
        """Upper-cased names whose mention sends a statement to the parse tree (see ``may_destroy``)."""
        self.renames: list[tuple[Finding, QualifiedName, QualifiedName]] = []
        """Blocking table and view renames so far: the finding, the old name and the new one."""

    def statement(self, stmt: Statement) -> list[Finding]:
        temp = len(self.scope.temp) + len(self.scope.temp_types)
        walked = may_destroy(stmt, self.watch)
        own = self._findings(stmt) if walked else []
        if stmt.keyword == "CREATE" and "VIEW" in stmt.text.upper() and stmt.kind == "ViewStmt":
            self._view(stmt, walked)
        if own or stmt.allows:
            own = _apply_allows(stmt, own, self.policy, self.created, self.types)
        for finding in own:
            renamed = finding.rule in ("rename-table", "rename-view")
            if renamed and finding.blocking and finding.tables and stmt.kind == "RenameStmt":
                old = finding.tables[0]
                self.renames.append((finding, old, QualifiedName(old.schema, stmt.body.get("newname", "?"))))
        self.created.see(stmt)
        if len(self.scope.temp) + len(self.scope.temp_types) != temp:
            # a TEMP table's row type or a pg_temp type, named bare, may tie a permanent table to it (temp-tie)
            self.watch.update(name.upper() for name in self.scope.temp | self.scope.temp_types)
        self.types.see(stmt, own)
        return own

    def _findings(self, stmt: Statement) -> list[Finding]:
        findings: list[Finding] = []
        scope = self.scope
        for visit in visits(stmt.node, stmt.text):
            kind, node, frame = visit.kind, visit.node, visit.frame
            if kind.startswith("nyxops:"):
                if kind == "nyxops:dynamic" or BODY_WORDS.search(node["code"]):
                    findings.append(_body_problem(stmt, visit))
                continue
            scope.kind = kind
            for rule_id, rule_check in registry.checks_for(kind):
                for hit in rule_check(node, scope):
                    findings.append(self._found(rule_id, hit, stmt, visit))
            if kind in ("FuncCall", "CallStmt", "ExecuteStmt") or kind in _WRITE_EVENT or kind == "MergeStmt":
                findings.extend(self._set_off(kind, node, stmt, frame))
            if frame is None:
                scope.see(kind, node)
                hits: list[tuple[str, Hit]] = []
                if kind == "CreateTrigStmt":
                    trigger = self._trigger(node)
                    hits = self.trigger_writes.trigger(trigger)
                    findings.extend(self._run_by_the_app(trigger, stmt))
                elif kind == "CreateFunctionStmt" and not visit.inner:
                    hits = self.trigger_writes.function(node, stmt.text)
                elif kind == "RuleStmt":
                    self._rule(node)
                findings.extend(self._found(rule_id, hit, stmt, visit) for rule_id, hit in hits)
        for finding in findings:
            unit = finding.unit
            if unit is not None:
                self.deferred.setdefault(unit, []).append(finding)
                self.defined_at.setdefault(unit, stmt.line)
                self.watch.add(unit[1].upper())
                self._armed(finding, unit)
        return findings

    def _armed(self, finding: Finding, unit: tuple[str, str]) -> None:
        """A body's hit on a protected column blocks where the body is armed: a rule's action (the
        rule is created with it), or a function a trigger of this file already runs."""
        if finding.severity != "warning" or finding.rule in registry.META_RULES:
            return
        if self.policy.protected_hit(finding) is None:
            return
        if unit[0] == "rule":
            finding.severity = "error"
            finding.notes.append("the rule fires on the app's own writes from commit on")
            return
        for trig in self.triggers:
            if trig.unit == unit:
                finding.severity = "error"
                finding.notes.append(f"trigger {trig.name} runs it on the app's own writes from commit on")
                return

    def _run_by_the_app(self, trigger: Trigger, stmt: Statement) -> list[Finding]:
        """CREATE TRIGGER for a function of this file: what its body does to a protected column, here."""
        out = []
        for original in self.deferred.get(trigger.unit, []):
            if original.rule in registry.META_RULES or self.policy.protected_hit(original) is None:
                continue
            copy = _restated(
                original,
                stmt,
                f"trigger {trigger.name} runs {trigger.unit[1]} (line {self.defined_at.get(trigger.unit, '?')}) on the "
                "app's own writes from commit on, which does this",
            )
            copy.severity = "error"
            out.append(copy)
        return out

    def _found(self, rule_id: str, hit: Hit, stmt: Statement, visit: Visit) -> Finding:
        located = Hit(hit.object, None, hit.tables, hit.columns, hit.detail) if visit.inner else hit
        if visit.frame is None:
            return _finding(rule_id, located, stmt, note=visit.where)
        note = (
            f"{visit.where}: runs when it is called"
            if visit.frame.kind != "rule"
            else f"{visit.where}: runs when it fires"
        )
        if rule_id == "guard-tamper":  # nothing allows it, and whoever runs it later has no migration guard
            note = f"{visit.where}: blocks where it is created, as anyone may run it later, unguarded"
        finding = _finding(rule_id, located, stmt, warning=rule_id != "guard-tamper", note=note)
        finding.unit = (visit.frame.kind, visit.frame.name)
        return finding

    def _set_off(self, kind: str, node: Node, stmt: Statement, frame: Frame | None) -> list[Finding]:
        """A call, EXECUTE, or write that runs a body this file created: its findings, here."""
        units: list[tuple[str, str]] = []
        if kind in ("FuncCall", "CallStmt"):
            call = node.get("funccall", {}) if kind == "CallStmt" else node
            units.append(("function", function_name(call.get("funcname", []))))
        elif kind == "ExecuteStmt":
            units.append(("prepared", str(node.get("name", ""))))
        else:
            event = _WRITE_EVENT.get(kind, "")
            rels = (
                [node.get("relation", {})]
                if "relation" in node
                else [r.get("RangeVar", {}) for r in node.get("relations", [])]
            )
            if kind == "CopyStmt" and not node.get("is_from"):
                rels = []
            for rel in rels:
                if not rel:
                    continue
                tables = set(self.scope.tables(rel))
                for name, (rule_tables, rule_event) in self.rules.items():
                    if tables & rule_tables and (rule_event == event or kind == "MergeStmt"):
                        units.append(("rule", name))
                for trig in self.triggers:
                    if tables & set(trig.tables) and (event in trig.events or kind == "MergeStmt"):
                        units.append(trig.unit)
        out: list[Finding] = []
        for unit in units:
            for original in self.deferred.get(unit, []):
                how = "fires" if unit[0] == "rule" else "runs"
                line = self.defined_at.get(unit, "?")
                why = f"this statement {how} {unit[0]} {unit[1]} (line {line}), which does this"
                copy = _restated(original, stmt, why)
                if frame is None:
                    copy.severity = original.severity if original.rule in registry.META_RULES else "error"
                else:
                    copy.unit = (frame.kind, frame.name)
                out.append(copy)
        return out

    def _rule(self, node: Node) -> None:
        tables = self.scope.tables(node.get("relation", {}))
        self.rules[node.get("rulename", "?")] = (set(tables), node.get("event", ""))
        self.watch.update(t.table.upper() for t in tables)

    def _trigger(self, node: Node) -> Trigger:
        mask = int(node.get("events", 0))
        events = tw.events(mask)
        rel = node.get("relation", {})
        tables = self.scope.tables(rel)
        function = ("function", function_name(node.get("funcname", [])))
        before_row = bool(node.get("row")) and bool(int(node.get("timing", 0)) & tw.BEFORE)
        name, location, when = node.get("trigname", "?"), rel.get("location"), "whenClause" in node
        trigger = Trigger(tables, events, function, name, before_row, location, when)
        self.triggers.append(trigger)
        for table in tables:
            self.watch.add(table.table.upper())
        return trigger

    def _view(self, stmt: Statement, walked: bool) -> None:
        """A view the file creates: a write through it lands in its table (``Scope.written_columns``),
        so later statements naming it go to the tree; and it may keep a renamed table's old name."""
        if not walked:
            self.scope.see("ViewStmt", stmt.body)
        view = self.scope.table(stmt.body.get("view", {}))
        if view in self.scope.views:
            self.watch.add(view.table.upper())
        if self.renames:
            self._view_keeps_old_name(stmt, view)

    def _view_keeps_old_name(self, stmt: Statement, view: QualifiedName) -> None:
        for finding, old, new in list(self.renames):
            if (view.schema, view.table) == (old.schema, old.table) and self._shows_all_of(stmt.body, new):
                finding.allowed = True
                finding.notes.append(f"the view {view} created at line {stmt.line} keeps the old name working")
                self.renames.remove((finding, old, new))

    def _shows_all_of(self, view: Node, table: QualifiedName) -> bool:
        """``CREATE VIEW old AS SELECT * FROM new``, nothing less: every column under its name, every row.

        A view of some columns, renamed columns, a WHERE, a LIMIT or a join does not keep the old
        name working for the app that reads it.
        """
        select = view.get("query", {}).get("SelectStmt", {})
        if view.get("aliases") or set(select) != {"targetList", "fromClause", "limitOption", "op"}:
            return False
        if select["op"] != "SETOP_NONE" or select["limitOption"] != "LIMIT_OPTION_DEFAULT":
            return False
        targets, sources = select["targetList"], select["fromClause"]
        if len(targets) != 1 or len(sources) != 1 or "RangeVar" not in sources[0]:
            return False
        fields = targets[0].get("ResTarget", {}).get("val", {}).get("ColumnRef", {}).get("fields", [])
        if not fields or "A_Star" not in fields[-1]:
            return False
        shown = self.scope.tables(sources[0]["RangeVar"])
        return any((t.schema, t.table) == (table.schema, table.table) for t in shown)


def _restated(original: Finding, stmt: Statement, note: str) -> Finding:
    """A body's finding, said again at the statement that runs or arms the body, with why."""
    copy = dataclasses.replace(original, notes=[*original.notes, note], unit=None)
    copy.line, copy.column = stmt.line, stmt.column
    copy.statement_index, copy.statement_text = stmt.index, stmt.text
    return copy


def _body_problem(stmt: Statement, visit: Visit) -> Finding:
    if visit.kind == "nyxops:dynamic":
        message = (
            f"EXECUTE {visit.node['expression'][:80]} is built at run time: apply refuses the drops and the "
            "protected values it would lose, and rows it changes in tables no statement names; anything else "
            "it does (rows or a type change of a table the file names) only migrate plan shows"
        )
    else:
        message = f"PL/pgSQL body does not parse ({visit.node['reason']})"
    return _meta(registry.DYNAMIC_SQL, stmt, message, error=False)


def statement_findings(stmt: Statement, policy: Policy | None = None) -> list[Finding]:
    """One statement's findings on its own, from its parse tree (no allow comments, no file context)."""
    return FileCheck(policy or Policy())._findings(stmt)


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


def _apply_allows(
    stmt: Statement, findings: list[Finding], policy: Policy, created: CreatedTables, types: CreatedTypes
) -> list[Finding]:
    extra: list[Finding] = []
    for allow in stmt.allows:
        problem = _allow_problem(allow)
        if problem:
            extra.append(_meta(registry.INVALID_ALLOW, stmt, problem, error=True, line=allow.line))
            continue
        if allow.rule == registry.INDIRECT_WRITE:
            continue  # for the run-time ledger: nothing static to match
        wanted = _normal_object(allow.rule, allow.object)
        matched = False
        for finding in findings:
            if finding.rule != allow.rule or _normal_object(finding.rule, finding.object) != wanted:
                continue
            matched = True
            protected = policy.protected_hit(finding)
            if finding.rule in UNALLOWABLE:
                finding.notes.append(f"no allow comment allows {finding.rule}")
            elif protected is not None:
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
        elif (why := types.allows(finding, stmt)) is not None:
            finding.allowed = True
            finding.notes.append(why)
    return findings + extra


def _allow_problem(allow: AllowDirective) -> str | None:
    if allow.rule not in registry.BY_ID and allow.rule != registry.INDIRECT_WRITE:
        known = ", ".join(sorted([*registry.BY_ID, registry.INDIRECT_WRITE]))
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
    file_check = FileCheck(policy or Policy())
    findings: list[Finding] = []
    for stmt in statements:
        findings.extend(file_check.statement(stmt))
    return findings
