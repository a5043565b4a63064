"""Output of the migrate commands for people (rich) and for machines (JSON); lint's is in ``render_lint``."""

from __future__ import annotations

from dataclasses import asdict, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from nyxops.guard.runtime import Protection
    from nyxops.migrate.apply import FileRun, StatementRun
    from nyxops.migrate.census import Count
    from nyxops.migrate.pending import FileState, PendingFile
    from nyxops.migrate.plan import Plan

__all__ = ["escape"]


_STATE_STYLE = {
    "applied": "green",
    "invalid-index": "bold red",
    "pending-detach": "bold red",
    "pending": "cyan",
    "unreviewed": "yellow",
    "changed-since-review": "yellow",
    "drifted": "bold red",
    "missing-file": "red",
}


def state_dict(state: FileState) -> dict[str, Any]:
    data: dict[str, Any] = {"version": state.version, "name": state.name, "state": state.state, "detail": state.detail}
    if state.applied is not None:
        data["applied"] = asdict(state.applied)
    return data


def status_table(states: list[FileState], console: Console) -> None:
    table = Table("version", "file", "state", "applied at", "detail", title="migrations")
    for s in states:
        when = f"{s.applied.applied_at:%Y-%m-%d %H:%M}" if s.applied else ""
        style = _STATE_STYLE.get(s.state, "")
        table.add_row(s.version, s.name, f"[{style}]{s.state}[/]", when, escape(s.detail))
    console.print(table)


def protection(found: Protection, console: Console) -> None:
    """``protect status``: the drop trigger, then the overwrite triggers migrations arm."""
    if not found.installed:
        console.print("not installed: run nyxops protect install")
        return
    console.print("installed, protecting from drops: " + ", ".join(found.columns))
    console.print("overwrites refused inside migrations for: " + (", ".join(found.overwrite) or "none"))
    if found.unguarded:
        console.print(
            f"[yellow]no overwrite trigger for {', '.join(found.unguarded)}[/]: run nyxops protect install again"
        )
    for stored in found.switched_off:
        console.print(
            f"[bold red]{escape(stored)}[/]: the guards are off in those sessions; take it away with "
            "ALTER ROLE|DATABASE … RESET <setting>"
        )


def census_table(before: dict[str, Count], after: dict[str, Count], console: Console, title: str) -> None:
    from nyxops.migrate.census import losses

    table = Table("column", "rows before", "rows after", "values before", "values after", "dim", title=title)
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name), after.get(name)
        lost = b is not None and a is not None and losses({name: b}, {name: a})
        style = "bold red" if lost else ""

        def cell(c: Count | None, attr: str) -> str:
            value = getattr(c, attr) if c is not None and c.exists else None
            return "-" if value is None else str(value)

        table.add_row(
            name,
            cell(b, "rows"),
            cell(a, "rows"),
            cell(b, "non_null"),
            f"[{style}]{cell(a, 'non_null')}[/]" if style else cell(a, "non_null"),
            cell(a, "dimension") if a and a.exists else cell(b, "dimension"),
        )
    console.print(table)


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "ok": plan.ok,
        "files": plan.files,
        "unreviewed": plan.unreviewed,
        "overwrite_armed": plan.overwrite_armed,
        "not_executed": len(plan.not_executed),
        "statements": [
            {
                "file": s.file,
                "statement": s.index + 1,
                "line": s.line,
                "sql": s.text,
                "ms": round(s.ms, 2),
                "rows": s.rows,
                "locks": s.locks,
                "findings": [f.as_dict() for f in s.findings],
                "would_lose": s.losses,
                "error": s.error,
                "stopped_by_runtime_guard": s.stopped_by_guard,
                "not_executed": s.not_executed,
                "ledger": s.ledger,
                "values": s.values,
                "refused": s.refused,
                "external_calls": s.external_calls,
            }
            for s in plan.statements
        ],
        "ledger": {name: [line for s in plan.statements if s.file == name for line in s.ledger] for name in plan.files},
        "census_before": {k: _count_dict(v) for k, v in plan.before.items()},
        "census_after": {k: _count_dict(v) for k, v in plan.after.items()},
        "census_losses": plan.census_losses,
        "census_unprotected": plan.census_unprotected,
    }


def _count_dict(count: Count) -> dict[str, Any]:
    """A count for JSON: which rows hold the values is their number and the key, not every key."""
    data = asdict(replace(count, holders=None))
    held = count.holders
    data["holders"] = None if held is None else {"key": list(held.names), "rows": len(held.rows)}
    return data


