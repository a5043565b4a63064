"""The SSH test host (a debootstrap Debian 12 in a chroot, sshd on 127.0.0.2:2222) and pyinfra runs against it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO

BUILD = REPO / "tests" / "host" / "build.sh"
CACHE = Path(os.environ.get("NYXOPS_HOST_CACHE", REPO / "tests" / "host" / "cache"))
SECRETS = {
    "NYXCORE_POSTGRES_PASSWORD": "pg-Pa55word$with#chars",
    "NYXCORE_AUTH_SECRET": "auth-secret-0f9e8d",
    "NYXCORE_ADMIN_SECRET": "admin-secret-7a6b5c",
    "NYXCORE_OPENAI_API_KEY": "sk-test-key-1234567890",
}


@dataclass
class SshTestHost:
    address: str
    port: int
    key: Path
    known_hosts: Path
    root: Path

    def ssh(self, command: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["ssh", "-i", str(self.key), "-p", str(self.port), "-o", f"UserKnownHostsFile={self.known_hosts}",
             "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{self.address}", command],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"{command}: {proc.stderr}")
        return proc.stdout

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for ``pyinfra inventory.py deploys/prod.py`` against this host."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("NYXOPS_", "NYXCORE_"))}
        return {
            **base,
            **SECRETS,
            "NYXOPS_HOST": self.address,
            "NYXOPS_SSH_PORT": str(self.port),
            "NYXOPS_SSH_USER": "root",
            "NYXOPS_SSH_KEY": str(self.key),
            "NYXOPS_SSH_KNOWN_HOSTS": str(self.known_hosts),
            "NYXOPS_DOCKER_SOURCE": "debian",  # Docker's apt repository is not reachable from here
            "NYXOPS_FIREWALL_APPLY": "false",  # the chroot shares this machine's kernel: never load rules into it
            **extra,
        }

    def state(self) -> str:
        """Fingerprint of what the deploy manages on the host."""
        return self.ssh(
            "find /opt/nyxcore /etc/nftables.conf /etc/apt/apt.conf.d/20auto-upgrades -xdev -printf '%p %m %s\\n'"
            " 2>/dev/null | sort; sha256sum /etc/nftables.conf /opt/nyxcore/.env /opt/nyxcore/*.yml 2>/dev/null;"
            " id deploy 2>/dev/null; dpkg-query -W -f '${Package}\\n' docker.io docker-compose 2>/dev/null",
            check=False,
        )


@pytest.fixture(scope="session")
def test_host() -> Iterator[SshTestHost]:
    if os.geteuid() != 0:
        pytest.fail("the SSH test host needs root (debootstrap, chroot); CI runs as root")
    started = subprocess.run(
        ["bash", str(BUILD), "start"], capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL
    )
    if started.returncode != 0:
        pytest.fail(f"test host did not start:\n{started.stdout}\n{started.stderr}")
    host = SshTestHost("127.0.0.2", 2222, CACHE / "keys" / "id_ed25519", CACHE / "keys" / "known_hosts", CACHE / "live")
    try:
        yield host
    finally:
        subprocess.run(["bash", str(BUILD), "stop"], timeout=120, check=False, stdin=subprocess.DEVNULL)


@dataclass
class Run:
    code: int
    output: str
    seconds: float

    def results(self) -> dict[str, tuple[str, str, str]]:
        """pyinfra's Results table: operation -> (success, error, no change)."""
        rows = {}
        for line in self.output.splitlines():
            match = re.match(r"^\s{4}(\S.*?)\s{2,}1\s+(\S+)\s+(\S+)\s+(\S+)\s*$", line)
            if match and not match.group(1).startswith("Operation"):
                rows[match.group(1)] = (match.group(2), match.group(3), match.group(4))
        return rows


def pyinfra(env: dict[str, str], *args: str, inventory: str = "inventory.py", timeout: float = 900) -> Run:
    started = time.monotonic()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "pyinfra"), *([] if "--dry" in args else ["-y"]), inventory, "deploys/prod.py",
         *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return Run(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)
