"""Custom pyinfra operations: commands only when something must change, ``host.noop`` otherwise.

pyinfra's ``docker.compose`` always shells out; these compare facts first, so an unchanged host
reports zero changes. Secrets are uploaded from memory and never appear in a command or a diff.
Containers are addressed through compose's labels (``facts.find_container``), never by name.
Commands re-check at run time what the plan read (a checkout that moved, a database filled by an
earlier step), so a plan made before an earlier operation ran is never acted on blindly.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Generator
from io import StringIO
from pathlib import Path
from typing import Any

from pyinfra.api.command import FileUploadCommand, FunctionCommand, StringCommand
from pyinfra.api.exceptions import OperationError
from pyinfra.api.operation import operation
from pyinfra.context import host
from pyinfra.facts.files import Sha256File

from nyxops.config import gib
from nyxops.deploy import operator
from nyxops.deploy.facts import (
    AppRelease,
    ComposeConfigHashes,
    ComposeContainers,
    DatabaseTables,
    DiskUsage,
    HostResources,
    OllamaLoaded,
    OllamaModels,
    compose_argv,
    count_tables,
    find_container,
)
from nyxops.deploy.hostdata import HostData
from nyxops.deploy.secrets import load_secrets
from nyxops.deploy.session import note, reported

Command = str | StringCommand | FileUploadCommand | FunctionCommand


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _reported(state: Any, host: Any, command: str) -> None:  # pyinfra passes these two by their names
    """Run a command; its lines starting with ``nyxops:`` are shown at pyinfra's default verbosity."""
    ok, output = host.run_shell_command(StringCommand(command))
    for line in output.stdout_lines:
        if line.startswith("nyxops:"):
            host.log(line)
    if not ok:
        raise OperationError("; ".join(output.stderr_lines[-5:]) or f"failed: {command}")


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
    check = shlex.join([*compose_argv(compose, project, new, profiles), "config", "-q"])
    yield StringCommand(f"cd {shlex.quote(app_dir)} && {check} || {{ rm -f {shlex.quote(new)}; exit 1; }}")
    yield StringCommand("mv", "-f", shlex.quote(new), shlex.quote(path))


@operation()
def host_fits(cpus: float, memory_bytes: int) -> Generator[Command, None, None]:
    """
    Refuse, before anything changes, limits the host cannot give: Docker would refuse them mid-deploy.

    + cpus: the Ollama container's CPU limit (``NYXOPS_OLLAMA_CPUS``)
    + memory_bytes: its memory limit (``NYXOPS_OLLAMA_MEMORY``)
    """
    have = host.get_fact(HostResources)
    problems = []
    if cpus > have["cpus"]:
        problems.append(
            f"NYXOPS_OLLAMA_CPUS={cpus:g} but the host has {have['cpus']} CPUs (Docker refuses more): "
            f"set NYXOPS_OLLAMA_CPUS to at most {have['cpus']}, better {max(have['cpus'] - 0.5, 0.5):g} "
            "to leave the app and the database a share"
        )
    if memory_bytes >= have["memory"]:
        problems.append(
            f"NYXOPS_OLLAMA_MEMORY is {gib(memory_bytes)} but the host has {gib(have['memory'])} in all: "
            "lower NYXOPS_OLLAMA_MEMORY (and choose a smaller model) or resize the server"
        )
    if problems:
        raise OperationError("nothing was changed: " + "; ".join(problems))
    host.noop(f"{have['cpus']} CPUs and {gib(have['memory'])}: room for {cpus:g} CPUs and {gib(memory_bytes)}")
    yield from ()  # an operation is a generator, even one that only ever checks


