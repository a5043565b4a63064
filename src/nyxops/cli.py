"""The ``nyxops`` command: parse flags, call one function, render its result. Nothing else lives here.

click, not typer: typer 0.29 builds pydantic validators for every parameter at startup, which
cost ``nyxops lint`` 0.14 s a run (as long as squawk's whole run) in the app's CI. Everything
heavy (rich, pydantic-settings, psycopg) is imported by the command that needs it.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

from nyxops.errors import ConfigError, NyxopsError, from_database

if TYPE_CHECKING:
    from rich.console import Console

    from nyxops.config import Settings

_state = {"debug": False}
PATH = click.Path(path_type=Path)
dir_option = click.option("--dir", "directory", type=PATH, help="migrations folder [default: migrations/]")
url_option = click.option("--database-url", help="PostgreSQL URL [default: $DATABASE_URL]")
json_option = click.option("--json", "as_json", is_flag=True, help="machine-readable output")
tunnel_option = click.option(
    "--tunnel", is_flag=True, help="reach the database through an SSH tunnel to NYXOPS_HOST (its loopback port)"
)


@functools.cache
def out() -> Console:
    """Standard output for people. rich is imported on first use: lint's JSON never needs it.

    In a pipe or a CI log there is no terminal width to fit: tables keep full names and texts
    instead of being cut to rich's default of 80 columns (``COLUMNS`` still wins when set).
    """
    from rich.console import Console

    return Console(soft_wrap=True, width=_width(sys.stdout))


@functools.cache
def err() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, width=_width(sys.stderr))


def _width(stream: object) -> int | None:
    if os.environ.get("COLUMNS") or getattr(stream, "isatty", lambda: False)():
        return None  # rich reads the terminal (or COLUMNS)
    return 400


T = TypeVar("T")


def finish(code: int) -> NoReturn:
    """End the command with ``code`` (0 fine, 1 found a problem, 2 bad input)."""
    sys.exit(code)


def run(action: Callable[[], T]) -> T:
    """Call ``action``; an expected failure becomes its message and exit code, no traceback."""
    try:
        return action()
    except NyxopsError as exc:
        if _state["debug"]:
            raise
        _fail(exc)
    except Exception as exc:
        if _state["debug"] or not type(exc).__module__.startswith("psycopg"):
            raise
        _fail(from_database(exc))  # a database error nothing below expected: a sentence, not a traceback


def _fail(exc: NyxopsError) -> NoReturn:
    from rich.markup import escape

    from nyxops.names import scrub_secrets

    err().print(f"[bold red]error:[/] {escape(scrub_secrets(str(exc)))}")
    finish(exc.exit_code)


def settings_for(database_url: str | None = None, directory: Path | None = None) -> Settings:
    from nyxops.config import load_settings

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="show tracebacks")
@click.pass_context
def app(ctx: click.Context, debug: bool) -> None:
    """Operations toolkit of the nyxcore stack."""
    _state["debug"] = debug
    if ctx.invoked_subcommand != "lint":  # lint logs nothing: its start in CI stays short
        from nyxops import logs

        logs.configure(err())


@app.group("migrate")
def migrate_app() -> None:
    """Reviewed SQL migrations with a drop guard."""


@app.group("protect")
def protect_app() -> None:
    """A permanent event trigger that protects columns from every client."""


@app.command()
@click.argument("paths", nargs=-1, type=PATH)
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
@click.option("--explain", metavar="RULE", help="print a rule's page and exit")
@click.option("--exclude", multiple=True, metavar="GLOB", help="skip files matching GLOB ('*.down.sql'), repeatable")
@click.option("--changed-since", "since", metavar="REF", help="only files added or changed since the git REF")
def lint(paths: tuple[Path, ...], fmt: str, explain: str | None, exclude: tuple[str, ...], since: str | None) -> None:
    """Check SQL files for destructive statements, without a database. Exit 0 clean, 1 blocked, 2 bad input.

    PATHS are files or folders; - reads standard input (prisma migrate diff --script | nyxops lint -).
    """
    from nyxops import render_lint
    from nyxops.guard import registry
    from nyxops.guard.lint import configured_policy, lint_text
    from nyxops.guard.lint import lint as run_lint

    if explain:
        try:
            out().print(registry.explain(explain), highlight=False)
        except KeyError:
            err().print(f"[bold red]error:[/] unknown rule {explain!r}; known: {', '.join(sorted(registry.BY_ID))}")
            finish(2)
        return
    if not paths:
        err().print("[bold red]error:[/] give one or more .sql files or folders (or --explain RULE)")
        finish(2)
    if paths == (Path("-"),):
        data = sys.stdin.buffer.read()
        text = data.decode("utf-8", errors="surrogateescape")
        report = run(lambda: lint_text(text, "<stdin>", configured_policy()))
    else:
        report = run(lambda: run_lint(paths, configured_policy(), exclude=exclude, since=since))
    if fmt == "json":
        print(render_lint.lint_json(report))
    elif fmt == "github":
        text = render_lint.lint_github(report)
        if text:
            print(text)
    else:
        render_lint.lint_text(report, out())
    finish(report.exit_code)


@migrate_app.command("status")
@dir_option
@url_option
@json_option
@tunnel_option
def migrate_status(directory: Path | None, database_url: str | None, as_json: bool, tunnel: bool) -> None:
    """Applied, pending, unreviewed and drifted files."""
    from nyxops import render
    from nyxops.migrate.status import status

    settings = settings_for(database_url, directory)

    def action() -> list:  # type: ignore[type-arg]
        with reach(settings, tunnel) as reached:
            return status(reached)

    found = run(action)
    if as_json:
        print(json.dumps([render.state_dict(s) for s in found], indent=2, default=str))
    else:
        render.status_table(found, out())
    bad = [
        s
        for s in found
        if s.state in ("drifted", "unreviewed", "changed-since-review", "missing-file", "invalid-index")
    ]
    finish(1 if bad else 0)


@migrate_app.command("plan")
@dir_option
@url_option
@json_option
@tunnel_option
def migrate_plan(directory: Path | None, database_url: str | None, as_json: bool, tunnel: bool) -> None:
    """Dry run: execute the pending files for real inside a transaction that is always rolled back."""
    from nyxops import render
    from nyxops.migrate.plan import Plan, plan

    settings = settings_for(database_url, directory)

    def action() -> Plan:
        with reach(settings, tunnel) as reached:
            return plan(reached)

    result = run(action)
    if as_json:
        print(json.dumps(render.plan_dict(result), indent=2, default=str))
    else:
        render.plan_report(result, out())
    finish(0 if result.ok else 1)


@migrate_app.command("apply")
@dir_option
@url_option
@tunnel_option
def migrate_apply(directory: Path | None, database_url: str | None, tunnel: bool) -> None:
    """Apply the pending reviewed files, each in one transaction with its history row."""
    from nyxops import render
    from nyxops.migrate.apply import FileRun, apply

    settings = settings_for(database_url, directory)

    def action() -> list[FileRun]:
        with reach(settings, tunnel) as reached, render.ApplyProgress(out()) as progress:
            return apply(reached, progress=progress.statement, on_file=progress.file_done)

    runs = run(action)
    if not runs:
        out().print("nothing to apply: the database is up to date")
    else:
        render.census_table(runs[0].before, runs[-1].after, out(), "protected and embedding columns")


@migrate_app.command("review")
@click.argument("files", nargs=-1, required=True, type=PATH)
@click.option("--by", required=True, help="the reviewer's name")
@dir_option
def migrate_review(files: tuple[Path, ...], by: str, directory: Path | None) -> None:
    """Record that FILES were reviewed, with their sha256, in the folder's reviews.json.

    The folder is the files' own (or Prisma's, one above migration.sql) unless --dir says otherwise.
    """
    from nyxops.guard.lint import configured_policy, lint_file
    from nyxops.migrate.store import folder_of, review

    folder = directory or (folder_of(files[0]) if files else None)
    settings = settings_for(directory=folder)
    for file in run(lambda: review(settings.migrations_dir, list(files), by)):
        out().print(f"reviewed {file.name} by {by} (sha256 {file.sha256[:12]})")
        blocking = lint_file(file.path, configured_policy()).blocking
        if blocking:
            rules = ", ".join(sorted({f"{f.rule} {f.object}" for f in blocking}))
            err().print(
                f"[yellow]warning:[/] the guard blocks {file.name} ({rules}): apply will refuse it until each "
                "statement has its allow comment (nyxops lint shows where)"
            )


@migrate_app.command("baseline")
@click.argument("version")
@dir_option
@url_option
@tunnel_option
@click.option("--force", is_flag=True, help="write the history even when the database lacks what the files create")
def migrate_baseline(version: str, directory: Path | None, database_url: str | None, tunnel: bool, force: bool) -> None:
    """Mark an existing database as already at VERSION (for production, which predates nyxops)."""
    from nyxops.migrate.status import baseline

    settings = settings_for(database_url, directory)

    def action() -> list[str]:
        with reach(settings, tunnel) as reached:
            return baseline(reached, version, force=force)

    for name in run(action):
        out().print(f"baselined {name}")


@protect_app.command("install")
@url_option
@tunnel_option
def protect_install(database_url: str | None, tunnel: bool) -> None:
    """Refuse drops of protected columns for every client, unless a session sets nyxops.allow_drop."""
    from nyxops.db import connect
    from nyxops.guard.runtime import protect_install as install
    from nyxops.names import QualifiedName

    settings = settings_for(database_url)

    def action() -> None:
        with reach(settings, tunnel) as reached, connect(reached.require_database_url(), "nyxops protect") as conn:
            install(conn, [QualifiedName.parse(c, parts=(2, 3)) for c in settings.protected_columns])

    run(action)
    out().print("protect installed for: " + ", ".join(settings.protected_columns))


@protect_app.command("status")
@url_option
@json_option
@tunnel_option
def protect_status(database_url: str | None, as_json: bool, tunnel: bool) -> None:
    """Whether the protect trigger is installed, and what it protects. Exit 1 when it is not."""
    from nyxops.db import connect
    from nyxops.guard.runtime import protect_status as read

    settings = settings_for(database_url)

    def action() -> tuple[bool, list[str]]:
        with reach(settings, tunnel) as reached, connect(reached.require_database_url(), "nyxops protect") as conn:
            return read(conn)

    installed, columns = run(action)
    if as_json:
        from nyxops.names import QualifiedName

        wanted = sorted(str(QualifiedName.parse(c, parts=(2, 3))) for c in settings.protected_columns)
        current = installed and sorted(columns) == wanted
        click.echo(json.dumps({"installed": installed, "columns": columns, "configured": wanted, "current": current}))
    else:
        out().print(("installed, protecting: " + ", ".join(columns)) if installed else "not installed")
    finish(0 if installed else 1)


@protect_app.command("remove")
@url_option
@tunnel_option
def protect_remove(database_url: str | None, tunnel: bool) -> None:
    """Remove the protect trigger."""
    from nyxops.db import connect
    from nyxops.guard.runtime import protect_remove as remove

    settings = settings_for(database_url)

    def action() -> None:
        with reach(settings, tunnel) as reached, connect(reached.require_database_url(), "nyxops protect") as conn:
            remove(conn)

    run(action)
    out().print("protect removed")


def main() -> None:
    from nyxops import cli_app, cli_ops  # register verify, backfill, demo; app exec|request|logs

    assert cli_ops and cli_app
    try:
        code = app.main(prog_name="nyxops", standalone_mode=False)
    except (click.Abort, KeyboardInterrupt):
        err().print("interrupted: committed work stays committed; run the same command again to continue")
        import threading

        if threading.active_count() > 1:  # a worker stuck in a provider's request: do not wait for it
            import os

            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    _leave(code if isinstance(code, int) else 0)


def _leave(code: int) -> None:
    """Exit without freeing the heap object by object.

    Why: after a 10,000-statement apply the interpreter spent 0.15 s tearing down parse trees the
    OS frees at once. Exit handlers still run (logging's flush, an embedded server's stop), and a
    run with threads still alive exits the normal way so that nothing is cut short.
    """
    import atexit
    import os
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
