"""The ``nyxops`` command: parse flags, call one function, render its result. Nothing else lives here."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

from nyxops import render
from nyxops.config import Settings, load_settings
from nyxops.errors import ConfigError, NyxopsError
from nyxops.guard import registry
from nyxops.guard.check import Policy
from nyxops.guard.lint import lint as run_lint

app = typer.Typer(help="Operations toolkit of the nyxcore stack.", no_args_is_help=True, add_completion=False)
migrate_app = typer.Typer(help="Reviewed SQL migrations with a drop guard.", no_args_is_help=True)
protect_app = typer.Typer(help="A permanent event trigger that protects columns from every client.")
app.add_typer(migrate_app, name="migrate")
app.add_typer(protect_app, name="protect")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")
_state = {"debug": False}

DirOption = Annotated[Path | None, typer.Option("--dir", help="migrations folder [default: migrations/]")]
TunnelOption = Annotated[
    bool,
    typer.Option("--tunnel", help="reach the database through an SSH tunnel to NYXOPS_HOST (its loopback port)"),
]
UrlOption = Annotated[
    str | None, typer.Option("--database-url", help="PostgreSQL URL [default: $DATABASE_URL]", show_default=False)
]


class LintFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"


def run(action: Callable[[], T]) -> T:
    """Call ``action``; an expected failure becomes its message and exit code, no traceback."""
    try:
        return action()
    except NyxopsError as exc:
        if _state["debug"]:
            raise
        err.print(f"[bold red]error:[/] {render.escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from None


def settings_for(database_url: str | None = None, directory: Path | None = None) -> Settings:
    return run(lambda: load_settings(database_url=database_url, migrations_dir=directory))


@contextmanager
def reach(settings: Settings, tunnel: bool) -> Iterator[Settings]:
    """The settings as given, or with the database URL pointed through an SSH tunnel to the host."""
    if not tunnel:
        yield settings
        return
    from pydantic import SecretStr

    from nyxops.remote import Host, through_tunnel

    remote = settings.remote_database_url or settings.database_url
    if remote is None:
        raise ConfigError("--tunnel needs the host's database URL: NYXOPS_REMOTE_DATABASE_URL")
    host = Host(settings).open()
    try:
        with host.tunnel(settings.remote_db_port) as port:
            url = SecretStr(through_tunnel(remote.get_secret_value(), port))
            yield settings.model_copy(update={"database_url": url})
    finally:
        host.close()


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False) -> None:
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=err, show_path=False)], force=True
    )
    for noisy in ("httpx", "httpcore", "paramiko", "openai", "invoke", "fabric", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def lint(
    paths: Annotated[list[Path] | None, typer.Argument(help=".sql files or folders")] = None,
    fmt: Annotated[LintFormat, typer.Option("--format", "-f")] = LintFormat.text,
    explain: Annotated[str | None, typer.Option(help="print a rule's page and exit")] = None,
) -> None:
    """Check SQL files for destructive statements, without a database. Exit 0 clean, 1 blocked, 2 bad input."""
    if explain:
        try:
            out.print(registry.explain(explain), highlight=False)
        except KeyError:
            err.print(f"[bold red]error:[/] unknown rule {explain!r}; known: {', '.join(sorted(registry.BY_ID))}")
            raise typer.Exit(2) from None
        return
    if not paths:
        err.print("[bold red]error:[/] give one or more .sql files or folders (or --explain RULE)")
        raise typer.Exit(2)
    settings = settings_for()
    report = run(lambda: run_lint(paths, Policy.from_names(settings.protected_columns)))
    if fmt is LintFormat.json:
        print(render.lint_json(report))
    elif fmt is LintFormat.github:
        text = render.lint_github(report)
        if text:
            print(text)
    else:
        render.lint_text(report, out)
    raise typer.Exit(report.exit_code)


@migrate_app.command("status")
def migrate_status(
    directory: DirOption = None,
    database_url: UrlOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    tunnel: TunnelOption = False,
) -> None:
    """Applied, pending, unreviewed and drifted files."""
    from nyxops.migrate.status import status

    settings = settings_for(database_url, directory)

    def action() -> list:  # type: ignore[type-arg]
        with reach(settings, tunnel) as reached:
            return status(reached)

    found = run(action)
    if as_json:
        print(json.dumps([render.state_dict(s) for s in found], indent=2, default=str))
    else:
        render.status_table(found, out)
    bad = [s for s in found if s.state in ("drifted", "unreviewed", "changed-since-review", "missing-file")]
    raise typer.Exit(1 if bad else 0)


@migrate_app.command("plan")
def migrate_plan(
    directory: DirOption = None,
    database_url: UrlOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    tunnel: TunnelOption = False,
) -> None:
    """Dry run: execute the pending files for real inside a transaction that is always rolled back."""
    from nyxops.migrate.plan import Plan, plan

    settings = settings_for(database_url, directory)

    def action() -> Plan:
        with reach(settings, tunnel) as reached:
            return plan(reached)

    result = run(action)
    if as_json:
        print(json.dumps(render.plan_dict(result), indent=2, default=str))
    else:
        render.plan_report(result, out)
    raise typer.Exit(0 if result.ok else 1)


@migrate_app.command("apply")
def migrate_apply(directory: DirOption = None, database_url: UrlOption = None, tunnel: TunnelOption = False) -> None:
    """Apply the pending reviewed files, each in one transaction with its history row."""
    from nyxops.migrate.apply import FileRun, apply

    settings = settings_for(database_url, directory)

    def action() -> list[FileRun]:
        with reach(settings, tunnel) as reached, render.ApplyProgress(out) as progress:
            return apply(reached, progress=progress.statement, on_file=progress.file_done)

    runs = run(action)
    if not runs:
        out.print("nothing to apply: the database is up to date")
    else:
        render.census_table(runs[0].before, runs[-1].after, out, "protected and embedding columns")


@migrate_app.command("review")
def migrate_review(
    files: Annotated[list[Path], typer.Argument(help="migration files")],
    by: Annotated[str, typer.Option("--by", help="the reviewer's name")],
    directory: DirOption = None,
) -> None:
    """Record that FILES were reviewed, with their sha256, in the folder's reviews.json."""
    from nyxops.migrate.store import review

    settings = settings_for(directory=directory)
    for file in run(lambda: review(settings.migrations_dir, files, by)):
        out.print(f"reviewed {file.name} by {by} (sha256 {file.sha256[:12]})")


