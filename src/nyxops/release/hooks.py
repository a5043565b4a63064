"""Hooks: the team's own executables, run on the operator's machine before and after a deploy.

``pre-deploy`` runs once the deploy lock is held; a non-zero exit stops the deploy before anything
changes. ``post-deploy`` runs at the end with the outcome, failed deploys included; its failure is
reported, never turned into a failed deploy. They see the ref, the release and the outcome in
``NYXOPS_HOOK_*``, and none of the app's secrets (``NYXCORE_*``, the API keys) that the deploy holds.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nyxops.errors import NyxopsError, UsageError

SECRET_PREFIXES = ("NYXCORE_", "OPENAI_API_KEY", "NYXOPS_REMOTE_DATABASE_URL", "DATABASE_URL")
TIMEOUT = 300


class HookFailed(NyxopsError):
    """The pre-deploy hook exited non-zero: the deploy stopped before changing anything."""


@dataclass
class HookRan:
    name: str
    code: int
    output: str


def run(folder: Path | None, name: str, values: Mapping[str, str]) -> HookRan | None:
    """Run ``folder/name`` when it exists; None when there is no such hook."""
    if folder is None:
        return None
    path = folder / name
    if not path.exists():
        return None
    if not os.access(path, os.X_OK):
        raise UsageError(f"hook {path} is not executable: chmod +x it, or remove it")
    env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIXES)}
    env.update({f"NYXOPS_HOOK_{key.upper()}": str(value) for key, value in values.items()})
    env["NYXOPS_HOOK"] = name
    try:
        done = subprocess.run(
            [str(path)], env=env, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return HookRan(name, 124, f"timed out after {TIMEOUT} s")
    return HookRan(name, done.returncode, (done.stdout + done.stderr).strip()[-2000:])
