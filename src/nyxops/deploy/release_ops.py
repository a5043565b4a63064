"""The release's own operations: the deploy lock and audit, the backup, the health-gated switch, Caddy.

They do their work through ``nyxops.release`` over pyinfra's connection (``PyinfraShell``), so the
deploy and the ``nyxops db|rollback|lock|audit`` commands share one implementation. The switch and
the backup are noops when nothing must change, like every other operation; the lock and the audit
line are the deploy's own bookkeeping and run on every deploy.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Generator
from io import StringIO
from pathlib import Path
from typing import Any

from pyinfra.api.command import FileUploadCommand, FunctionCommand, StringCommand
from pyinfra.api.operation import operation
from pyinfra.context import host
from pyinfra.facts.files import Sha256File

from nyxops.deploy import operator
from nyxops.deploy.containers import find_container
from nyxops.deploy.facts import AppRelease, ComposeConfigHashes, ComposeContainers
from nyxops.deploy.hostdata import HostData
from nyxops.deploy.operations import Command, _operator_env
from nyxops.deploy.session import CURRENT, note, reported
from nyxops.migrate.store import load_reviews
from nyxops.release import backup
from nyxops.release.layout import Layout
from nyxops.release.shell import PyinfraShell
from nyxops.release.switch import AppSpec, switch


@operation(is_idempotent=False)
def deploy_locked() -> Generator[Command, None, None]:
    """Take the host's deploy lock (or fail at once naming its holder), then run the pre-deploy hook."""
    yield FunctionCommand(_begin, (), {})


@reported
def _begin(state: Any, host: Any) -> None:  # pyinfra passes these two by their names
    CURRENT[host.name].begin(PyinfraShell(host), host.log)


@operation(is_idempotent=False)
def deploy_recorded() -> Generator[Command, None, None]:
    """The audit lines of this deploy written on the host, the lock released, the post-deploy hook run."""
    yield FunctionCommand(_finish, (), {})


@reported
def _finish(state: Any, host: Any) -> None:
    CURRENT[host.name].finish(PyinfraShell(host), "ok", say=host.log)


def _pending_when_planned(data: HostData, directory: str, cwd: str) -> list[str] | None:
    """The pending files as the plan reads them, once per deploy, host and folder: the backup's and
    the migrations' operations plan from the same read (each read is a child process and a tunnel).

    Kept in the deploy's session, never in the process: a process that runs a second deploy
    (pyinfra's API, a long-lived runner) plans from a new read. Without a session (a stage run on its
    own, without the lock stage) each operation reads for itself.
    """
    session = CURRENT.get(host.name)
    planned = session.planned if session is not None else {}
    if directory not in planned:
        planned[directory] = operator.pending_migrations(_operator_env(data), Path(directory), Path(cwd))
    return planned[directory]


@operation()
def backup_before_migrations(data: HostData, directory: str, cwd: str) -> Generator[Command, None, None]:
    """
    A ``pg_dump -Fc`` on the host when migrations are pending, free space checked first; the newest N kept.

    A backup that fails stops the release before any migration runs.
    """
    pending = _pending_when_planned(data, directory, cwd)
    if pending == []:
        host.noop("no pending migrations: no backup needed")
        return
    label = f"before-{pending[0]}" if pending else "before-migrations"
    yield FunctionCommand(_backup, (label.removesuffix(".sql"), data.backup_keep), {})


@reported
def _backup(state: Any, host: Any, label: str, keep: int) -> None:
    made = backup.take(PyinfraShell(host), CURRENT[host.name].layout, label, keep)
    note(host.name, "backup", made.path if made else None)
    host.log(f"nyxops: backup {made.path} ({made.bytes} bytes)" if made else "nyxops: empty database, no backup")


@operation()
def migrations_recorded(data: HostData, directory: str, cwd: str) -> Generator[Command, None, None]:
    """
    Apply pending reviewed migrations with the guarded runner, through an SSH tunnel to ``db``.

    Which files are pending is read when the plan is made (``--dry`` shows them); SQL never passes
    through a remote shell. The files applied, with their reviewers, go into the audit line.
    """
    if _pending_when_planned(data, directory, cwd) == []:
        host.noop("no pending migrations")
        return
    yield FunctionCommand(_apply, (_operator_env(data), Path(directory), Path(cwd)), {})


@reported
def _apply(state: Any, host: Any, env: dict[str, str], directory: Path, cwd: Path) -> None:
    before = operator.pending_migrations(env, directory, cwd) or []
    operator.apply_migrations(env, directory, cwd)
    reviews = load_reviews(directory)
    applied = [{"name": n, "reviewed_by": reviews[n].reviewed_by if n in reviews else "?"} for n in before]
    note(host.name, "migrations", applied)


@operation()
def app_switched(app_dir: str, compose: list[str], project: str, file: str, image: str, timeout: int = 120,
                 keep: int = 5) -> Generator[Command, None, None]:  # fmt: skip
    """
    The app runs the checked-out commit's image, switched only once the new image passed its health check.

    Noop when the running container already runs that image with the rendered configuration.

    + timeout: seconds the new release has to pass its health check
    + keep: releases whose images are kept for rollback
    """
    release = host.get_fact(AppRelease, app_dir=app_dir, image=image, project=project)
    wanted = host.get_fact(ComposeConfigHashes, app_dir=app_dir, compose=compose, project=project, file=file,
                           profiles=[])  # fmt: skip
    running = host.get_fact(ComposeContainers, project=project)
    same_config = running.get("app") == (wanted.get("app"), "running")
    if release["built"] and release["running"] == release["built"] and same_config:
        host.noop(f"app runs {image}:{release['commit'][:12]}")
        return
    spec = AppSpec(Layout(app_dir, project), compose, file, image, timeout, keep)
    yield FunctionCommand(_switch, (spec,), {})


@reported
def _switch(state: Any, host: Any, spec: AppSpec) -> None:
    shell = PyinfraShell(host)
    commit = shell.sh(f"git -C {shlex.quote(spec.layout.app_dir + '/src')} rev-parse HEAD").stdout.strip()
    done = switch(shell, spec, commit)
    note(host.name, "commit", done.commit)
    host.log(f"nyxops: app switched to {spec.image}:{done.commit[:12]} after its health check passed")


@operation()
def caddyfile(app_dir: str, content: str, project: str) -> Generator[Command, None, None]:
    """
    The proxy's Caddyfile, replaced only when it differs; a running proxy reloads it (a bad one is refused
    by Caddy, which keeps serving the old).
    """
    path = f"{app_dir}/caddy/Caddyfile"
    if host.get_fact(Sha256File, path=path) == hashlib.sha256(content.encode()).hexdigest():
        host.noop(f"{path} is up to date")
        return
    yield StringCommand("mkdir", "-p", shlex.quote(f"{app_dir}/caddy"))
    yield FileUploadCommand(StringIO(content), path)
    reload = 'docker exec "$c" caddy reload --config /etc/caddy/Caddyfile --adapter caddyfile'
    yield StringCommand(f'{find_container(project, "proxy")}; if [ -n "$c" ]; then {reload}; fi')
