"""The live path's transport (urllib3 under the openai client) against the wire as real servers send it.

The fake provider answers gzip-compressed and chunked (as OpenAI's API does), over HTTPS with a
certificate authority of the test's own, cut short, dropped, and slow; a forwarding proxy stands
where an office proxy would. Every request goes through the official client, unmodified.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nyxops.config import load_settings
from nyxops.errors import ProviderError
from nyxops.providers.openai_embed import OpenAIEmbedder
from tests.fakes import FakeOpenAI, Faults, vector_for

TEXTS = [f"insight {i}: what the team learned" for i in range(300)]


def _embedder(url: str, **settings: object) -> OpenAIEmbedder:
    config = load_settings(
        database_url="postgresql://nobody@127.0.0.1:9/none", openai_api_key="sk-test", openai_base_url=url + "/v1",
        **settings,
    )  # fmt: skip
    return OpenAIEmbedder(config, "text-embedding-3-small")


def _expected(texts: list[str]) -> np.ndarray:
    return np.vstack([vector_for(t) for t in texts])


@pytest.mark.parametrize(
    ("gzip", "chunked"), [(False, False), (True, False), (False, True), (True, True)], ids=["plain", "gzip", "chunked", "both"]
)  # fmt: skip
def test_answers_arrive_whole_however_the_server_frames_them(gzip: bool, chunked: bool) -> None:
    with FakeOpenAI(Faults(gzip=gzip, chunked=chunked)) as fake:
        embedder = _embedder(fake.url)
        matrices = [embedder.embed(TEXTS[i : i + 100]) for i in range(0, 300, 100)]
        wire = fake.record.wire
    np.testing.assert_array_equal(np.vstack(matrices), _expected(TEXTS))
    assert wire["gzip" if gzip else "plain"] == 3 and wire["chunked"] == (3 if chunked else 0), wire
    assert embedder.requests == 3  # no retry was needed to read any of them
    assert embedder.transport == "urllib3"


def test_answers_cut_short_or_dropped_are_retried_and_the_connections_stay_usable() -> None:
    with FakeOpenAI(Faults(rate_cut=0.3, rate_drop=0.2, seed=11)) as fake:
        embedder = _embedder(fake.url, openai_max_retries=8)
        matrices = [embedder.embed(TEXTS[i : i + 10]) for i in range(0, 300, 10)]
        cut, dropped = fake.record.faults["cut"], fake.record.faults["drop"]
    np.testing.assert_array_equal(np.vstack(matrices), _expected(TEXTS))
    assert cut > 0 and dropped > 0
    assert embedder.requests == 30 + cut + dropped  # each fault cost exactly one retry, never a wrong vector


def test_a_provider_that_never_answers_times_out_and_says_so() -> None:
    with FakeOpenAI(Faults(slow_rate=1.0, slow_seconds=5)) as fake:
        embedder = _embedder(fake.url, openai_timeout=0.5, openai_max_retries=1)
        started = time.monotonic()
        with pytest.raises(ProviderError, match="timed out"):
            embedder.embed(TEXTS[:5])
        elapsed = time.monotonic() - started
        asked = fake.record.requests
    assert asked == 2 and elapsed < 4, (asked, elapsed)


def _authority(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate authority of this test's own, and a server context with a certificate for 127.0.0.1."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nyxops test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "server.pem", folder / "server.key")
    return folder / "ca.pem", server


def test_https_is_verified_against_the_trusted_authorities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca, server = _authority(tmp_path)
    with FakeOpenAI(tls=server) as fake:
        assert fake.url.startswith("https://")
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        with pytest.raises(ProviderError, match="CERTIFICATE_VERIFY_FAILED"):  # a stranger's certificate
            _embedder(fake.url, openai_max_retries=0).embed(TEXTS[:3])
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # as httpx reads it: the same variable as before
        matrix = _embedder(fake.url).embed(TEXTS[:3])
    np.testing.assert_array_equal(matrix, _expected(TEXTS[:3]))


class _Proxy(ThreadingHTTPServer):
    """A forwarding HTTP proxy on 127.0.0.1 that counts what it carried."""

    daemon_threads = True

    def __init__(self) -> None:
        self.carried = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                target = urlsplit(self.path)  # a proxy is asked for the absolute URL
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
                upstream.request("POST", target.path, body, headers)
                answer = upstream.getresponse()
                data = answer.read()
                proxy.carried += 1
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

        super().__init__(("127.0.0.1", 0), Handler)


def test_a_proxy_from_the_environment_still_carries_the_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = _Proxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        with FakeOpenAI() as fake:
            embedder = _embedder(fake.url)
            matrix = embedder.embed(TEXTS[:4])
            asked = fake.record.requests
    finally:
        proxy.shutdown()
        proxy.server_close()
    np.testing.assert_array_equal(matrix, _expected(TEXTS[:4]))
    assert proxy.carried == 1 and asked == 1
    assert embedder.transport.startswith("httpx")
