"""``nyxops lint``, ``migrate`` and ``protect``: the SQL side, thin commands over guard/ and migrate/."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from nyxops.cli.base import (
    PATH,
    app,
    dir_option,
    err,
    finish,
    json_option,
    out,
    reach,
    run,
    settings_for,
    tunnel_option,
    url_option,
)
from nyxops.migrate.states import NOT_WELL


@app.group("migrate")
def migrate_app() -> None:
    """Reviewed SQL migrations with a drop guard."""


@app.group("protect")
def protect_app() -> None:
    """Permanent triggers: protected columns refuse drops from every client, and overwrites inside migrations."""


@app.command()
@click.argument("paths", nargs=-1, type=PATH)
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
@click.option("--explain", metavar="RULE", help="print a rule's page and exit")
@click.option("--exclude", multiple=True, metavar="GLOB", help="skip files matching GLOB ('*.down.sql'), repeatable")
@click.option("--changed-since", "since", metavar="REF", help="only files added or changed since the git REF")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".nyxops_cache",
    show_default=True,
    help="where results of files linted before are kept (keyed by content, nyxops' version and the policy)",
)
@click.option("--no-cache", is_flag=True, help="check every file again, and keep nothing")
def lint(
    paths: tuple[Path, ...],
    fmt: str,
    explain: str | None,
    exclude: tuple[str, ...],
    since: str | None,
    cache_dir: Path,
    no_cache: bool,
) -> None:
    """Check SQL files for destructive statements, without a database. Exit 0 clean, 1 blocked, 2 bad input.

    PATHS are files or folders; - reads standard input (prisma migrate diff --script | nyxops lint -).
    """
    from nyxops.cli import render_lint
    from nyxops.guard.lint import configured_policy, lint_text
    from nyxops.guard.lint import lint as run_lint

    if explain:
        from nyxops.guard import registry

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
        cache = None if no_cache else cache_dir
        report = run(lambda: run_lint(paths, configured_policy(), exclude=exclude, since=since, cache=cache))
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
    from nyxops.cli import render
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
    finish(1 if any(s.state in NOT_WELL for s in found) else 0)


@migrate_app.command("plan")
@dir_option
@url_option
@json_option
@tunnel_option
def migrate_plan(directory: Path | None, database_url: str | None, as_json: bool, tunnel: bool) -> None:
    """Dry run: execute the pending files for real inside a transaction that is always rolled back."""
    from nyxops.cli import render
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
    from nyxops.cli import render
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
    """Refuse drops of protected columns for every client, unless a session sets nyxops.allow_drop;
    and let migrations refuse overwrites of their values (a row trigger each migration arms)."""
    from nyxops.db import connect
    from nyxops.guard.runtime import protect_install as install
    from nyxops.names import QualifiedName

    settings = settings_for(database_url)
    columns = settings.protected

    def action() -> list[QualifiedName]:
        with reach(settings, tunnel) as reached, connect(reached.require_database_url(), "nyxops protect") as conn:
            return install(conn, columns, lock_timeout=settings.lock_timeout)

    guarded = run(action)
    out().print("protect installed for: " + ", ".join(settings.protected_columns))
    missing = [str(c) for c in columns if c not in guarded]
    if missing:
        out().print(
            "no overwrite trigger yet for " + ", ".join(missing) + " (the table or column does not exist): "
            "run nyxops protect install again once a migration has created it"
        )


@protect_app.command("status")
@url_option
@json_option
@tunnel_option
def protect_status(database_url: str | None, as_json: bool, tunnel: bool) -> None:
    """Whether the protect trigger is installed, and what it protects. Exit 1 when it is not, or when
    a setting stored for a role or database switches it off in their sessions."""
    from nyxops.db import connect
    from nyxops.guard.runtime import Protection
    from nyxops.guard.runtime import protect_status as read

    settings = settings_for(database_url)
    configured = settings.protected

    def action() -> Protection:
        with reach(settings, tunnel) as reached, connect(reached.require_database_url(), "nyxops protect") as conn:
            return read(conn, configured)

    from nyxops.cli import render

    found = run(action)
    if as_json:
        wanted = sorted(str(c) for c in configured)
        current = found.installed and sorted(found.columns) == wanted and not found.unguarded and not found.switched_off
        click.echo(json.dumps({**dataclasses.asdict(found), "configured": wanted, "current": current}))
    else:
        render.protection(found, out())
    finish(0 if found.installed and not found.switched_off else 1)


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
