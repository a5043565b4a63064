"""The one seam between the release code and a host: run a POSIX shell script, get code and output.

A deploy runs under pyinfra (its connection, inside the operation that needs it); the operator's
commands run over fabric. Both hand the script to ``sh -c`` on the host, quoted once by their own
code; what varies inside a script (names, paths, JSON) is quoted with ``shlex.quote`` where built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from nyxops.errors import RemoteError


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str = ""

    def lines(self, prefix: str) -> list[str]:
        """The stdout lines that start with ``prefix``, the prefix taken off (the scripts' answers)."""
        return [line[len(prefix) :] for line in self.stdout.splitlines() if line.startswith(prefix)]


class Shell(Protocol):
    name: str

    def sh(self, script: str, timeout: float = 300) -> Ran: ...


@dataclass
class FabricShell:
    """Over an open ``remote.Host`` (the operator's commands)."""

    host: Any  # nyxops.remote.Host; not imported here so pyinfra's side never loads fabric
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.host.name

    def sh(self, script: str, timeout: float = 300) -> Ran:
        from invoke.exceptions import CommandTimedOut

        try:
            result = self.host.conn.run(
                f"sh -c {_quote(script)}", hide=True, warn=True, timeout=timeout, in_stream=False
            )
        except CommandTimedOut:
            raise RemoteError(f"a command on {self.name} timed out after {timeout:g}s") from None
        return Ran(int(result.exited), str(result.stdout), str(result.stderr))


@dataclass
class PyinfraShell:
    """Over pyinfra's own connection to the host, inside an operation's ``FunctionCommand`` or a callback."""

    host: Any  # pyinfra.api.host.Host
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.host.name

    def sh(self, script: str, timeout: float = 300) -> Ran:
        from pyinfra.api.command import StringCommand

        ok, output = self.host.run_shell_command(StringCommand(script), _timeout=int(timeout))
        return Ran(0 if ok else 1, "\n".join(output.stdout_lines) + "\n", "\n".join(output.stderr_lines))


def _quote(script: str) -> str:
    import shlex

    return shlex.quote(script)
