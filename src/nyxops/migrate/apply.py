"""``nyxops migrate apply``: each pending file in one transaction with its history row.

A file with statements PostgreSQL refuses inside a transaction (``CREATE INDEX CONCURRENTLY``)
runs statement by statement instead, each one journaled in the same step, so a re-run after a
crash resumes at the first statement not done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from nyxops.config import Settings
from nyxops.db import fresh_session, migration_session, own_reads
from nyxops.errors import CensusDecreased, MigrationError
from nyxops.guard import overwrite
from nyxops.guard.policy import Policy
from nyxops.migrate import census, history, pipeline, reconcile, resume, store
from nyxops.migrate.guarded import Guarded
from nyxops.migrate.lock import migration_lock
from nyxops.migrate.pending import PendingFile, load_pending, require_unblocked
from nyxops.names import QualifiedName
from nyxops.sql import Statement

log = logging.getLogger("nyxops.migrate")


@dataclass
class StatementRun:
    index: int
    line: int
    text: str
    ms: float
    rows: int
    skipped: bool = False


@dataclass
class FileRun:
    version: str
    name: str
    statements: list[StatementRun] = field(default_factory=list)
    ms: float = 0.0
    before: dict[str, census.Count] = field(default_factory=dict)
    after: dict[str, census.Count] = field(default_factory=dict)
    resumed_from: int = 0
    ledger: list[str] = field(default_factory=list)
    """What the transaction did to tables that existed before (rows deleted/updated, rewrites)."""


Progress = Callable[[PendingFile, StatementRun], None]


def census_columns(settings: Settings) -> list[QualifiedName]:
    """The protected columns (a decrease aborts) and every embedding target (logged for verify)."""
    columns = settings.protected
    for target in settings.embedding_targets:
        col = QualifiedName(target.qualified.schema, target.qualified.table, target.column)
        if col not in columns:
            columns.append(col)
    return columns


def set_timeouts(conn: psycopg.Connection, settings: Settings) -> None:
    """nyxops' timeouts for the file's statements, until the file sets its own (never prepared: a
    file can replace what psycopg prepared, see db.own_reads)."""
    conn.execute(
        "SELECT pg_catalog.set_config('lock_timeout', %s, true), pg_catalog.set_config('statement_timeout', %s, true)",
        settings.timeouts,
        prepare=False,
    )


def execute(
    conn: psycopg.Connection, pf: PendingFile, stmt: Statement, *, journaled: int | None = None
) -> StatementRun:
    """Run one statement; ``journaled`` is how many statements of a journaled file are committed."""
    started = time.perf_counter()
    try:
        cur = conn.execute(stmt.text.encode())
    except psycopg.Error as exc:
        raise MigrationError(_failure(pf, stmt, exc, journaled)) from None
    ms = (time.perf_counter() - started) * 1000
    return StatementRun(stmt.index, stmt.line, stmt.text, ms, max(cur.rowcount, 0))


def done_count(run: FileRun, done: dict[int, str]) -> int:
    """Statements of a journaled file committed so far: journaled before, and done in this run."""
    return len(set(done) | {s.index for s in run.statements})


def _failure(
    pf: PendingFile, stmt: Statement, exc: psycopg.Error, journaled: int | None = None, *, deferred: bool = False
) -> str:
    diag = exc.diag
    what = diag.message_primary or str(exc).strip()
    if deferred:
        what = f"what it deferred to commit (a DEFERRABLE constraint or constraint trigger) failed: {what}"
    hint = f" Hint: {diag.message_hint}." if diag.message_hint else ""
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        hint = " Another transaction holds a lock on the table; retry when it ends, or raise NYXOPS_LOCK_TIMEOUT."
    elif isinstance(exc, psycopg.errors.DependentObjectsStillExist):
        # PostgreSQL's own hint says to add CASCADE, which would drop what depends on the object,
        # columns with their data included: say what depends on it, and the safe way instead.
        lines = (diag.message_detail or "").splitlines()
        depends = "; ".join(lines[:5]) + (f"; and {len(lines) - 5} more" if len(lines) > 5 else "")
        hint = (
            (f" {depends}." if depends else "")
            + " Do not add CASCADE: it would drop those too, columns with their data. Change or drop what depends"
            " on it in the migration first, then apply again."
        )
    first = stmt.text.splitlines()[0][:100]
    if journaled is None:
        undone = f"{pf.file.name} was rolled back: the database is as it was before this file."
    else:
        committed = "no statement of it is committed"
        if journaled:
            committed = "statement 1 is committed" if journaled == 1 else f"statements 1-{journaled} are committed"
        undone = (
            f"{pf.file.name} is journaled (it has statements that cannot run in a transaction): {committed}, "
            f"statement {stmt.index + 1} and those after it are not, and the file is not recorded as applied. "
            f"Fix the cause and run migrate apply again: it resumes at statement {stmt.index + 1}"
        )
        rerun = "" if stmt.transactional else reconcile.on_rerun(stmt)
        if rerun:
            undone += f" ({rerun})"
        undone += "."
    return f"{pf.file.path}:{stmt.line}: statement {stmt.index + 1} failed: {what}.{hint}\n  {first}\n{undone}"


def fire_deferred(conn: psycopg.Connection, pf: PendingFile, last: Statement, journaled: int | None = None) -> None:
    """Run now what the file deferred to its commit (constraint triggers, DEFERRABLE constraints),
    before nyxops reads anything: at COMMIT it would run after every check.

    Why: a ``DEFERRABLE INITIALLY DEFERRED`` constraint trigger whose body nulled every protected
    value (its statement built at run time) fired at COMMIT, after the census, the ledger and the
    overwrite trigger's last look, and apply committed the loss, ``protect`` installed or not (a
    test). ``SET CONSTRAINTS ALL IMMEDIATE`` runs the queued events now, as COMMIT would.
    """
    try:
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    except psycopg.Error as exc:
        raise MigrationError(_failure(pf, last, exc, journaled, deferred=True)) from None


def _check_census(run: FileRun, settings: Settings, pf: PendingFile, *, statement: int | None = None) -> None:
    lost = census.losses(census.among(run.before, set(map(str, settings.protected))), run.after)
    if not lost:
        return
    if statement is None:
        undone = "It was rolled back; nothing changed."
    else:  # journaled: the statements before this one are committed, this one is not
        undone = (
            f"Statement {statement + 1} was rolled back; the ones before it are committed (journaled file) and "
            "the file is not recorded as applied."
        )
    raise CensusDecreased(f"{pf.file.name} would lose protected data: " + "; ".join(lost) + ". " + undone)


def _run_transactional(conn: psycopg.Connection, pf: PendingFile, settings: Settings, progress: Progress) -> FileRun:
    run = FileRun(pf.file.version, pf.file.name)
    started = time.perf_counter()
    columns = census_columns(settings)
    with conn.transaction():
        set_timeouts(conn, settings)  # before own_reads, which sets back the timeouts it found
        with own_reads(conn, settings.timeouts, pf.file.name):
            guarded = Guarded.start(conn, pf)
            run.before = census.take(conn, columns, keyed=settings.protected)
        _execute_all(conn, pf, run, progress)
        if pf.statements:
            fire_deferred(conn, pf, pf.statements[-1])
        with own_reads(conn, settings.timeouts, pf.file.name) as session:
            run.after = census.take(conn, columns, since=run.before)
            _check_census(run, settings, pf)
            run.ledger = guarded.finish(conn, pf, "It was rolled back; nothing changed.", session.reach)
            run.ms = (time.perf_counter() - started) * 1000
            census.log(conn, pf.file.version, "before", run.before)
            census.log(conn, pf.file.version, "after", run.after)
            _record(conn, pf, run)
    return run


def _execute_all(conn: psycopg.Connection, pf: PendingFile, run: FileRun, progress: Progress) -> None:
    """The file's statements in one pipeline: the round trips overlap the server's work."""

    def done(result: pipeline.Result) -> None:
        stmt = pf.statements[result.position]
        ran = StatementRun(stmt.index, stmt.line, stmt.text, result.ms, result.rows)
        run.statements.append(ran)
        progress(pf, ran)

    try:
        pipeline.run(conn, [stmt.text for stmt in pf.statements], done)
    except pipeline.PipelineFailed as failed:
        raise MigrationError(_failure(pf, pf.statements[failed.position], failed.error)) from None


def _record(conn: psycopg.Connection, pf: PendingFile, run: FileRun) -> None:
    reviewer = pf.review.reviewed_by if pf.review else "unreviewed"
    history.record(
        conn, pf.file.version, pf.file.name, pf.file.sha256, reviewer, store.operator(), int(run.ms), len(pf.statements)
    )


def _set_again(conn: psycopg.Connection, pf: PendingFile, done: dict[int, str], naming: dict[str, str] | None) -> None:
    """What the done statements of a resumed file set for the session, set again (``resume.py``):
    without it the statements after them read the file's names otherwise. Then the path, role and
    session user the journal kept after the last done statement (``naming``), however they were set."""
    again = resume.settings(pf.statements, done)
    changed: dict[str, str] = {}
    with conn.transaction():
        for stmt in again:
            execute(conn, pf, stmt, journaled=len(done))
        if naming is not None:
            names = list(naming)
            now = conn.execute(
                "SELECT " + ", ".join(f"pg_catalog.current_setting('{name}')" for name in names), prepare=False
            ).fetchone()
            found = zip(names, now or (), strict=True)
            changed = {name: naming[name] for name, value in found if value != naming[name]}
            if changed:  # all of them, in NAMING's order: a session user set resets the role
                for name in names:
                    conn.execute("SELECT pg_catalog.set_config(%s, %s, false)", (name, naming[name]), prepare=False)
    for stmt in again:
        log.info("%s: statement %d set again for the resumed run: %s", pf.file.name, stmt.index + 1, stmt.text)
    for name, value in changed.items():
        log.info("%s: %s as the stopped run left it: %s", pf.file.name, name, value)


def _run_journaled(conn: psycopg.Connection, pf: PendingFile, settings: Settings, progress: Progress) -> FileRun:
    run = FileRun(pf.file.version, pf.file.name)
    started = time.perf_counter()
    columns = census_columns(settings)
    # own_reads: an earlier file's SET search_path (and the like) stays set in the session
    with conn.transaction(), own_reads(conn, settings.timeouts, pf.file.name):
        done = history.journal_done(conn, pf.file.version)
        if any(sha != pf.file.sha256 for sha in done.values()):
            raise MigrationError(
                f"{pf.file.name} was partly applied from different content; restore the file as it was "
                "(git log), let it finish, and put further changes in a new migration."
            )
        run.resumed_from = len(done)
        naming = history.naming_after(conn, pf.file.version) if done else None
        earlier = census.logged(conn, pf.file.version, "before")
        resuming = bool(done or earlier)  # a crash can come before the first journal mark, after the census
        if resuming:
            run.before = earlier or census.take(conn, columns, keyed=settings.protected)
        else:
            run.before = census.take(conn, columns, keyed=settings.protected)
            census.log(conn, pf.file.version, "before", run.before, keys=True)
    if done:
        resume.needs_lost(pf.file.name, pf.statements, done, naming_kept=naming is not None)
        _set_again(conn, pf, done, naming)
    for stmt in pf.statements:
        if stmt.index in done:
            run.statements.append(StatementRun(stmt.index, stmt.line, stmt.text, 0.0, 0, skipped=True))
            continue
        if stmt.transactional:
            with conn.transaction():
                set_timeouts(conn, settings)
                with own_reads(conn, settings.timeouts, pf.file.name):
                    guarded = Guarded.start(conn, pf)
                result = execute(conn, pf, stmt, journaled=done_count(run, done))
                fire_deferred(conn, pf, stmt, journaled=done_count(run, done))
                with own_reads(conn, settings.timeouts, pf.file.name) as session:
                    run.after = census.take(conn, columns, since=run.before)
                    _check_census(run, settings, pf, statement=stmt.index)
                    undone = (
                        f"Statement {stmt.index + 1} was rolled back; the ones before it are committed "
                        "(journaled file)."
                    )
                    run.ledger += guarded.finish(conn, pf, undone, session.reach)
                    history.journal_mark(conn, pf.file.version, pf.file.sha256, stmt.index)
            with conn.transaction(), own_reads(conn, settings.timeouts, pf.file.name) as session:
                history.journal_naming(conn, pf.file.version, stmt.index, session.naming)
        else:
            decision = reconcile.before_rerun(conn, stmt, resuming=resuming)
            if decision.note:
                log.warning("%s statement %d: %s", pf.file.name, stmt.index + 1, decision.note)
            if decision.done:
                result = StatementRun(stmt.index, stmt.line, stmt.text, 0.0, 0, skipped=True)
            else:
                timeouts = (settings.lock_timeout, settings.statement_timeout)
                conn.execute(
                    "SELECT pg_catalog.set_config('lock_timeout', %s, false), "
                    "pg_catalog.set_config('statement_timeout', %s, false)",
                    timeouts,
                )
                try:
                    result = execute(conn, pf, stmt, journaled=done_count(run, done))
                finally:
                    conn.execute("RESET lock_timeout")
                    conn.execute("RESET statement_timeout")
            with conn.transaction(), own_reads(conn, settings.timeouts, pf.file.name) as session:
                history.journal_mark(conn, pf.file.version, pf.file.sha256, stmt.index, session.naming)
        run.statements.append(result)
        progress(pf, result)
    with conn.transaction(), own_reads(conn, settings.timeouts, pf.file.name):
        run.after = census.take(conn, columns, since=run.before)
        _check_census(run, settings, pf, statement=len(pf.statements) - 1)
        run.ms = (time.perf_counter() - started) * 1000
        census.log(conn, pf.file.version, "after", run.after)
        history.journal_clear(conn, pf.file.version)
        _record(conn, pf, run)
    return run


def apply(
    settings: Settings,
    directory: Path | None = None,
    progress: Progress | None = None,
    *,
    on_file: Callable[[FileRun], None] | None = None,
) -> list[FileRun]:
    """Apply every pending file; refuse everything before the first statement if any file is unfit."""
    directory = directory or settings.migrations_dir
    policy = Policy.from_names(settings.protected_columns)
    progress = progress or (lambda pf, run: None)
    conn = migration_session(settings.require_database_url(), "nyxops migrate apply")
    try:
        with migration_lock(conn):
            history.ensure(conn)
            pending = load_pending(conn, directory, policy)
            require_unblocked(pending)
            if pending and not overwrite.installed(conn):
                log.warning(
                    "protect is not installed: a function or trigger that overwrites a protected column's values "
                    "with others is not refused at run time (run nyxops protect install)"
                )
            runs: list[FileRun] = []
            for pf in pending:
                fresh_session(conn)
                runner = _run_journaled if pf.journaled else _run_transactional
                run = runner(conn, pf, settings, progress)
                log.info(
                    "applied %s: %d statement(s) in %.0f ms (reviewed by %s)",
                    pf.file.name,
                    len(pf.statements),
                    run.ms,
                    pf.review.reviewed_by if pf.review else "-",
                )
                runs.append(run)
                if on_file:
                    on_file(run)
            return runs
    finally:
        conn.close()
