"""Lint reports for people (rich), for machines (JSON) and for CI (GitHub annotations).

Apart from the rest of ``render``: lint runs in CI on every push, and its machine formats must
not pay for importing rich.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from nyxops.guard.lint import LintReport

if TYPE_CHECKING:
    from rich.console import Console


def lint_text(report: LintReport, console: Console) -> None:
    from rich.markup import escape

    blocking = warnings = 0
    for result in report.files:
        if result.error is not None:
            console.print(f"[bold red]error[/] {escape(str(result.error))}")
            continue
        for f in result.findings:
            tag = "allowed" if f.allowed else f.severity
            color = {"error": "red", "warning": "yellow", "allowed": "green"}[tag]
            blocking += f.blocking
            warnings += f.severity == "warning"
            console.print(
                f"{escape(str(result.path))}:{f.line}:{f.column}: [bold {color}]{tag}[/] "
                f"[bold]\\[{f.rule}][/] {escape(f.object)}: {escape(f.message)}"
            )
            if 0 < f.line <= len(result.lines):
                source = result.lines[f.line - 1]
                console.print(f"  {f.line:>5} | {escape(source)}", highlight=False)
                console.print("        | " + " " * (f.column - 1) + "[bold]^[/]")
            for note in f.notes:
                console.print(f"        = note: {escape(note)}")
            if f.blocking:
                console.print(f"        = help: {escape(f.help)}")
    files = len(report.files)
    console.print(f"{files} file(s), {blocking} blocking, {warnings} warning(s)")


def lint_json(report: LintReport) -> str:
    data: list[dict[str, Any]] = []
    for result in report.files:
        data.append(
            {
                "path": str(result.path),
                "statements": result.statements,
                "error": str(result.error) if result.error else None,
                "findings": [f.as_dict() for f in result.findings],
            }
        )
    return orjson.dumps({"exit_code": report.exit_code, "files": data}).decode()


def _gh(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def lint_github(report: LintReport) -> str:
    """GitHub workflow commands: one annotation per finding, shown on the pull request's diff."""
    out: list[str] = []
    for result in report.files:
        if result.error is not None:
            e = result.error
            out.append(f"::error file={result.path},line={e.line},col={e.column},title=parse error::{_gh(str(e))}")
            continue
        for f in result.findings:
            if f.allowed:
                continue
            level = "error" if f.blocking else "warning"
            text = _gh(f"{f.object}: {f.message} {f.help}")
            out.append(f"::{level} file={result.path},line={f.line},col={f.column},title={f.rule}::{text}")
    return "\n".join(out)