@migrate_app.command("baseline")
def migrate_baseline(version: str, directory: DirOption = None, database_url: UrlOption = None) -> None:
    """Mark an existing database as already at VERSION (for production, which predates nyxops)."""
    from nyxops.migrate.status import baseline

    settings = settings_for(database_url, directory)
    for name in run(lambda: baseline(settings, version)):
        out.print(f"baselined {name}")


@protect_app.command("install")
def protect_install(database_url: UrlOption = None) -> None:
    """Refuse drops of protected columns for every client, unless a session sets nyxops.allow_drop."""
    from nyxops.db import connect
    from nyxops.guard.runtime import protect_install as install
    from nyxops.names import QualifiedName

    settings = settings_for(database_url)

    def action() -> None:
        with connect(settings.require_database_url(), "nyxops protect") as conn:
            install(conn, [QualifiedName.parse(c, parts=(2, 3)) for c in settings.protected_columns])

    run(action)
    out.print("protect installed for: " + ", ".join(settings.protected_columns))


@protect_app.command("status")
def protect_status(database_url: UrlOption = None) -> None:
    """Whether the protect trigger is installed, and what it protects. Exit 1 when it is not."""
    from nyxops.db import connect
    from nyxops.guard.runtime import protect_status as read

    settings = settings_for(database_url)

    def action() -> tuple[bool, list[str]]:
        with connect(settings.require_database_url(), "nyxops protect") as conn:
            return read(conn)

    installed, columns = run(action)
    out.print(("installed, protecting: " + ", ".join(columns)) if installed else "not installed")
    raise typer.Exit(0 if installed else 1)


@protect_app.command("remove")
def protect_remove(database_url: UrlOption = None) -> None:
    """Remove the protect trigger."""
    from nyxops.db import connect
    from nyxops.guard.runtime import protect_remove as remove

    settings = settings_for(database_url)

    def action() -> None:
        with connect(settings.require_database_url(), "nyxops protect") as conn:
            remove(conn)

    run(action)
    out.print("protect removed")


def main() -> None:
    from nyxops import cli_ops  # registers verify, backfill, demo

    assert cli_ops
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted: committed work stays committed; run the same command again to continue")
        sys.exit(130)
