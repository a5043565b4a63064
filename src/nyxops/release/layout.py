"""Where a release's state lives on the host, in one place: the lock, the logs, the kept releases."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    app_dir: str
    project: str
    backup_dir: str = ""

    @property
    def state(self) -> str:
        """nyxops' own folder on the host (mode 0700): never inside the checkout, never in the image."""
        return f"{self.app_dir}/.nyxops"

    def make_state(self) -> str:
        """Shell that creates the state folder, mode 0700, as every writer of it does first."""
        return f"mkdir -p {shlex.quote(self.state)} && chmod 700 {shlex.quote(self.state)}"

    @property
    def lock(self) -> str:
        return f"{self.state}/deploy.lock"

    @property
    def audit(self) -> str:
        return f"{self.state}/audit.jsonl"

    @property
    def releases(self) -> str:
        return f"{self.state}/releases.jsonl"

    @property
    def backups(self) -> str:
        return self.backup_dir or f"{self.app_dir}/backups"
