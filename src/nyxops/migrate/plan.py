"""``nyxops migrate plan``: the pending files run for real, then rolled back.

Each statement runs in its own savepoint, so one run shows every problem in the pending files:
duration, rows, the locks it took, guard findings, and, for destructive ones, what would be lost
in numbers. Only sequence values survive the rollback (PostgreSQL never rolls them back).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from nyxops.catalog import column_type
from nyxops.config import Settings
from nyxops.db import connect, fresh_session, own_reads, relation_exists
from nyxops.guard import foreign, ledger, overwrite, record, rewritten, runtime, temp_ties, unseen
from nyxops.guard.model import Finding
from nyxops.guard.policy import Policy
from nyxops.guard.walk import function_name, visits
from nyxops.migrate import casts, census
from nyxops.migrate.apply import census_columns, set_timeouts
from nyxops.migrate.lock import migration_lock
from nyxops.migrate.pending import PendingFile, load_pending
from nyxops.names import QualifiedName
from nyxops.sql import Statement, non_transactional_reason

_LOCKS = (
    "SELECT c.oid::regclass::text, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
    " WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted"
    " AND c.relkind IN ('r', 'p', 'm', 'f')"
    " AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)"
)


@dataclass
class StatementPlan:
    file: str
    index: int
    line: int
    text: str
    ms: float = 0.0
    rows: int | None = None
    locks: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)
    error: str | None = None
    stopped_by_guard: bool = False
    not_executed: str | None = None
    ledger: list[str] = field(default_factory=list)
    """What the statement did to tables that existed before it (rows deleted/updated, rewrites)."""
    values: list[str] = field(default_factory=list)
    """For a type change: how many existing values the cast changes."""
    refused: str | None = None
    """Why apply would refuse what the ledger saw (rows lost in a table the file never writes)."""
    external_calls: list[str] = field(default_factory=list)
    """Functions of the database the statement calls that the file did not create: only the
    run-time layer sees what they do."""


@dataclass
class Plan:
    statements: list[StatementPlan]
    before: dict[str, census.Count]
    after: dict[str, census.Count]
    files: list[str]
    unreviewed: list[str] = field(default_factory=list)
    """Files apply would refuse as they are: not reviewed, or changed since the review."""
    overwrite_armed: bool = False
    """Whether the overwrite trigger (``protect install``) was armed for the dry run."""
    protected: frozenset[str] = frozenset()
    """The protected columns: apply refuses fewer values in these only, as plan must (it refused a
    file, exit 1, that apply then committed: a test). The other census columns are verify's."""

    @property
    def not_executed(self) -> list[StatementPlan]:
        return [s for s in self.statements if s.not_executed]

    @property
    def failed(self) -> list[StatementPlan]:
        return [s for s in self.statements if s.error]

    @property
    def blocking(self) -> list[Finding]:
        return [f for s in self.statements for f in s.findings if f.blocking]

    @property
    def refused(self) -> list[StatementPlan]:
        return [s for s in self.statements if s.refused]

    @property
    def census_losses(self) -> list[str]:
        """Fewer values in a protected column: apply refuses the file."""
        return census.losses(census.among(self.before, self.protected), self.after)

    @property
    def census_unprotected(self) -> list[str]:
        """Fewer values in an embedding target that is not protected: apply commits, verify objects."""
        return census.losses(census.among(self.before, self.protected, inside=False), self.after)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocking and not self.refused and not self.census_losses


def _count(conn: psycopg.Connection, table: sql.Composable, column: str | None) -> tuple[int, int | None]:
    if column:
        query = sql.SQL("SELECT count(*), count({}) FROM {}").format(sql.Identifier(column), table)
    else:
        query = sql.SQL("SELECT count(*), NULL FROM {}").format(table)
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), (int(row[1]) if row[1] is not None else None)


def what_would_be_lost(conn: psycopg.Connection, finding: Finding) -> list[str]:
    """Rows and non-NULL values under a destructive finding, counted before the statement runs."""
    out: list[str] = []
    for col in finding.columns:
        if col.schema == "*" or column_type(conn, col) is None:
            continue
        rows, values = _count(conn, sql.Identifier(col.schema, col.table), col.column)
        out.append(f"{col}: {values} non-NULL values in {rows} rows")
    for table in finding.tables:
        if "*" in (table.schema, table.table) or not relation_exists(conn, table.sql()):
            continue
        rows, _ = _count(conn, sql.Identifier(table.schema, table.table), None)
        out.append(f"{table}: {rows} rows")
    return out