def plan_report(plan: Plan, console: Console) -> None:
    if not plan.files:
        console.print("nothing pending: the database is up to date")
        return
    table = Table("file", "#", "statement", "ms", "rows", "locks", "guard / result", title="dry run (rolled back)")
    for s in plan.statements:
        first = s.text.splitlines()[0]
        sql_text = escape(first[:60] + ("…" if len(first) > 60 or "\n" in s.text else ""))
        notes: list[str] = []
        for f in s.findings:
            tag = "allowed" if f.allowed else f.severity
            notes.append(f"{tag} [{f.rule}] {f.object}")
        notes.extend(f"would lose {loss}" for loss in s.losses)
        notes.extend(escape(v) for v in s.values)
        notes.extend(f"ledger: {escape(line)}" for line in s.ledger)
        if s.external_calls:
            names = ", ".join(f"{n}()" for n in s.external_calls)
            notes.append(f"calls {escape(names)}, not created by this file: only the run-time layer sees what it does")
        if s.refused:
            notes.append(f"[bold red]{escape(s.refused)}[/]")
        if s.not_executed:
            notes.append(f"[yellow]not executed: {s.not_executed}[/]")
        if s.error:
            who = "stopped by runtime guard" if s.stopped_by_guard else "fails"
            notes.append(f"[bold red]{who}: {escape(s.error)}[/]")
        ms = "" if s.not_executed else f"{s.ms:.1f}"
        rows = "" if s.rows is None else str(s.rows)
        table.add_row(s.file, str(s.index + 1), sql_text, ms, rows, escape("\n".join(s.locks)), "\n".join(notes))
    console.print(table)
    census_table(plan.before, plan.after, console, "census: before and after the pending files")
    for problem in plan.census_losses:
        console.print(f"[bold red]census:[/] {escape(problem)}")
    for problem in plan.census_unprotected:
        console.print(
            f"[yellow]census, not protected:[/] {escape(problem)}: apply commits this; verify's embeddings check then "
            "reports the values missing until nyxops backfill embeds them again"
        )
    for name in plan.files:
        lines = [line for s in plan.statements if s.file == name for line in s.ledger]
        summary = "; ".join(lines) if lines else "no rows deleted or updated, no table rewritten"
        console.print(f"ledger of {name}: {escape(summary)}")
    if not plan.overwrite_armed:
        console.print(
            "[yellow]warning:[/] protect is not installed: an overwrite of a protected column's values by a function "
            "or trigger is not refused at run time (nyxops protect install)"
        )
    for name in plan.unreviewed:
        console.print(f"[yellow]warning:[/] {name} is not reviewed (or changed since): apply will refuse it")
    skipped = plan.not_executed
    if not plan.ok:
        verdict = "[bold red]plan has problems[/] (see above)"
    elif skipped:
        verdict = (
            f"[yellow]plan incomplete[/]: {len(skipped)} statement(s) could not run in the dry run "
            f"(first: statement {skipped[0].index + 1} of {skipped[0].file}, {skipped[0].not_executed}), so they are "
            "not checked"
        )
    elif plan.unreviewed:
        verdict = f"[yellow]plan ok, but apply will refuse {len(plan.unreviewed)} unreviewed file(s)[/]"
    else:
        verdict = "[green]plan ok[/]"
    console.print(f"{verdict}; everything was rolled back")


class ApplyProgress:
    """A progress bar per file, and a success line per file (no silent writes)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(  # transient: each applied file is reported once, by its log line
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.live = console.is_terminal
        self.tasks: dict[str, TaskID] = {}

    _STEP = 50

    def __enter__(self) -> ApplyProgress:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.live:
            self.progress.stop()

    def statement(self, pf: PendingFile, run: StatementRun) -> None:
        """Called once per statement; the bar moves every ``_STEP`` of them.

        Why: rich's advance() takes a lock and updates the task each time, and its refresh thread
        competes for the interpreter with the pipeline reading results: 10,000 statements paid
        tens of milliseconds for a bar nobody can read that fast. On a console that is no
        terminal (a deploy's child, CI) the bar is never drawn, so it is not kept at all.
        """
        if not self.live:
            return
        name = pf.file.name
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, total=len(pf.statements))
        done = run.index + 1  # a resumed file's bar starts where the journal left it
        if done % self._STEP == 0 or done == len(pf.statements):
            self.progress.update(self.tasks[name], completed=done)

    def file_done(self, run: FileRun) -> None:
        if run.resumed_from:
            self.console.print(f"{run.name}: resumed at statement {run.resumed_from + 1} (journal)")
