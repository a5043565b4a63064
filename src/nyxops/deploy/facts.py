"""Custom pyinfra facts: what pyinfra itself cannot see (disk usage, compose state, Ollama models).

Each is a small class: ``command`` (quoted with shlex, never by hand), ``requires_command``,
``default`` and ``process(lines)``, as pyinfra's own facts are written.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from pyinfra.api.facts import FactBase


def _cd(app_dir: str, argv: Iterable[str]) -> str:
    return f"cd {shlex.quote(app_dir)} && {shlex.join(list(argv))}"


class DiskUsage(FactBase[int | None]):
    """Percent of the filesystem at ``path`` in use (``df -P``), or None when unknown."""

    def command(self, path: str = "/") -> str:
        return f"df -P {shlex.quote(path)}"

    def process(self, output: list[str]) -> int | None:
        try:
            return int(output[-1].split()[4].rstrip("%"))
        except (IndexError, ValueError):
            return None


class ComposeConfigHashes(FactBase[dict[str, str]]):
    """What compose would run: ``config --hash '*'`` per service, from the rendered file."""

    def requires_command(self, *args: object, **kwargs: object) -> str:
        return "docker"

    def command(self, app_dir: str, compose: list[str], project: str, file: str, profiles: list[str]) -> str:
        argv = [*compose, "-p", project, "-f", file]
        for profile in profiles:
            argv += ["--profile", profile]
        return _cd(app_dir, [*argv, "config", "--hash", "*"])

    def process(self, output: list[str]) -> dict[str, str]:
        hashes = {}
        for line in output:
            parts = line.split()
            if len(parts) == 2:
                hashes[parts[0]] = parts[1]
        return hashes


class ComposeContainers(FactBase[dict[str, tuple[str, str]]]):
    """What compose runs: service -> (config-hash label, state) of the project's containers."""

    default = dict

    def requires_command(self, *args: object, **kwargs: object) -> str:
        return "docker"

    def command(self, project: str) -> str:
        template = '{{.Label "com.docker.compose.service"}}|{{.Label "com.docker.compose.config-hash"}}|{{.State}}'
        return shlex.join(
            ["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={project}", "--format", template]
        )

    def process(self, output: list[str]) -> dict[str, tuple[str, str]]:
        containers = {}
        for line in output:
            parts = line.strip().split("|")
            if len(parts) == 3 and parts[0]:
                containers[parts[0]] = (parts[1], parts[2])
        return containers


class OllamaModels(FactBase[list[str]]):
    """Models present in the Ollama container (``ollama list``), empty when it is not running."""

    default = list

    def requires_command(self, *args: object, **kwargs: object) -> str:
        return "docker"

    def command(self, container: str) -> str:
        return shlex.join(["docker", "exec", container, "ollama", "list"]) + " 2>/dev/null || true"

    def process(self, output: list[str]) -> list[str]:
        return sorted(line.split()[0] for line in output[1:] if line.strip() and line.split()[0] != "NAME")