def _locks(conn: psycopg.Connection) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in conn.execute(_LOCKS)}


def _plan_statement(
    conn: psycopg.Connection,
    pf: PendingFile,
    stmt: Statement,
    before: ledger.Snapshot | None,
    timeouts: tuple[str, str],
) -> tuple[StatementPlan, ledger.Snapshot | None]:
    """The statement's plan, and the state after it when the ledger read it (the next statement's
    ``before``); None when the statement failed: its counts stay in the transaction's, read anew."""
    entry = StatementPlan(pf.file.name, stmt.index, stmt.line, stmt.text)
    entry.findings = [f for f in pf.findings if f.statement_index == stmt.index]
    reason = non_transactional_reason(stmt)
    if reason:
        entry.not_executed = reason
        return entry, before
    changes = {  # a type change's figure: its cast, evaluated with the file's own names
        id(f): _value_changes(conn, stmt, f) for f in entry.findings if f.rule == "alter-column-type" and f.columns
    }
    with own_reads(conn, timeouts, pf.file.name):  # the file's path is its statements', never nyxops' reads
        for finding in entry.findings:
            entry.values.extend(changes.get(id(finding), []))
            if finding.severity == "error" and not changes.get(id(finding)):  # or the values a type change changes
                entry.losses.extend(what_would_be_lost(conn, finding))
        entry.external_calls = _external_calls(conn, pf, stmt)
        held = _locks(conn)
        if before is None:
            before = ledger.snapshot(conn)
    after = None
    started = time.perf_counter()
    try:
        with conn.transaction():
            cur = conn.execute(stmt.text.encode())
            entry.ms = (time.perf_counter() - started) * 1000
            entry.rows = max(cur.rowcount, 0)
            with own_reads(conn, timeouts, pf.file.name) as session:
                entry.locks = sorted(f"{rel}: {mode}" for rel, mode in _locks(conn) - held)
                seen = ledger.read(conn, before, pf.protected)
            after = seen.after
            entry.ledger = seen.lines()
            hidden = ledger.unexplained(seen, pf.written_tables, pf.indirect_allowed(), pf.protected, session.reach)
            quiet = ledger.quiet_losses(seen, pf.quiet_allowed())
            if seen.switched_off:
                entry.refused = "apply would refuse, nyxops' guards or records switched off or rewritten: " + "; ".join(
                    seen.switched_off
                )
            elif seen.paths and not pf.paths_allowed():
                entry.refused = "apply would refuse, no allowed statement says so: " + "; ".join(seen.paths)
            elif quiet:
                why = "no allowed statement says so"
                if quiet[0].rule == "write-protected":
                    why = "protected values cannot be allowed away"
                entry.refused = f"apply would refuse, {why}: " + "; ".join(map(str, quiet))
            elif hidden:
                entry.refused = "apply would refuse: rows changed in tables the file never writes: " + "; ".join(
                    e.describe() for e in hidden
                )
    except psycopg.Error as exc:
        entry.ms = (time.perf_counter() - started) * 1000
        entry.error = exc.diag.message_primary or str(exc).strip()
        entry.stopped_by_guard = "nyxops runtime guard" in entry.error
        after = None
    return entry, after


def _refuse_last(planned: list[StatementPlan], problems: list[str]) -> None:
    """What apply checks once per file, before commit, and refuses the whole file for: said at the
    file's last statement that ran."""
    ran = [p for p in planned if not p.not_executed and not p.error]
    if problems and ran:
        said = f"apply would refuse the file, which {'; '.join(problems)}"
        ran[-1].refused = f"{ran[-1].refused}; {said}" if ran[-1].refused else said


def _deferred_failure(conn: psycopg.Connection) -> list[str]:
    """What the file deferred to its commit (constraint triggers, DEFERRABLE constraints), run as
    apply runs it at the file's end (``fire_deferred``), then undone: the later files plan as they
    will run, each in a transaction of its own. Its failure, if any."""
    try:
        with conn.transaction():
            conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
            raise psycopg.Rollback()
    except psycopg.Error as exc:
        return [f"would fail at its end, where what it deferred to commit runs: {exc.diag.message_primary or exc}"]
    return []


def _unseen_drops(conn: psycopg.Connection, start: unseen.Relations) -> list[str]:
    """What a file dropped without the tripwire seeing it (guard/unseen.py)."""
    problems = [f"dropped {what} without the tripwire seeing it" for what in unseen.unseen_drops(conn, start)]
    if unseen.event_triggers_setting(conn) == "off":
        problems.insert(0, "left every event trigger switched off (event_triggers = off)")
    return problems


