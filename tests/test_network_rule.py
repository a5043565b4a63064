"""The suite's network rule holds in its own process: loopback and the test host's pair, nothing else."""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.corpus import fetch
from tests.helpers import REPO
from tests.network_rule import TEST_HOST_NETWORK, NetworkRuleBroken, allowed


def test_an_address_outside_is_refused_before_anything_is_sent() -> None:
    with socket.socket() as sock, pytest.raises(NetworkRuleBroken, match=r"'192\.0\.2\.1'.*tests/fakes\.py"):
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: no one's address, and never reached
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, pytest.raises(NetworkRuleBroken):
        sock.sendto(b"x", ("10.0.0.1", 9))  # private is outside too


def test_a_name_is_refused_before_a_resolver_is_asked() -> None:
    with pytest.raises(NetworkRuleBroken, match="look up 'pypi.org'"):
        socket.getaddrinfo("pypi.org", 443)
    with pytest.raises(urllib.error.URLError) as raised:  # urllib wraps the OSError it met
        urllib.request.urlopen("https://registry.npmjs.org/graphile-worker", timeout=5)
    assert isinstance(raised.value.reason, NetworkRuleBroken)


def test_loopback_still_answers() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        accepted: list[bytes] = []

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                accepted.append(conn.recv(5))

        thread = threading.Thread(target=serve)
        thread.start()
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            client.sendall(b"hello")
        thread.join(5)
    assert accepted == [b"hello"]
    assert socket.getaddrinfo("localhost", 80)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.231.77.2", True),
        (None, True),
        ("10.231.78.2", False),
        ("172.17.0.2", False),
        ("::ffff:8.8.8.8", False),
        ("example.test", False),
    ],
)
def test_what_counts_as_inside(host: str | None, expected: bool) -> None:
    assert allowed(host) is expected


def test_the_test_host_s_pair_lies_in_the_allowed_network() -> None:
    script = (REPO / "tests" / "host" / "host.sh").read_text()
    pair = re.findall(r'^ADDR_(?:ROOT|HOST)="([0-9.]+)"', script, re.MULTILINE)
    assert len(pair) == 2
    assert all(ipaddress.ip_address(address) in TEST_HOST_NETWORK for address in pair)


def test_a_corpus_not_fetched_says_how_to_fetch_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "CACHE", tmp_path)
    (tmp_path / "public").mkdir()  # an interrupted fetch: files, but no .complete
    with pytest.raises(fetch.CorpusMissing, match=r"python -m tests\.corpus\.fetch"):
        fetch.cached("public")
    (tmp_path / "public" / ".complete").touch()
    assert fetch.cached("public") == tmp_path / "public"
