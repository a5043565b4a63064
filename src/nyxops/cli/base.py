"""What every command shares: the root group, its options, output consoles, and expected failures as messages.

click, not typer: typer 0.29 builds pydantic validators for every parameter at startup, which
cost ``nyxops lint`` 0.14 s a run (as long as squawk's whole run) in the app's CI. Everything
heavy (rich, pydantic-settings, psycopg) is imported by the command that needs it.
"""

from __future__ import annotations

import functools
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
