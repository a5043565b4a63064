"""One deploy as the host sees it: the lock held from the first change to the last, and the audit lines.

pyinfra has no ``finally`` for a deploy, so the end is reached two ways: the last operation
(``finish`` with outcome ``ok``), or pyinfra's error callback on the first operation that fails
(outcome ``failed``, the lock released, the post-deploy hook told). A deploy killed outright
leaves its lock; the next one reports it with its age (``nyxops lock release`` ends it).
"""

from __future__ import annotations

import functools
import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyinfra.api.state import BaseStateCallback

from nyxops.deploy.hostdata import HostData
from nyxops.deploy.secrets import load_secrets
from nyxops.errors import DeployLocked, NyxopsError
from nyxops.release import audit, hooks, lock
from nyxops.release.layout import Layout
from nyxops.release.shell import PyinfraShell, Shell

log = logging.getLogger("nyxops.deploy")
BOOKKEEPING = ("lock", "audit")
"""The session's own operations, not stages of the deploy."""


@dataclass
class StageTimes:
    started: float
    ended: float = 0.0
    failed: str = ""


@dataclass
class Session:
    data: HostData
    hooks_dir: Path | None
    holder: lock.Holder = field(init=False)
    started: float = field(default_factory=time.time)
    stages: dict[str, StageTimes] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    planned: dict[str, list[str] | None] = field(default_factory=dict)
    """Pending migrations per folder, read once when this deploy's plan is made."""
    error: str = ""
    outcome: str = ""
    finished: bool = False

    def __post_init__(self) -> None:
        self.holder = lock.Holder("deploy", ref=self.data.git_ref, message=self.data.deploy_message)

    @property
    def layout(self) -> Layout:
        return Layout(self.data.app_dir, self.data.compose_project, self.data.backup_dir)

    def secrets(self) -> list[str]:
        return list(load_secrets(self.data).values())

    def begin(self, shell: Shell, say: Callable[[str], None] = print) -> None:
        """Take the lock (or fail naming its holder), then run the pre-deploy hook."""
        try:
            lock.acquire(shell, self.layout, self.holder, wait=self.data.lock_wait)
        except DeployLocked as exc:
            self.outcome, self.error = "refused", str(exc)
            raise
        ran = hooks.run(self.hooks_dir, "pre-deploy", {"ref": self.data.git_ref, "host": shell.name,
                                                      "operator": self.holder.who})  # fmt: skip
        if ran is not None:
            say(f"nyxops: pre-deploy hook exited {ran.code}" + (f": {ran.output}" if ran.output else ""))
            if ran.code != 0:
                self.error = f"pre-deploy hook exited {ran.code}: {ran.output[-500:]}"
                raise hooks.HookFailed(f"the pre-deploy hook stopped the deploy (exit {ran.code}): {ran.output[-500:]}")

    def finish(self, shell: Shell, outcome: str, failed_at: str = "", say: Callable[[str], None] = print) -> None:
        """Audit lines (each stage, then the deploy), the lock released, the post-deploy hook told."""
        if self.finished:
            return
        self.finished = True
        self.outcome = self.outcome or outcome  # "refused" (the lock was held) stays what it was
        commit = self.notes.get("commit", "")  # only a release this deploy switched to
        checked_out = "" if self.outcome == "refused" else _checked_out(shell, self.data.app_dir)
        records: list[dict[str, Any]] = []
        stages = {name: times for name, times in self.stages.items() if name not in BOOKKEEPING}
        for name, times in stages.items():
            records.append({"event": "stage", "stage": name, "deploy": self.holder.id,
                            "outcome": "failed" if times.failed else "ok",
                            "duration_s": round((times.ended or time.time()) - times.started, 1),
                            **({"failed_at": times.failed} if times.failed else {})})  # fmt: skip
        records.append(
            {
                "event": "deploy",
                "deploy": self.holder.id,
                "who": self.holder.who,
                "from": self.holder.where,
                "ref": self.data.git_ref,
                "commit": commit,
                "checked_out": checked_out,
                "image": f"{self.data.app_image}:{commit}" if commit else "",
                "message": self.data.deploy_message,
                "stages": list(stages),
                "migrations": self.notes.get("migrations", []),
                "backup": self.notes.get("backup"),
                "verify": self.notes.get("verify", "not run"),
                "duration_s": round(time.time() - self.started, 1),
                "outcome": self.outcome,
                **({"failed_at": failed_at} if failed_at else {}),
                **({"error": self.error[-500:]} if self.error else {}),
            }
        )
        try:
            audit.append(shell, self.layout, records, self.secrets())
        except Exception as exc:  # the lock must still be released
            log.error("the audit log was not written: %s", exc)
        if self.outcome != "refused":
            lock.release(shell, self.layout, self.holder.id)
        self._post_hook(shell, self.outcome, commit, say)

    def _post_hook(self, shell: Shell, outcome: str, commit: str, say: Callable[[str], None]) -> None:
        try:
            ran = hooks.run(self.hooks_dir, "post-deploy", {"ref": self.data.git_ref, "release": commit,
                                                           "outcome": outcome, "host": shell.name,
                                                           "operator": self.holder.who})  # fmt: skip
        except Exception as exc:
            log.error("post-deploy hook: %s", exc)
            return
        if ran is not None:
            say(f"nyxops: post-deploy hook exited {ran.code}" + (f": {ran.output}" if ran.output else ""))


