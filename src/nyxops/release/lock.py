"""One deploy at a time per host: a lock file holding who, from where, when, which ref and why.

The lock is taken with ``ln`` of a file already written (atomic: two deploys can never both see
themselves as the holder, and a reader never sees a half-written holder). It is released by its
holder only, matched by id; a lock left by a killed deploy stays, is reported with its age, and
is released by hand (``nyxops lock release``), on purpose, never by a timeout.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import shlex
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from nyxops.errors import DeployLocked
from nyxops.release.layout import Layout
from nyxops.release.shell import Shell

STALE_AFTER = 3600
"""A lock older than this is most likely left by a deploy that was killed; the message says so."""


def operator_name() -> str:
    """Who deploys: ``NYXOPS_OPERATOR``, else git's user.name, else the login name."""
    named = os.environ.get("NYXOPS_OPERATOR", "").strip()
    if named:
        return named
    try:
        import subprocess

        done = subprocess.run(["git", "config", "user.name"], capture_output=True, text=True, timeout=5)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return getpass.getuser()


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Holder:
    command: str
    ref: str = ""
    message: str = ""
    who: str = field(default_factory=operator_name)
    where: str = field(default_factory=socket.gethostname)
    at: str = field(default_factory=now_utc)
    id: str = field(default_factory=lambda: secrets.token_hex(8))

    def age(self) -> float:
        try:
            return time.time() - datetime.strptime(self.at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            return 0.0

    def describe(self) -> str:
        what = self.command + (f" of {self.ref}" if self.ref else "") + (f" ({self.message!r})" if self.message else "")
        return f"{self.who} on {self.where}, {what}, since {self.at} ({_ago(self.age())})"

    @classmethod
    def parse(cls, text: str) -> Holder:
        try:
            raw = json.loads(text)
            return cls(**{k: str(raw.get(k, "")) for k in ("command", "ref", "message", "who", "where", "at", "id")})
        except (ValueError, TypeError, AttributeError):
            return cls(command="unknown (the lock file is not nyxops')", who="?", where="?", at="?", id="")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _held_message(host: str, holder: Holder, waited: float) -> str:
    stale = holder.age() > STALE_AFTER
    advice = (
        "It is old enough to be left by a deploy that was killed: if no deploy is running, release it with "
        "`nyxops lock release`."
        if stale
        else "Wait for it (--lock-wait SECONDS; pyinfra: --data lock_wait=SECONDS), or, if that deploy is gone "
        "(killed), release the lock with `nyxops lock release`."
    )
    waited_text = f" after waiting {waited:.0f} s" if waited else ""
    return f"the deploy lock on {host} is held{waited_text}: {holder.describe()}. Nothing was changed. {advice}"


def status(shell: Shell, layout: Layout) -> Holder | None:
    ran = shell.sh(f"cat {shlex.quote(layout.lock)} 2>/dev/null || true", timeout=30)
    return Holder.parse(ran.stdout) if ran.stdout.strip() else None


def acquire(shell: Shell, layout: Layout, holder: Holder, wait: float = 0, poll: float = 2.0) -> None:
    """Take the lock, or raise DeployLocked naming its holder (after waiting up to ``wait`` seconds)."""
    state, lock = shlex.quote(layout.state), shlex.quote(layout.lock)
    line = shlex.quote(json.dumps(asdict(holder)))
    script = (
        f"{layout.make_state()} && tmp=$(mktemp {state}/lock.XXXXXX) && printf '%s\\n' {line} >\"$tmp\""
        f' && if ln "$tmp" {lock} 2>/dev/null; then rm -f "$tmp"; echo nyxops-lock:acquired;'
        f' else rm -f "$tmp"; printf "nyxops-lock:held "; cat {lock} 2>/dev/null || echo; fi'
    )
    started = time.monotonic()
    while True:
        ran = shell.sh(script, timeout=60)
        if ran.lines("nyxops-lock:acquired"):
            return
        held = ran.lines("nyxops-lock:held ")
        if not held:
            raise DeployLocked(f"the deploy lock on {shell.name} could not be taken: {ran.stderr.strip()[-300:]}")
        waited = time.monotonic() - started
        if waited + poll > wait:
            raise DeployLocked(_held_message(shell.name, Holder.parse(held[0]), waited if wait else 0))
        time.sleep(poll)


def release(shell: Shell, layout: Layout, lock_id: str | None = None) -> Holder | None:
    """Remove the lock: ours (``lock_id`` matches) or, deliberately, whoever's. Returns the holder removed."""
    held = status(shell, layout)
    if held is None or (lock_id is not None and held.id != lock_id):
        return None
    lock = shlex.quote(layout.lock)
    match = shlex.quote(f'"id": "{held.id}"')
    shell.sh(f"grep -qF {match} {lock} 2>/dev/null && rm -f {lock}; true", timeout=30)
    return held
