"""Work the deploy does on the operator's machine, in a child interpreter.

pyinfra runs under gevent: a blocking libpq call inside it would freeze the very loop that
forwards the SSH tunnel. So database work (migrations, checks) runs as ``python -m nyxops …`` in a
child process, which opens its own tunnel with fabric. Secrets go to it in its environment only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nyxops.deploy.hostdata import HostData
from nyxops.errors import NyxopsError
from nyxops.migrate.states import LEFT_BEHIND


class StageFailed(NyxopsError):
    """A deploy step run on the operator's side failed; its output says why."""


def child_env(ssh: Mapping[str, Any], data: HostData, secrets: Mapping[str, str]) -> dict[str, str]:
    """Environment for ``python -m nyxops`` reaching the host's database and services through tunnels."""
    password = quote(secrets["POSTGRES_PASSWORD"], safe="")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NYXOPS_", "NYXCORE_"))}
    env.update(
        {
            "NYXOPS_HOST": str(ssh["hostname"]),
            "NYXOPS_SSH_PORT": str(ssh.get("port") or 22),
            "NYXOPS_SSH_USER": str(ssh.get("user") or "root"),
            "NYXOPS_REMOTE_DB_PORT": str(data.db_port),
            "NYXOPS_REMOTE_OLLAMA_PORT": str(data.ollama_port),
            "NYXOPS_REMOTE_APP_PORT": str(data.app_port),
            "NYXOPS_REMOTE_DATABASE_URL": f"postgresql://nyxcore:{password}@127.0.0.1:5432/nyxcore",
            "NYXOPS_APP_DIR": data.app_dir,
            "NYXOPS_COMPOSE_PROJECT": data.compose_project,
            "NYXOPS_DISK_THRESHOLD": str(data.disk_threshold),
            "NYXOPS_BACKUP_DIR": data.backup_dir,
            "NYXOPS_BACKUP_KEEP": str(data.backup_keep),
            "NYXOPS_KEEP_RELEASES": str(data.keep_releases),
            "NYXOPS_HEALTH_TIMEOUT": str(data.health_timeout),
            "NYXOPS_HEALTH_PATH": data.health_path,
            "NYXOPS_PUBLIC_URL": f"https://{data.domain}",
            "NYXOPS_PUBLIC_TLS": data.tls,
            "NYXOPS_OLLAMA_MEMORY": data.ollama_memory,
            "NYXOPS_OLLAMA_MODELS": json.dumps([m.model_dump() for m in data.ollama_models]),
            "NYXOPS_OLLAMA_CONTEXT_LENGTH": str(data.ollama_context_length),
            "NYXOPS_OLLAMA_NUM_PARALLEL": str(data.ollama_num_parallel),
            "NYXOPS_OLLAMA_RUNNER_OVERHEAD_MB": str(data.ollama_runner_overhead_mb),
            "OPENAI_API_KEY": secrets["OPENAI_API_KEY"],
        }
    )
    if ssh.get("key"):
        env["NYXOPS_SSH_KEY"] = str(ssh["key"])
    if ssh.get("known_hosts"):
        env["NYXOPS_SSH_KNOWN_HOSTS"] = str(ssh["known_hosts"])
    if data.public_address:
        env["NYXOPS_PUBLIC_ADDRESS"] = data.public_address
    if data.public_ca:
        env["NYXOPS_PUBLIC_CA"] = str(data.public_ca)
    if data.secrets_file:
        env["NYXOPS_SECRETS_FILE"] = str(data.secrets_file)
    return env


def nyxops(
    args: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 1800
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nyxops", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def pending_migrations(env: Mapping[str, str], migrations: Path, cwd: Path) -> list[str] | None:
    """Names of the files not yet applied on the host (read-only, through a tunnel).

    None when the database cannot be read yet (a first deploy plans before ``db`` exists): the
    runner then decides when it runs, after the database is up.
    """
    done = nyxops(["migrate", "status", "--tunnel", "--json", "--dir", str(migrations)], env, cwd, timeout=120)
    if done.returncode not in (0, 1) or not done.stdout.strip():
        return None
    states = json.loads(done.stdout)
    return [s["name"] for s in states if s["state"] not in ("applied", *LEFT_BEHIND)]


def protect_current(env: Mapping[str, str], cwd: Path) -> bool:
    """Whether the protect trigger is installed, protecting what the settings protect (through a tunnel)."""
    done = nyxops(["protect", "status", "--tunnel", "--json"], env, cwd, timeout=120)
    if done.returncode not in (0, 1) or not done.stdout.strip():
        return False
    return bool(json.loads(done.stdout)["current"])


def protect_install(env: Mapping[str, str], cwd: Path) -> None:
    done = nyxops(["protect", "install", "--tunnel"], env, cwd, timeout=120)
    if done.returncode != 0:
        raise StageFailed(f"protect not installed: {done.stderr.strip()[-1500:]}")


def apply_migrations(env: Mapping[str, str], migrations: Path, cwd: Path) -> None:
    done = nyxops(["migrate", "apply", "--tunnel", "--dir", str(migrations)], env, cwd)
    if done.returncode != 0:
        raise StageFailed(f"migrations not applied: {done.stderr.strip()[-1500:]}")
    print(done.stderr.strip()[-1500:])


def verify(env: Mapping[str, str], checks: Path, cwd: Path, wait: float = 120) -> str:
    done = nyxops(["verify", "--checks", str(checks), "--wait", str(wait)], env, cwd, timeout=wait + 600)
    if done.returncode != 0:
        raise StageFailed(f"post-deploy verification failed:\n{done.stdout[-3000:]}{done.stderr[-800:]}")
    return done.stdout
