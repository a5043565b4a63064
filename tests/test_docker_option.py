"""``NYXOPS_TEST_DOCKER=1``: the suite against ``pgvector/pgvector:pg16`` through testcontainers.

These machines have no Docker engine and can pull no image, so this is tested at the level of
the requests it issues: a stand-in engine (an HTTP server speaking the first calls of Docker's
API, then refusing) records what testcontainers asks for, and the suite must stop at once with
a message that says what to do, instead of a page of docker-py traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tests.helpers import REPO


class _Engine(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def _answer(self) -> None:
        self.requests.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.endswith("/version"):
            status, body = 200, {"ApiVersion": "1.43", "MinAPIVersion": "1.12", "Version": "24.0.0"}
        elif self.path.endswith("/_ping"):
            status, body = 200, {}
        else:
            status, body = 500, {"message": "stand-in engine: no images or containers here"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def engine() -> Iterator[tuple[str, list[str]]]:
    _Engine.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}", _Engine.requests
    finally:
        server.shutdown()
        server.server_close()


def _suite_with_docker(docker_host: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NYXOPS_TEST_DATABASE_URL"}
    env.update(NYXOPS_TEST_DOCKER="1", DOCKER_HOST=docker_host, TESTCONTAINERS_RYUK_DISABLED="true")
    test = "tests/migrate/test_status.py::test_status_states"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)  # fmt: skip


def test_the_option_asks_the_engine_for_the_pgvector_image(engine: tuple[str, list[str]]) -> None:
    docker_host, requests = engine
    result = _suite_with_docker(docker_host)
    assert any("pgvector%2Fpgvector" in r or "pgvector/pgvector" in r for r in requests), requests
    assert any("pg16" in r for r in requests), requests
    assert result.returncode == 2, result.stdout[-2000:]
    assert "NYXOPS_TEST_DOCKER=1, but no Docker engine answers" in result.stdout
    assert "unset NYXOPS_TEST_DOCKER to test against the embedded server" in result.stdout


def test_without_any_engine_the_suite_stops_with_what_to_do() -> None:
    result = _suite_with_docker("tcp://127.0.0.1:9")  # the discard port: nothing listens
    assert result.returncode == 2, result.stdout[-2000:]
    assert "no Docker engine answers" in result.stdout and "Traceback" not in result.stdout
