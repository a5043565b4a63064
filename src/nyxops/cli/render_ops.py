"""Output of ``verify`` (a table, JUnit XML), ``backfill`` and ``audit``."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import TracebackType
from typing import Any
from xml.etree import ElementTree

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from nyxops.embeddings.backfill import Progress as BackfillHooks
from nyxops.embeddings.backfill import Summary
from nyxops.embeddings.batches import BatchSummary
from nyxops.verify import CheckResult

_STYLE = {"pass": "green", "fail": "bold red", "skip": "yellow"}


def verify_table(results: list[CheckResult], console: Console) -> None:
    table = Table("check", "result", "seconds", "reason", title="nyxops verify")
    for r in results:
        table.add_row(r.name, f"[{_STYLE[r.status]}]{r.status}[/]", f"{r.seconds:.2f}", escape(r.reason))
    console.print(table)
    fails = sum(r.status == "fail" for r in results)
    console.print("[green]all checks pass[/]" if not fails else f"[bold red]{fails} check(s) failed[/]")


def junit(results: list[CheckResult]) -> str:
    from nyxops.names import scrub_secrets

    suite = ElementTree.Element(
        "testsuite",
        name="nyxops verify",
        tests=str(len(results)),
        failures=str(sum(r.status == "fail" for r in results)),
        skipped=str(sum(r.status == "skip" for r in results)),
    )
    for r in results:
        case = ElementTree.SubElement(
            suite, "testcase", classname="nyxops.verify", name=r.name, time=f"{r.seconds:.3f}"
        )
        if r.figures:
            properties = ElementTree.SubElement(case, "properties")
            for key, value in sorted(r.figures.items()):
                text = value if isinstance(value, str) else json.dumps(value, default=str)
                ElementTree.SubElement(properties, "property", name=key, value=scrub_secrets(text))
        reason = scrub_secrets(r.reason)
        if r.status == "fail":
            ElementTree.SubElement(case, "failure", message=reason).text = reason
        elif r.status == "skip":
            ElementTree.SubElement(case, "skipped", message=reason)
        else:
            ElementTree.SubElement(case, "system-out").text = reason
    return ElementTree.tostring(suite, encoding="unicode")


def waiting(console: Console) -> Callable[[list[CheckResult]], None]:
    def show(results: list[CheckResult]) -> None:
        failing = ", ".join(r.name for r in results if r.status == "fail")
        console.print(f"waiting: still failing: {failing}")

    return show


class BackfillProgress(BackfillHooks):
    """Rows per second and ETA per target."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[progress.data.speed]{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> BackfillProgress:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.stop()

    def start(self, target: str, total: int) -> None:
        self.task = self.progress.add_task(target, total=total, rate="")

    def advance(self, rows: int) -> None:
        if self.task is None:
            return
        self.progress.update(self.task, advance=rows)
        speed = self.progress.tasks[-1].speed
        self.progress.update(self.task, rate=f"{speed:.0f} rows/s" if speed else "")


def summary_dict(s: Summary) -> dict[str, object]:
    """One target's backfill in numbers, for ``backfill --json``."""
    fields = ("target", "provider", "model", "pending", "skipped_empty", "embedded", "truncated", "failed_rows")
    data: dict[str, object] = {name: getattr(s, name) for name in fields}
    data.update(
        requests=s.requests, retries=s.retries, seconds=round(s.seconds, 3), failed_batches=list(s.failed_batches)
    )
    if s.dry_run:
        data.update(dry_run=True, would_request=s.would_request)
    if isinstance(s, BatchSummary):
        names: tuple[str, ...] = (
            "collected_batches",
            "submitted_batches",
            "submitted_rows",
            "open_batches",
            "failed_requests",
        )
        if s.dry_run:
            names += ("would_submit_rows",)
        data.update({name: getattr(s, name) for name in names}, batch_ids=list(s.batch_ids))
    data["ok"] = s.ok
    return data


def batch_summary(summaries: list[BatchSummary], console: Console) -> None:
    """One --batch-api step: what was collected, what was submitted, what is still open."""
    dry = any(s.dry_run for s in summaries)
    if dry:
        table = Table(
            "target", "model", "NULL rows", "open batches", "rows to submit", title="backfill --batch-api (dry run)"
        )
        for s in summaries:
            table.add_row(s.target, s.model, str(s.pending), str(s.open_batches), str(s.would_submit_rows))
        console.print(table)
        return
    columns = [
        "target",
        "model",
        "NULL rows",
        "collected",
        "written",
        "submitted",
        "rows sent",
        "open",
        "failed requests",
    ]
    table = Table(*columns, title="backfill --batch-api")
    for s in summaries:
        table.add_row(
            s.target,
            s.model,
            str(s.pending),
            str(s.collected_batches),
            str(s.embedded),
            str(s.submitted_batches),
            str(s.submitted_rows),
            str(s.open_batches),
            str(s.failed_requests),
        )
    console.print(table)
    for s in summaries:
        for failure in s.failed_batches:
            console.print(f"[bold red]failed[/] {s.target} {escape(failure)}")
    if any(s.open_batches for s in summaries):
        console.print(
            "batches are open at OpenAI (done within 24 h): run `nyxops backfill --batch-api` again later to collect "
            "them (hourly from cron is fine; a second run at the same time refuses to start)"
        )


def backfill_summary(summaries: list[Summary], console: Console) -> None:
    dry = any(s.dry_run for s in summaries)
    columns = ["target", "provider/model", "NULL rows", "empty"]
    columns += ["requests needed"] if dry else ["embedded", "truncated", "failed", "requests", "retries", "seconds"]
    table = Table(*columns, title="backfill (dry run: nothing sent, nothing written)" if dry else "backfill")
    for s in summaries:
        row = [s.target, f"{s.provider}/{s.model}", str(s.pending), str(s.skipped_empty)]
        if dry:
            row.append(str(s.would_request))
        else:
            row += [str(s.embedded), str(s.truncated), str(s.failed_rows), str(s.requests), str(s.retries)]
            row.append(f"{s.seconds:.1f}")
        table.add_row(*row)
    console.print(table)
    for s in summaries:
        for failure in s.failed_batches:
            console.print(f"[bold red]failed[/] {s.target} {escape(failure)}: left NULL, run backfill again")


def audit_table(entries: list[dict[str, Any]], console: Console) -> None:
    """The audit log's last lines, oldest first, one row each."""
    table = Table(title="nyxops audit (oldest first)")
    for column in ("at", "event", "who", "ref / stage", "commit", "outcome", "s", "detail"):
        table.add_column(column)
    for e in entries:
        detail = [f"backup {e['backup']}" if e.get("backup") else "",
                  ", ".join(m.get("name", "?") for m in e.get("migrations", [])),
                  f"verify {e['verify']}" if e.get("verify") else "", e.get("failed_at", ""), e.get("message", ""),
                  e.get("released", ""), e.get("restored", "")]  # fmt: skip
        table.add_row(
            str(e.get("at", "")),
            str(e.get("event", "?")),
            str(e.get("who", "")),
            str(e.get("stage") or e.get("ref") or ""),
            str(e.get("commit", ""))[:12],
            str(e.get("outcome", "")),
            str(e.get("duration_s", "")),
            escape("; ".join(str(d) for d in detail if d)),
        )
    console.print(table if entries else "the audit log is empty")