def _other_sessions(
    conn: psycopg.Connection, pf: PendingFile, before: list[str | None], start: foreign.Listing
) -> list[str]:
    """Foreign servers the file sent SQL through (guard/foreign.py) that no other-session allow comment
    names, and postgres_fdw's functions that list them replaced by the file."""
    replaced, new = foreign.since(conn, start, pf.sessions_allowed(), before)
    if replaced:
        functions = ", ".join(replaced)
        return [f"replaced postgres_fdw's function {functions}, which lists what it sends through foreign tables"]
    return [f"sent SQL through foreign server {', '.join(new)} (postgres_fdw)"] if new else []


_USER_FUNCTIONS = (
    "SELECT DISTINCT p.proname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
    " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.proname = ANY(%s) ORDER BY 1"
)


def _external_calls(conn: psycopg.Connection, pf: PendingFile, stmt: Statement) -> list[str]:
    if "(" not in stmt.text:
        return []
    called = {
        function_name((v.node.get("funccall", {}) if v.kind == "CallStmt" else v.node).get("funcname", []))
        for v in visits(stmt.node, stmt.text)
        if v.kind in ("FuncCall", "CallStmt") and v.frame is None
    }
    if not called:
        return []
    return [r[0] for r in conn.execute(_USER_FUNCTIONS, (sorted(called - pf.own_functions),))]


def _value_changes(conn: psycopg.Connection, stmt: Statement, finding: Finding) -> list[str]:
    col = finding.columns[0]
    table = QualifiedName(col.schema, col.table)
    if not relation_exists(conn, table.sql()):
        return []
    lines = []
    for column, new_type, using in casts.type_changes(stmt.text):
        if column == col.column:
            lines.append(casts.describe(conn, table, column, new_type, using))
    return lines


def plan(settings: Settings, directory: Path | None = None) -> Plan:
    directory = directory or settings.migrations_dir
    policy = Policy.from_names(settings.protected_columns)
    conn = connect(settings.require_database_url(), "nyxops migrate plan")  # not migration_session: see there
    try:
        with migration_lock(conn):
            pending = load_pending(conn, directory, policy, require_review=False)
            columns = census_columns(settings)
            keyed = settings.protected
            result = Plan([], {}, {}, [pf.file.name for pf in pending], protected=frozenset(map(str, keyed)))
            result.unreviewed = [pf.file.name for pf in pending if pf.review is None]
            try:
                with conn.transaction():
                    with own_reads(conn, settings.timeouts):
                        allowed = [obj for pf in pending for obj in pf.allowed_objects()]
                        runtime.install_migration_guard(conn, allowed)
                        result.overwrite_armed = overwrite.arm(conn) is not None  # rolled back with the rest
                        result.before = census.take(conn, columns, keyed=keyed)
                    for pf in pending:
                        fresh_session(conn, keep=record.RECORD)  # as apply: each file starts as nyxops connected
                        # read by the first statement, after fresh_session: its drops of the last file's
                        # TEMP objects are nyxops', not this file's (apply drops them outside any transaction)
                        state: ledger.Snapshot | None = None
                        set_timeouts(conn, settings)  # as apply, at each file's start
                        with own_reads(conn, settings.timeouts, pf.file.name):
                            start = unseen.relations(conn)
                            fdw = foreign.listing(conn)
                            sessions = foreign.servers_used(conn, fdw)
                            kept = rewritten.read(conn, pf.protected)
                        planned_file = []
                        for stmt in pf.statements:
                            planned, state = _plan_statement(conn, pf, stmt, state, settings.timeouts)
                            planned_file.append(planned)
                        problems = _deferred_failure(conn)
                        with own_reads(conn, settings.timeouts, pf.file.name):
                            problems += _unseen_drops(conn, start) + _other_sessions(conn, pf, sessions, fdw)
                            problems += [f"rewrote protected column {c}" for c in rewritten.recomputed(conn, kept)]
                            problems += [f"tied {t} (dropped with it after the commit)" for t in temp_ties.tied(conn)]
                        _refuse_last(planned_file, problems)
                        result.statements.extend(planned_file)
                    with contextlib.suppress(psycopg.Error), conn.transaction():
                        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as at commit (apply: fire_deferred)
                    with own_reads(conn, settings.timeouts):
                        result.after = census.take(conn, columns, since=result.before)
                    raise psycopg.Rollback()
            finally:
                conn.rollback()
            return result
    finally:
        conn.close()