def _checked_out(shell: Shell, app_dir: str) -> str:
    ran = shell.sh(f"git -C {shlex.quote(app_dir + '/src')} rev-parse HEAD 2>/dev/null || true", timeout=30)
    return ran.stdout.strip()


class SessionCallback(BaseStateCallback):
    """Times each stage from pyinfra's own operation events, and ends the session on the first failure."""

    def __init__(self, session: Session, host_name: str) -> None:
        self.session, self.host_name = session, host_name

    @staticmethod
    def _stage(state: Any, op_hash: str) -> tuple[str, str]:
        names = sorted(state.get_op_meta(op_hash).names)
        name = names[0] if names else "?"
        return (name.split(" | ", 1)[0] if " | " in name else "deploy"), name

    def operation_host_start(self, state: Any, host: Any, op_hash: str) -> None:  # type: ignore[override]
        if host.name != self.host_name:  # one session per host: pyinfra tells every handler of every host
            return
        stage, _ = self._stage(state, op_hash)
        self.session.stages.setdefault(stage, StageTimes(time.time()))

    def operation_host_success(self, state: Any, host: Any, op_hash: str, retry_count: int = 0) -> None:  # type: ignore[override]
        if host.name != self.host_name:
            return
        stage, _ = self._stage(state, op_hash)
        times = self.session.stages.setdefault(stage, StageTimes(time.time()))
        times.ended = time.time()

    def operation_host_error(self, state: Any, host: Any, op_hash: str, retry_count: int = 0,  # type: ignore[override]
                             max_retries: int = 0) -> None:  # fmt: skip
        if host.name != self.host_name or state.get_op_data_for_host(host, op_hash).global_arguments.get(
            "_ignore_errors"
        ):
            return
        stage, name = self._stage(state, op_hash)
        times = self.session.stages.setdefault(stage, StageTimes(time.time()))
        times.ended, times.failed = time.time(), name
        self.session.finish(PyinfraShell(host), "failed", failed_at=name)


CURRENT: dict[str, Session] = {}
"""The running deploy's session, by host name: the operations note into it what the audit line says."""


def note(host_name: str, key: str, value: Any) -> None:
    """Record a fact of this deploy for its audit line (nothing when no session runs: a bare operation test)."""
    if host_name in CURRENT:
        CURRENT[host_name].notes[key] = value


def reported(function: Callable[..., None]) -> Callable[..., bool]:
    """A ``FunctionCommand`` body whose expected failure is the operator's message, not a traceback.

    pyinfra prints a traceback for any exception a Python step raises; a NyxopsError is already
    written for the operator, so it is shown as it is and the step returns False (pyinfra's failure).
    """

    @functools.wraps(function)  # getfullargspec does not follow __wrapped__: pyinfra still sees state, host
    def step(state: Any, host: Any, *args: Any, **kwargs: Any) -> bool:
        try:
            function(state, host, *args, **kwargs)
        except NyxopsError as exc:
            if host.name in CURRENT and not CURRENT[host.name].error:
                CURRENT[host.name].error = str(exc)  # for the audit line (secrets scrubbed there)
            for text in str(exc).splitlines():
                host.log_styled(f"nyxops: {text}", fg="red", log_func=log.error)
            return False
        return True

    return step
