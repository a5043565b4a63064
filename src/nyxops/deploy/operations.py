"""Custom pyinfra operations: commands only when something must change, ``host.noop`` otherwise.

pyinfra's ``docker.compose`` always shells out; these compare facts first, so an unchanged host
reports zero changes. Secrets are uploaded from memory and never appear in a command or a diff.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Generator
from io import StringIO
from pathlib import Path

from pyinfra.api.command import FileUploadCommand, FunctionCommand, StringCommand
from pyinfra.api.operation import operation
from pyinfra.context import host
from pyinfra.facts.files import Sha256File

from nyxops.deploy import operator
from nyxops.deploy.facts import ComposeConfigHashes, ComposeContainers, DiskUsage, OllamaModels
from nyxops.deploy.hostdata import HostData
from nyxops.deploy.secrets import load_secrets

Command = str | StringCommand | FileUploadCommand | FunctionCommand


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@operation()
def secret_file(path: str, content: str, mode: str = "600") -> Generator[Command, None, None]:
    """
    Write a file of secrets, mode 0600, without its content in any output or diff.

    + path: remote path
    + content: the file's text (kept in memory, uploaded over SFTP)
    + mode: octal mode
    """
    if host.get_fact(Sha256File, path=path) == _sha(content):
        host.noop(f"{path} is up to date")
        return
    temp = f"{path}.nyxops-new"
    yield StringCommand("install", "-m", mode, "/dev/null", shlex.quote(temp))
    yield FileUploadCommand(StringIO(content), temp)
    yield StringCommand("chmod", mode, shlex.quote(temp))
    yield StringCommand("mv", "-f", shlex.quote(temp), shlex.quote(path))


@operation()
def compose_file(
    app_dir: str, filename: str, content: str, compose: list[str], project: str, profiles: list[str]
) -> Generator[Command, None, None]:
    """
    Replace the compose file only with one the host's own compose accepts.

    + app_dir: project folder (holds .env and src/)
    + filename: file name, e.g. docker-compose.production.yml
    + content: rendered file
    + compose: the compose command (``docker compose`` or ``docker-compose``)
    """
    path = f"{app_dir}/{filename}"
    if host.get_fact(Sha256File, path=path) == _sha(content):
        host.noop(f"{path} is up to date")
        return
    new = f"{path}.new"
    yield FileUploadCommand(StringIO(content), new)
    argv = [*compose, "-p", project, "-f", new]
    for profile in profiles:
        argv += ["--profile", profile]
    check = shlex.join([*argv, "config", "-q"])
    yield StringCommand(f"cd {shlex.quote(app_dir)} && {check} || {{ rm -f {shlex.quote(new)}; exit 1; }}")
    yield StringCommand("mv", "-f", shlex.quote(new), shlex.quote(path))


@operation()
def prune_if_full(threshold: int, path: str = "/") -> Generator[Command, None, None]:
    """
    Above ``threshold`` percent used, prune unused images and build cache and report what was freed.

    + threshold: percent of the root filesystem
    """
    used = host.get_fact(DiskUsage, path=path)
    if used is None:
        host.noop(f"disk usage of {path} unknown: nothing pruned")
        return
    if used <= threshold:
        host.noop(f"disk {used}% used, not above {threshold}%: nothing to prune")
        return
    before = "df -P --output=used / | tail -n1"
    yield StringCommand(
        f"before=$({before}); docker image prune --all --force >/dev/null && docker builder prune --all --force"
        f' >/dev/null; after=$({before}); echo "nyxops: pruned $(( (before - after) * 1024 )) bytes'
        f" (disk was {used}%, now $(df -P / | tail -n1 | awk '{{print $5}}'))\""
    )


@operation()
def compose_up(
    app_dir: str, compose: list[str], project: str, file: str, services: list[str], profiles: list[str]
) -> Generator[Command, None, None]:
    """
    ``up -d`` only for services whose running container differs from the rendered file.

    Compares compose's own per-service hash (``config --hash``) with each container's
    ``com.docker.compose.config-hash`` label and state.
    """
    wanted = host.get_fact(
        ComposeConfigHashes, app_dir=app_dir, compose=compose, project=project, file=file, profiles=profiles
    )
    running = host.get_fact(ComposeContainers, project=project)
    stale = [s for s in services if running.get(s) != (wanted.get(s), "running")]
    if not stale:
        host.noop(f"{', '.join(services)} already running as configured")
        return
    argv = [*compose, "-p", project, "-f", file]
    for profile in profiles:
        argv += ["--profile", profile]
    yield StringCommand(f"cd {shlex.quote(app_dir)} && {shlex.join([*argv, 'up', '-d', '--no-deps', *stale])}")


@operation(is_idempotent=False)
def wait_healthy(container: str, timeout: int = 180) -> Generator[Command, None, None]:
    """
    Wait until a container's healthcheck passes (run it only after a change, with ``_if``).

    + container: container name
    + timeout: seconds
    """
    inspect = shlex.join(["docker", "inspect", "-f", "{{.State.Health.Status}}", container])
    yield StringCommand(
        f'for i in $(seq {timeout // 2}); do [ "$({inspect})" = healthy ] && exit 0; sleep 2; done;'
        f" echo {shlex.quote(container + ' not healthy after ' + str(timeout) + 's')} >&2; exit 1"
    )


@operation()
def ollama_pull(container: str, models: list[str]) -> Generator[Command, None, None]:
    """
    Pull the models that are missing, and only those.

    + container: the running Ollama container
    + models: model names, e.g. qwen2.5:7b
    """
    listed: list[str] = host.get_fact(OllamaModels, container=container)
    present = set(listed)
    missing = [m for m in models if m not in present]
    if not missing:
        host.noop(f"models present: {', '.join(models)}")
        return
    for model in missing:
        yield StringCommand(shlex.join(["docker", "exec", container, "ollama", "pull", model]))


def _operator_env(data: HostData) -> dict[str, str]:
    """The child's environment, built here so no secret is ever an operation argument (or printed)."""
    ssh = {
        "hostname": host.data.get("ssh_hostname") or host.name,
        "port": host.data.get("ssh_port"),
        "user": host.data.get("ssh_user"),
        "key": host.data.get("ssh_key"),
        "known_hosts": host.data.get("ssh_known_hosts_file"),
    }
    return operator.child_env(ssh, data, load_secrets(data))


@operation()
def migrations_applied(data: HostData, directory: str, cwd: str) -> Generator[Command, None, None]:
    """
    Apply pending reviewed migrations with the guarded runner, through an SSH tunnel to ``db``.

    Which files are pending is read when the plan is made (``--dry`` shows them); SQL never passes
    through a remote shell.
    """
    env = _operator_env(data)
    pending = operator.pending_migrations(env, Path(directory), Path(cwd))
    if not pending:
        host.noop("no pending migrations")
        return
    yield FunctionCommand(operator.apply_migrations, (env, Path(directory), Path(cwd)), {})


@operation(is_idempotent=False)
def verified(data: HostData, checks: str, cwd: str, wait: float = 120) -> Generator[Command, None, None]:
    """Run ``nyxops verify`` against the host; the deploy fails when a check fails."""
    env = _operator_env(data)
    yield FunctionCommand(operator.verify, (env, Path(checks), Path(cwd), wait), {})