@operation(is_idempotent=False)
def prune_if_full(threshold: int, cache_age: str = "168h", path: str = "/") -> Generator[Command, None, None]:
    """
    Above ``threshold`` percent used, prune what is safe and say how many bytes that freed.

    Only dangling images (untagged, used by no container) and build cache older than ``cache_age``:
    never a tagged image, so neither the Ollama image while its container is recreated, nor the
    app's kept releases, nor the base image its next build starts from.

    + threshold: percent of the root filesystem
    + cache_age: build cache unused for longer than this is pruned (``168h``)
    """
    used = host.get_fact(DiskUsage, path=path)
    if used is None:
        host.noop(f"disk usage of {path} unknown: nothing pruned")
        return
    if used <= threshold:
        host.noop(f"disk {used}% used, not above {threshold}%: nothing to prune")
        return
    df = f"df -P --output=used {shlex.quote(path)} | tail -n1"
    command = (
        f"before=$({df}); docker image prune --force >/dev/null"
        f" && docker builder prune --force --filter until={shlex.quote(cache_age)} >/dev/null; after=$({df});"
        f' echo "nyxops: pruned $(( (before - after) * 1024 )) bytes (dangling images, build cache older than'
        f" {cache_age}); disk was {used}%, now $(df -P {shlex.quote(path)} | tail -n1 | awk '{{print $5}}')\""
    )
    yield FunctionCommand(_reported, (command,), {})


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
    argv = compose_argv(compose, project, file, profiles)
    yield StringCommand(f"cd {shlex.quote(app_dir)} && {shlex.join([*argv, 'up', '-d', '--no-deps', *stale])}")


@operation(is_idempotent=False)
def wait_healthy(project: str, service: str, timeout: int = 120) -> Generator[Command, None, None]:
    """
    Wait until a service's healthcheck passes (run it only after a change, with ``_if``).

    Fails as soon as the container stops or reports unhealthy, with its last log lines.

    + project: the compose project
    + service: the compose service
    + timeout: seconds
    """
    fail = f"echo {shlex.quote(service)}"
    status = shlex.quote("{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}")
    yield StringCommand(
        f"{find_container(project, service)}; "
        f'[ -n "$c" ] || {{ {fail} has no running container >&2; exit 1; }}; '
        f"for i in $(seq {max(timeout // 2, 1)}); do "
        f's=$(docker inspect -f {status} "$c"); '
        f'case "$s" in healthy) exit 0 ;; unhealthy|exited|dead) break ;; esac; sleep 2; done; '
        f'{fail} "is $s after waiting (timeout {timeout}s); its last log lines:" >&2; '
        'docker logs --tail 20 "$c" >&2; exit 1'
    )


@operation()
def ollama_pull(project: str, models: list[str]) -> Generator[Command, None, None]:
    """
    Pull the models that are missing, and only those.

    + project: the compose project whose ``ollama`` service pulls
    + models: model names, e.g. qwen2.5:7b
    """
    listed = host.get_fact(OllamaModels, project=project)
    present = set(listed or [])
    missing = [m for m in models if m not in present]
    if not missing:
        host.noop(f"models present: {', '.join(models)}")
        return
    for model in missing:
        yield StringCommand(f'{find_container(project, "ollama")}; docker exec "$c" ollama pull {shlex.quote(model)}')


@operation()
def ollama_warm(project: str, model: str, keep_alive: str, port: int) -> Generator[Command, None, None]:
    """
    Load the default model into memory (an empty prompt, as Ollama's API documents), unless it is loaded.

    The first question after a deploy then gets an answer in seconds, not after a cold load.

    + model: the model to keep loaded
    + keep_alive: how long it stays loaded (``-1``: until the container restarts)
    + port: Ollama's port on the host's loopback
    """
    loaded = host.get_fact(OllamaLoaded, project=project)
    if loaded and model in loaded:
        host.noop(f"{model} is loaded")
        return
    alive: int | str = int(keep_alive) if keep_alive.lstrip("-").isdigit() else keep_alive
    body = json.dumps({"model": model, "keep_alive": alive})
    url = f"http://127.0.0.1:{port}/api/generate"
    yield StringCommand(shlex.join(["curl", "-fsS", "-m", "600", "-o", "/dev/null", url, "-d", body]))


