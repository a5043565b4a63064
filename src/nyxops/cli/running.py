"""``nyxops app exec|request|logs``: the running app on the host, without a shell's quoting on the way."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from nyxops.cli.base import PATH, app, finish, run, settings_for


@app.group("app")
def app_group() -> None:
    """The running app on NYXOPS_HOST: a script run inside it, a request to it, its logs."""


@app_group.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("script", type=PATH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--root", is_flag=True, help="run as root inside the container")
def app_exec(script: Path, args: tuple[str, ...], root: bool) -> None:
    """Copy SCRIPT into the app container and run it with ARGS (after --), exactly as given.

    .js/.mjs/.cjs run with node, .sh with sh, .py with python3; anything else must be executable.
    Its output and exit code are passed through.
    """
    from nyxops.app_tools import exec_script

    settings = settings_for(None)
    ran = run(lambda: exec_script(settings, script, list(args), root=root))
    sys.stdout.write(ran.stdout)
    sys.stderr.write(ran.stderr)
    finish(ran.code)


@app_group.command("request")
@click.argument("words", nargs=-1, required=True, metavar="[METHOD] PATH")
@click.option("--json", "body", metavar="BODY", help="a JSON request body")
def app_request(words: tuple[str, ...], body: str | None) -> None:
    """Call the app's endpoint PATH through an SSH tunnel, with ADMIN_SECRET from the host's .env.

    The secret is never printed. Exit 0 for a 2xx answer, 1 otherwise; the body goes to standard output.
    """
    from nyxops.app_tools import Answered, request
    from nyxops.errors import UsageError

    if len(words) > 2:
        raise click.UsageError("give [METHOD] PATH, for example: nyxops app request POST /api/admin/reindex")
    method, path = (words[0], words[1]) if len(words) == 2 else ("POST" if body is not None else "GET", words[0])
    settings = settings_for(None)

    def action() -> Answered:
        if method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
            raise UsageError(f"{method}: not an HTTP method (GET, POST, PUT, PATCH, DELETE)")
        return request(settings, method, path, body)

    answered = run(action)
    text = answered.body
    if "json" in answered.content_type:
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(text), indent=2)
    click.echo(f"{answered.status} {method.upper()} {path}", err=True)
    sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
    finish(0 if 200 <= answered.status < 300 else 1)


@app_group.command("logs")
@click.option("--since", help="only lines since this (10m, 2h, or a timestamp), as docker logs reads it")
@click.option("--lines", type=click.IntRange(1, 100_000), default=200, show_default=True)
def app_logs(since: str | None, lines: int) -> None:
    """The app container's last log lines."""
    from nyxops.app_tools import logs

    settings = settings_for(None)
    ran = run(lambda: logs(settings, since, lines))
    sys.stdout.write(ran.stdout)
    sys.stdout.write(ran.stderr)
    finish(ran.code)
