"""The running app, from the operator's machine, with no shell quoting on the way.

Why: the seed's worst debugging hour was ``docker exec nyxcore-app-1 node -e '…'`` through SSH
(dollar signs lost in three shells), then ``curl`` missing from the lean image, then guessing which
secret the endpoint wanted. Here a script travels as a file and runs with an argument list; a
request goes through an SSH tunnel from this machine, so nothing has to exist inside the image;
the admin secret is read from the host's ``.env`` and never shown.
"""

from __future__ import annotations

import json
import secrets as random
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nyxops.config import Settings
from nyxops.deploy.containers import SERVICE_NOT_ONE_OFF
from nyxops.errors import RemoteError, UsageError
from nyxops.names import scrub_secrets
from nyxops.remote import Host

RUNNERS = {".js": ["node"], ".cjs": ["node"], ".mjs": ["node"], ".sh": ["sh"], ".py": ["python3"]}
"""How a script runs in the container, by its suffix; anything else must be executable itself."""


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


@dataclass
class Answered:
    status: int
    content_type: str
    body: str


def app_container(host: Host, settings: Settings) -> str:
    """The app's running container, found by compose's labels (its name is compose's business)."""
    names = host.run(
        [
            "docker",
            "ps",
            "--filter",
            f"label=com.docker.compose.project={settings.compose_project}",
            "--filter",
            "label=com.docker.compose.service=app",
            "--filter",
            SERVICE_NOT_ONE_OFF,
            "--format",
            "{{.Names}}",
        ]
    ).split()
    if not names:
        raise RemoteError(
            f"no running app container on {host.name} (compose project {settings.compose_project}); "
            "deploy first, or see `nyxops app logs`"
        )
    return names[0]


def exec_script(settings: Settings, script: Path, args: list[str], *, root: bool = False) -> Ran:
    """Copy ``script`` into the app container and run it there with ``args``, exactly as given."""
    if not script.is_file():
        raise UsageError(f"{script}: no such file (app exec copies a local script into the container)")
    runner = RUNNERS.get(script.suffix.lower(), [])
    name = f"nyxops-{random.token_hex(4)}-{script.name}"
    host = Host(settings).open()
    try:
        container = app_container(host, settings)
        staged = f"/tmp/{name}"
        host.conn.put(str(script), staged)
        inside = str(PurePosixPath("/tmp") / name)
        try:
            host.run(["docker", "cp", staged, f"{container}:{inside}"])
            user = ["-u", "0"] if root else []
            command = [*runner, inside] if runner else [inside]
            code, out, err = host.run_status(["docker", "exec", *user, "-w", "/tmp", container, *command, *args])
            return Ran(code, out, err)
        finally:
            host.run_status(["docker", "exec", "-u", "0", container, "rm", "-f", inside])
            host.run_status(["rm", "-f", staged])
    finally:
        host.close()


def admin_secret(host: Host, settings: Settings) -> str:
    """ADMIN_SECRET from the host's ``.env`` (written by the config stage), never printed."""
    path = f"{settings.app_dir}/.env"
    for line in host.run(["cat", path]).splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ADMIN_SECRET":
            return value.strip().strip("'")
    raise RemoteError(f"{path} on {host.name} has no ADMIN_SECRET: run the config stage (NYXCORE_ADMIN_SECRET)")


def request(settings: Settings, method: str, path: str, body: str | None = None) -> Answered:
    """Call the app's own endpoint through an SSH tunnel to its loopback port, with the admin secret."""
    import httpx

    if not path.startswith("/"):
        raise UsageError(f"{path!r}: the path starts with / (for example /api/health)")
    payload = None
    if body is not None:
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise UsageError(f"--json is not valid JSON: {exc}") from None
    host = Host(settings).open()
    try:
        secret = admin_secret(host, settings)
        header = settings.app_admin_header
        value = f"Bearer {secret}" if header.lower() == "authorization" else secret
        with host.tunnel(settings.remote_app_port) as port:
            try:
                response = httpx.request(
                    method.upper(),
                    f"http://127.0.0.1:{port}{path}",
                    json=payload,
                    headers={header: value},
                    timeout=settings.app_request_timeout,
                )
            except httpx.HTTPError as exc:
                raise RemoteError(
                    f"the app on {host.name}:{settings.remote_app_port} did not answer: {exc.__class__.__name__}"
                ) from None
        text = scrub_secrets(response.text, [secret])  # an endpoint that echoes headers must not show it
        return Answered(response.status_code, response.headers.get("content-type", ""), text)
    finally:
        host.close()


def logs(settings: Settings, since: str | None, lines: int) -> Ran:
    """The app container's last log lines (stdout and stderr), as ``docker logs`` keeps them."""
    host = Host(settings).open()
    try:
        container = app_container(host, settings)
        argv = ["docker", "logs", "--tail", str(lines)]
        if since:
            argv += ["--since", since]
        code, out, err = host.run_status([*argv, container])
        return Ran(code, out, err)
    finally:
        host.close()
