"""nyxops' own pyinfra operations and facts, tested as data (pyinfra's habit).

``operations/<op>/<case>.json``: arguments, the facts the host reports, and the commands the
operation must yield (or the noop it must report). ``facts/<Fact>/<case>.json``: arguments, the
command the fact runs, its output, and the value it must make of it. This is how the stages that
need a Docker engine (which these machines cannot run) are tested: at the level of the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api.command import FileUploadCommand, FunctionCommand, StringCommand
from pyinfra.api.exceptions import OperationError
from pyinfra.context import ctx_host

from nyxops.deploy import facts, operations, release_ops

HERE = Path(__file__).parent


class ScriptedHost:
    """Answers ``get_fact`` from a case file and records ``noop``."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.noops: list[str] = []
        self.asked: list[tuple[str, dict[str, Any]]] = []
        self.data: dict[str, Any] = {}
        self.name = "scripted"

    def get_fact(self, cls: type, **kwargs: Any) -> Any:
        self.asked.append((cls.__name__, kwargs))
        answer = self.answers[cls.__name__]
        if isinstance(answer, dict) and "__by_path__" in answer:
            return answer["__by_path__"].get(kwargs.get("path"))
        if cls.__name__ == "ComposeContainers":
            return {k: tuple(v) for k, v in answer.items()}
        return answer

    def noop(self, description: str) -> None:
        self.noops.append(description)


def _render(command: object) -> str:
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    if isinstance(command, FileUploadCommand):
        return f"upload {command.dest}"
    if isinstance(command, FunctionCommand):
        shown = [a for a in command.args if isinstance(a, str)]
        return " ".join([f"function {command.function.__name__}", *shown])
    return str(command)


def _cases(kind: str) -> list[Path]:
    return sorted((HERE / kind).glob("*/*.json"))


@pytest.mark.parametrize("path", _cases("operations"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_operation(path: Path) -> None:
    case = json.loads(path.read_text())
    op = getattr(operations, path.parent.name, None) or getattr(release_ops, path.parent.name)
    scripted = ScriptedHost(case.get("facts", {}))
    with ctx_host.use(scripted):
        if "error" in case:
            with pytest.raises(OperationError) as raised:
                list(op._inner(**case["args"]))
            assert case["error"] in str(raised.value)
            return
        commands = [_render(c) for c in op._inner(**case["args"])]
    assert commands == case.get("commands", [])
    assert scripted.noops == ([case["noop"]] if "noop" in case else [])
    for secret in case.get("never_in_commands", []):
        assert all(secret not in c for c in commands)


@pytest.mark.parametrize("path", _cases("facts"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fact(path: Path) -> None:
    case = json.loads(path.read_text())
    fact = getattr(facts, path.parent.name)()
    assert fact.command(**case.get("args", {})) == case["command"]
    value = fact.process(case["output"])
    expected = case["fact"]
    if path.parent.name == "ComposeContainers":
        expected = {k: tuple(v) for k, v in expected.items()}
    assert value == expected


def test_every_operation_and_fact_has_cases() -> None:
    ops = {"secret_file", "compose_file", "prune_if_full", "compose_up", "wait_healthy", "ollama_pull", "ollama_warm",
           "host_fits", "app_image", "app_switched", "app_schema", "caddyfile"}  # fmt: skip
    assert ops <= {p.parent.name for p in _cases("operations")}
    known = {"DiskUsage", "ComposeConfigHashes", "ComposeContainers", "OllamaModels", "OllamaLoaded", "HostResources",
             "AppRelease", "DatabaseTables"}  # fmt: skip
    assert known <= {p.parent.name for p in _cases("facts")}
