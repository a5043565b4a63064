"""SSH to the host with fabric: commands as argument lists, files copied in, and tunnels.

Host keys are checked (paramiko's RejectPolicy over the system's and the configured known_hosts):
fabric's default would add any key it is shown. SQL never travels through a remote shell; the
migration runner and the checks reach PostgreSQL and Ollama through a tunnel to their loopback ports.
"""

from __future__ import annotations

import shlex
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import paramiko
from fabric import Connection
from invoke.exceptions import CommandTimedOut, ThreadException, UnexpectedExit

from nyxops.config import Settings
from nyxops.errors import RemoteError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, read from /proc (Linux) without connecting.

    A test connection would open a channel to the remote service, which may legitimately be down
    (the check that uses it reports that); elsewhere than Linux, connect all the same.
    """
    table = Path("/proc/net/tcp")
    if not table.exists():
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0
    wanted = f"0100007F:{port:04X}"
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1] == wanted and fields[3] == "0A":
            return True
    return False


def wait_for_port(port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _listening(port):
            return
        time.sleep(0.05)
    raise RemoteError(f"the SSH tunnel on local port {port} did not start listening")


class Host:
    """One SSH connection to the configured host."""

    def __init__(self, settings: Settings) -> None:
        if not settings.host:
            raise RemoteError("no host configured: set NYXOPS_HOST")
        self.name = settings.host
        kwargs: dict[str, object] = {"look_for_keys": settings.ssh_key is None, "allow_agent": settings.ssh_key is None}
        if settings.ssh_key is not None:
            kwargs["key_filename"] = str(settings.ssh_key)
        self.conn = Connection(
            settings.host, user=settings.ssh_user, port=settings.ssh_port, connect_kwargs=kwargs, connect_timeout=10
        )
        self.conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        if settings.ssh_known_hosts is not None:
            self.conn.client.load_host_keys(str(settings.ssh_known_hosts))

    def open(self) -> Host:
        where = f"{self.conn.user}@{self.conn.host}:{self.conn.port}"
        try:
            self.conn.open()
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise RemoteError(
                    f"{where}: the host's key is not in known_hosts, so it cannot be trusted. Check its "
                    "fingerprint with the provider's console, then add it (ssh-keyscan) to known_hosts."
                ) from None
            if isinstance(exc, paramiko.AuthenticationException):
                raise RemoteError(
                    f"{where}: SSH key refused ({exc}); check NYXOPS_SSH_KEY and NYXOPS_SSH_USER"
                ) from None
            raise RemoteError(f"{where}: SSH failed: {exc}") from None
        except OSError as exc:
            raise RemoteError(f"{where}: unreachable ({exc.strerror or exc}); check NYXOPS_HOST and the port") from None
        return self

    def close(self) -> None:
        self.conn.close()

    def run(self, argv: list[str], timeout: float = 60) -> str:
        """Run an argument list (quoted here, once, by shlex); its stdout, or RemoteError with stderr."""
        command = shlex.join(argv)
        try:
            result = self.conn.run(command, hide=True, timeout=timeout, in_stream=False)
        except UnexpectedExit as exc:
            stderr = exc.result.stderr.strip().splitlines()
            raise RemoteError(
                f"{argv[0]} failed on {self.name} ({exc.result.exited}): {' '.join(stderr[-3:])}"
            ) from None
        except CommandTimedOut:
            raise RemoteError(f"{argv[0]} on {self.name} timed out after {timeout}s") from None
        return str(result.stdout)

    def run_status(self, argv: list[str], timeout: float = 300) -> tuple[int, str, str]:
        """Run an argument list and return its exit code, stdout and stderr as they are (no error on non-zero)."""
        try:
            result = self.conn.run(shlex.join(argv), hide=True, timeout=timeout, in_stream=False, warn=True)
        except CommandTimedOut:
            raise RemoteError(f"{argv[0]} on {self.name} timed out after {timeout}s") from None
        return int(result.exited), str(result.stdout), str(result.stderr)

    def copy_and_exec(self, local: Path, container: str, argv: list[str], workdir: str = "/tmp") -> str:
        """A script copied into a container and run with an argument list, never a quoted one-liner."""
        remote = f"/tmp/nyxops-{local.name}"
        self.conn.put(str(local), remote)
        try:
            self.run(["docker", "cp", remote, f"{container}:{workdir}/{local.name}"])
            return self.run(["docker", "exec", "-w", workdir, container, *argv])
        finally:
            self.run(["rm", "-f", remote])

    @contextmanager
    def tunnel(self, remote_port: int, remote_host: str = "127.0.0.1") -> Iterator[int]:
        """A local port forwarded to ``remote_host:remote_port`` as the host sees it."""
        port = free_port()
        try:
            with self.conn.forward_local(
                port, remote_port=remote_port, remote_host=remote_host, local_host="127.0.0.1"
            ):
                wait_for_port(port)
                yield port
        except ThreadException as exc:
            # A connection through the tunnel to a service that is down: whoever connected saw it fail
            # and reported it; the forwarder's own copy of that failure is not a second error.
            if not all(isinstance(e.value, paramiko.ChannelException) for e in exc.exceptions):
                raise RemoteError(f"SSH tunnel to {self.name}:{remote_port} failed: {exc}") from None


def through_tunnel(url: str, port: int) -> str:
    """The same database URL, pointed at a local tunnel port."""
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{port}"))
