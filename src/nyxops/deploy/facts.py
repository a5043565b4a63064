"""Custom pyinfra facts: what pyinfra itself cannot see (host resources, disk, compose state, Ollama, the app).

Each is a small class: ``command`` (quoted with shlex, never by hand), ``requires_command``,
``default`` and ``process(lines)``, as pyinfra's own facts are written. Containers are found by
compose's labels (project + service), never by a name pattern: Debian's docker-compose 1.29 names
them ``nyxcore_ollama_1``, the compose plugin ``nyxcore-ollama-1``.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import Any

from pyinfra.api.facts import FactBase

from nyxops.deploy.containers import NO_CONTAINER, SERVICE_NOT_ONE_OFF, compose_argv, count_tables, find_container

__all__ = ["NO_CONTAINER", "SERVICE_NOT_ONE_OFF", "compose_argv", "count_tables", "find_container"]


def _cd(app_dir: str, argv: Iterable[str]) -> str:
    return f"cd {shlex.quote(app_dir)} && {shlex.join(list(argv))}"


def in_container(project: str, service: str, argv: list[str]) -> str:
    """Run ``argv`` in the service's running container; print NO_CONTAINER (exit 0) when there is none."""
    missing, run = shlex.quote(NO_CONTAINER), shlex.join(argv)
    return f'{find_container(project, service)}; if [ -z "$c" ]; then echo {missing}; else docker exec "$c" {run}; fi'


class DockerFact(FactBase[Any]):
    def requires_command(self, *args: object, **kwargs: object) -> str:
        return "docker"


class HostResources(FactBase[dict[str, int]]):
    """The host's CPU count and memory in bytes: the ceiling for the containers' limits."""

    def command(self) -> str:
        return "nproc; grep '^MemTotal:' /proc/meminfo"

    def process(self, output: list[str]) -> dict[str, int]:
        return {"cpus": int(output[0].strip()), "memory": int(output[1].split()[1]) * 1024}


class DiskUsage(FactBase[int | None]):
    """Percent of the filesystem at ``path`` in use (``df -P``), or None when unknown."""

    def command(self, path: str = "/") -> str:
        return f"df -P {shlex.quote(path)}"

    def process(self, output: list[str]) -> int | None:
        try:
            return int(output[-1].split()[4].rstrip("%"))
        except (IndexError, ValueError):
            return None


class ComposeConfigHashes(DockerFact):
    """What compose would run: ``config --hash '*'`` per service, from the rendered file."""

    default = dict

    def command(self, app_dir: str, compose: list[str], project: str, file: str, profiles: list[str]) -> str:
        return _cd(app_dir, [*compose_argv(compose, project, file, profiles), "config", "--hash", "*"])

    def process(self, output: list[str]) -> dict[str, str]:
        hashes = {}
        for line in output:
            parts = line.split()
            if len(parts) == 2:
                hashes[parts[0]] = parts[1]
        return hashes


class ComposeContainers(DockerFact):
    """What compose runs: service -> (config-hash label, state) of the project's containers."""

    default = dict

    def command(self, project: str) -> str:
        template = '{{.Label "com.docker.compose.service"}}|{{.Label "com.docker.compose.config-hash"}}|{{.State}}'
        project_label = f"label=com.docker.compose.project={project}"
        return shlex.join(["docker", "ps", "-a", "--filter", project_label, "--filter", SERVICE_NOT_ONE_OFF,
                           "--format", template])  # fmt: skip

    def process(self, output: list[str]) -> dict[str, tuple[str, str]]:
        containers = {}
        for line in output:
            parts = line.strip().split("|")
            if len(parts) == 3 and parts[0]:
                containers[parts[0]] = (parts[1], parts[2])
        return containers


class OllamaModels(DockerFact):
    """Models present in the running Ollama container (``ollama list``); None when no container runs.

    A container that runs but whose ``ollama list`` fails is an error, not "no models": pulling
    every model again would hide the fault and cost gigabytes.
    """

    default = list

    def command(self, project: str, service: str = "ollama") -> str:
        return in_container(project, service, ["ollama", "list"])

    def process(self, output: list[str]) -> list[str] | None:
        if output and output[0].strip() == NO_CONTAINER:
            return None
        return sorted(line.split()[0] for line in output if line.strip() and line.split()[0] != "NAME")


class OllamaLoaded(OllamaModels):
    """Models loaded in memory right now (``ollama ps``); None when no container runs."""

    def command(self, project: str, service: str = "ollama") -> str:
        return in_container(project, service, ["ollama", "ps"])


class DatabaseTables(DockerFact):
    """How many tables the app's database holds outside the system schemas; None when no container runs."""

    def command(self, project: str, service: str = "db") -> str:
        return in_container(project, service, count_tables())

    def process(self, output: list[str]) -> int | None:
        if not output or output[0].strip() == NO_CONTAINER:
            return None
        return int(output[-1].strip())


class AppRelease(DockerFact):
    """The checked-out commit, its image, the image tagged ``current`` and the one the app container runs.

    Values are image IDs, or "" where there is none (no checkout, not built, no container).
    """

    def command(self, app_dir: str, image: str, project: str) -> str:
        src = shlex.quote(f"{app_dir}/src")
        image_q, image_id = shlex.quote(image), 'docker image inspect -f "{{.Id}}"'
        return (
            f'commit=$(git -C {src} rev-parse HEAD 2>/dev/null || true); echo "commit=$commit"; '
            f'echo "built=$([ -n "$commit" ] && {image_id} {image_q}:"$commit" 2>/dev/null)"; '
            f'echo "current=$({image_id} {image_q}:current 2>/dev/null)"; '
            f"{find_container(project, 'app')}; "
            f'echo "running=$([ -n "$c" ] && docker inspect -f "{{{{.Image}}}}" "$c" 2>/dev/null)"'
        )

    def process(self, output: list[str]) -> dict[str, str]:
        values = dict(line.split("=", 1) for line in output if "=" in line)
        return {key: values.get(key, "").strip() for key in ("commit", "built", "current", "running")}