@operation()
def app_image(app_dir: str, image: str, project: str, no_cache: bool = False) -> Generator[Command, None, None]:
    """
    Build the app image for the checked-out commit when none exists (the switch makes it ``current``).

    Images are tagged with their commit and labelled with it (``org.opencontainers.image.revision``):
    a build that failed leaves no image, so the next run builds again instead of reporting no change.
    Earlier releases keep their images (``keep_releases``), so a rollback needs no rebuild.

    + app_dir: project folder; the checkout is ``src/``
    + image: image repository, e.g. ``nyxcore-app``
    + no_cache: rebuild without Docker's layer cache
    """
    release = host.get_fact(AppRelease, app_dir=app_dir, image=image, project=project)
    if release["built"] and not no_cache:
        host.noop(f"{image}:{release['commit'][:12]} is built")
        return
    src, image_q = shlex.quote(f"{app_dir}/src"), shlex.quote(image)
    build = (
        f'docker build {"--no-cache " if no_cache else ""}--label org.opencontainers.image.revision="$commit"'
        f' -t {image_q}:"$commit" {src}'
    )
    exists = f'docker image inspect {image_q}:"$commit" >/dev/null 2>&1'
    built = build if no_cache else f"{{ {exists} || {build}; }}"
    yield StringCommand(f"commit=$(git -C {src} rev-parse HEAD) && {built}")


@operation()
def app_schema(
    app_dir: str, compose: list[str], project: str, file: str, command: str, image: str, restore: str | None = None
) -> Generator[Command, None, None]:
    """
    On an empty database (a first deploy), create the app's schema before nyxops' migrations run.

    Either the app's own schema tool runs once in the app image (Prisma: ``npx prisma migrate deploy``),
    or a backup (``pg_dump -Fc``) is restored. A database with any table is never touched.

    + command: the schema tool, run with ``sh -c`` in the app image
    + restore: a local ``pg_dump -Fc`` file to restore instead
    """
    tables = host.get_fact(DatabaseTables, project=project)
    if tables:
        host.noop(f"the database has {tables} tables: schema in place")
        return
    empty = f'{find_container(project, "db", "db")}; [ "$(docker exec "$db" {shlex.join(count_tables())})" = 0 ]'
    if restore:
        dump = shlex.quote(f"{app_dir}/restore.dump")
        yield FileUploadCommand(restore, f"{app_dir}/restore.dump")
        load = f'docker exec -i "$db" pg_restore -U nyxcore -d nyxcore --no-owner --exit-on-error < {dump}'
        yield StringCommand(f"if {empty}; then {load}; status=$?; else status=0; fi; rm -f {dump}; exit $status")
        return
    run = [*compose_argv(compose, project, file, []), "run", "--rm", "--no-deps", "-T", "app", "sh", "-c", command]
    # A first deploy has no "current" yet (the switch tags it once the app is healthy): the checkout's image
    # is the one that runs the schema tool, so it becomes current here, with nothing running to disturb.
    image_q = shlex.quote(image)
    first = (
        f"docker image inspect {image_q}:current >/dev/null 2>&1 || "
        f'docker tag {image_q}:"$(git -C {shlex.quote(app_dir + "/src")} rev-parse HEAD)" {image_q}:current'
    )
    yield StringCommand(f"if {empty}; then {first} && cd {shlex.quote(app_dir)} && {shlex.join(run)}; fi")


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
def protect_installed(data: HostData, cwd: str) -> Generator[Command, None, None]:
    """The permanent protect trigger, for the protected columns, installed through the tunnel."""
    env = _operator_env(data)
    if operator.protect_current(env, Path(cwd)):
        host.noop("protect installed for the protected columns")
        return
    yield FunctionCommand(operator.protect_install, (env, Path(cwd)), {})


@operation(is_idempotent=False)
def verified(data: HostData, checks: str, cwd: str, wait: float = 120) -> Generator[Command, None, None]:
    """Run ``nyxops verify`` against the host; the deploy fails when a check fails."""
    env = _operator_env(data)
    yield FunctionCommand(_verify, (env, Path(checks), Path(cwd), wait), {})


@reported
def _verify(state: Any, host: Any, env: dict[str, str], checks: Path, cwd: Path, wait: float) -> None:
    try:
        operator.verify(env, checks, cwd, wait)
    except operator.StageFailed:
        note(host.name, "verify", "failed")
        raise
    note(host.name, "verify", "passed")
