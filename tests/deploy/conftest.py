"""The test host (a Debian 12 VM in its own namespaces, tests/host/host.sh) and pyinfra runs against it.

The host's root filesystems are built before the tests (``host.sh rootfs``, from the Debian
mirror, cached in tests/host/cache); a fresh copy is booted once per session and reached over
real SSH at 10.231.77.2 through a veth pair, and runs the real Docker engine the host stage
installs. Every probe goes to that address or to loopback, nothing else.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes import FakeOpenAI
from tests.helpers import REPO

HOST_SH = REPO / "tests" / "host" / "host.sh"
CACHE = Path(os.environ.get("NYXOPS_HOST_CACHE", REPO / "tests" / "host" / "cache"))
ADDRESS = "10.231.77.2"
SECRETS = {
    "NYXCORE_POSTGRES_PASSWORD": "pg-Pa55word$with#chars",
    "NYXCORE_AUTH_SECRET": "auth-secret-0f9e8d",
    "NYXCORE_ADMIN_SECRET": "admin-secret-7a6b5c",
    "NYXCORE_OPENAI_API_KEY": "sk-test-key-1234567890",
}
ALL_STAGES = "host,config,ollama,release,verify"
DOMAIN = "nyxcore.test"
LOCK_OP = "lock | Deploy lock held for this deploy (pre-deploy hook after it)"
AUDIT_OP = "audit | Deploy recorded in the host's audit log, lock released"
VERIFY_OP = "verify | Post-deploy verification (nyxops verify)"


def host_sh(*args: str, timeout: float = 300) -> str:
    env = {**os.environ, "NYXOPS_HOST_PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(HOST_SH), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    if proc.returncode != 0:
        raise AssertionError(f"host.sh {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@dataclass
class LiveHost:
    address: str
    port: int
    key: Path
    known_hosts: Path
    root: Path
    openai_url: str = ""

    def ssh_argv(self, command: str) -> list[str]:
        return ["ssh", "-i", str(self.key), "-p", str(self.port), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{self.address}", command]  # fmt: skip

    def ssh(self, command: str, check: bool = True, timeout: float = 180) -> str:
        proc = subprocess.run(
            self.ssh_argv(command), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{command}: {proc.stderr}")
        return proc.stdout

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for ``pyinfra inventory.py deploys/prod.py`` against this host."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("NYXOPS_", "NYXCORE_", "OPENAI_"))}
        return {
            **base,
            **SECRETS,
            "NYXOPS_HOST": self.address,
            "NYXOPS_SSH_PORT": str(self.port),
            "NYXOPS_SSH_USER": "root",
            "NYXOPS_SSH_KEY": str(self.key),
            "NYXOPS_SSH_KNOWN_HOSTS": str(self.known_hosts),
            "NYXOPS_DOCKER_SOURCE": "debian",  # Docker's apt repository is not reachable from here
            "NYXOPS_GIT_REPO": "file:///srv/git/nyxcore.git",
            "NYXOPS_OLLAMA_CPUS": "1.5",  # this machine, and so the host, has 2 CPUs
            "NYXOPS_VERIFY_WAIT": "60",
            "NYXOPS_DOMAIN": DOMAIN,
            "NYXOPS_TLS": "internal",  # Caddy's own CA: no ACME from here
            "NYXOPS_PUBLIC_ADDRESS": self.address,  # the domain resolves to the host's address, as DNS would
            "NYXOPS_HEALTH_TIMEOUT": "30",
            "NYXOPS_OPERATOR": "test-operator",
            **({"OPENAI_BASE_URL": f"{self.openai_url}/v1"} if self.openai_url else {}),
            **extra,
        }

    def operator_env(self) -> dict[str, str]:
        """What an operator sets to run ``nyxops`` against the host through tunnels (as the deploy's child does)."""
        from nyxops.deploy.hostdata import load_host_data
        from nyxops.deploy.operator import child_env
        from nyxops.deploy.secrets import load_secrets

        env = self.env()
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            data = load_host_data()
            ssh = {"hostname": self.address, "port": self.port, "user": "root", "key": str(self.key),
                   "known_hosts": str(self.known_hosts)}  # fmt: skip
            return child_env(ssh, data, load_secrets(data))
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def state(self) -> str:
        """Fingerprint of what the deploy manages on the host: files, packages, containers, images.

        nyxops' own records (audit log, releases, lock) and the backups are left out: every deploy writes them.
        """
        return self.ssh(
            "find /opt/nyxcore /etc/nftables.conf /etc/apt/apt.conf.d/20auto-upgrades -xdev \\( -path /opt/nyxcore/src"
            " -o -path /opt/nyxcore/.nyxops -o -path /opt/nyxcore/backups \\) -prune -o -printf '%p %m %s\\n' 2>/dev/null"
            " | sort; sha256sum /etc/nftables.conf /opt/nyxcore/.env"
            " /opt/nyxcore/*.yml 2>/dev/null; id deploy 2>/dev/null; dpkg-query -W -f '${Package}\\n' docker.io"
            " docker-compose 2>/dev/null; docker ps -a --format '{{.ID}} {{.Image}} {{.State}}' 2>/dev/null | sort;"
            " docker images -q 2>/dev/null | sort",
            check=False,
        )

    def container(self, service: str) -> str:
        return self.ssh(
            "docker ps -q --filter label=com.docker.compose.project=nyxcore"
            f" --filter label=com.docker.compose.service={service}"
        ).strip()

    def psql(self, query: str) -> str:
        """SQL sent on stdin to psql in the database container: no shell quoting on the way."""
        psql = f"docker exec -i {self.container('db')} psql -XtAq -v ON_ERROR_STOP=1 -U nyxcore -d nyxcore"
        proc = subprocess.run(self.ssh_argv(psql), input=query, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise AssertionError(f"{query}: {proc.stderr}")
        return proc.stdout.strip()

    def probe(self, port: int, timeout: float = 2.0) -> str:
        """From this machine's namespace to the host's address: open, refused (RST) or dropped (no answer)."""
        with socket.socket() as sock:
            sock.settimeout(timeout)
            code = sock.connect_ex((self.address, port))
        if code == 0:
            return "open"
        return "refused" if code == errno.ECONNREFUSED else "dropped"


@pytest.fixture(scope="session")
def test_host() -> Iterator[LiveHost]:
    if os.geteuid() != 0:
        pytest.fail("the test host needs root (debootstrap, namespaces, mounts); CI runs as root")
    host_sh("up", timeout=120)
    with FakeOpenAI() as openai:
        host = LiveHost(ADDRESS, 22, CACHE / "keys" / "id_ed25519", CACHE / "keys" / "known_hosts", CACHE / "live",
                        openai_url=openai.url)  # fmt: skip
        try:
            yield host
        finally:
            host_sh("down", timeout=180)
            _assert_nothing_left()


def _assert_nothing_left() -> None:
    """A torn-down host leaves no namespace, no mount and no live copy behind."""
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "nyxops-host" not in namespaces.split(), namespaces
    live = str((CACHE / "live").resolve())
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    assert not [m for m in mounts if m == live or m.startswith(live + "/")]
    assert not (CACHE / "live").exists()


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

    def changed(self) -> list[str]:
        return [name for name, row in self.results().items() if row[0] == "1"]


def pyinfra(env: dict[str, str], *args: str, inventory: str = "inventory.py", timeout: float = 900) -> Run:
    started = time.monotonic()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "pyinfra"), *([] if "--dry" in args else ["-y"]), inventory, "deploys/prod.py",
         *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return Run(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)


@pytest.fixture(scope="session")
def provisioned(test_host: LiveHost) -> Run:
    """The host stage on a fresh host: docker.io installed for real, then the stack's images and the app's repo."""
    run = pyinfra(test_host.env(NYXOPS_STAGES="host"))
    assert run.code == 0, run.output[-4000:]
    host_sh("images", timeout=600)
    host_sh("repo")
    return run


@pytest.fixture(scope="session")
def deployed(provisioned: Run, test_host: LiveHost) -> Run:
    """All five stages, as a first deploy runs them."""
    run = pyinfra(test_host.env(NYXOPS_STAGES=ALL_STAGES))
    assert run.code == 0, run.output[-6000:]
    return run
