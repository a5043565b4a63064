"""The live embedding path's HTTP transport: httpx's request and response, urllib3 on the wire.

Why: an answer of 500 vectors is 4 MB of JSON. httpx's own transport reads it 64 KiB at a time
through h11's pure-Python buffer, about 10 ms of the GIL per answer, which the backfill's writers
wait for; urllib3 reads it through http.client's buffered socket, in C, in about 2 ms (``python -m
bench --only transport``). Everything above the transport is the openai client's own and unchanged: its
retries, timeouts, headers and errors work on httpx's objects, and this module maps urllib3's
errors onto httpx's so they are retried the same way. Where the environment names a proxy, httpx's
own transport carries the requests, with its proxy support (``http_client``).
"""

from __future__ import annotations

import contextlib
import threading
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

import httpx2
import openai
import urllib3
from urllib3 import exceptions as u3

CHUNK = 1 << 20
"""Bytes per read of an answer's body: a 4 MB answer in four reads."""


@contextlib.contextmanager
def _as_httpx(request: httpx2.Request) -> Iterator[None]:
    """urllib3's errors as the httpx errors the openai client knows (timeouts and dropped
    connections are retried; the message keeps urllib3's words, which name host and port only)."""
    try:
        yield
    except u3.NewConnectionError as exc:  # before ConnectTimeoutError, which it subclasses
        raise httpx2.ConnectError(str(exc), request=request) from exc
    except u3.ConnectTimeoutError as exc:
        raise httpx2.ConnectTimeout(str(exc), request=request) from exc
    except u3.ReadTimeoutError as exc:
        raise httpx2.ReadTimeout(str(exc), request=request) from exc
    except u3.SSLError as exc:
        raise httpx2.ConnectError(str(exc), request=request) from exc
    except (u3.ProtocolError, u3.HTTPError, OSError) as exc:  # reset, closed, cut short
        raise httpx2.RemoteProtocolError(str(exc), request=request) from exc


class _Body(httpx2.SyncByteStream):
    """An answer's body, read on demand; its connection goes back to the pool only when read whole."""

    def __init__(self, response: urllib3.BaseHTTPResponse, request: httpx2.Request) -> None:
        self._response, self._request, self._whole = response, request, False

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx(self._request):
            yield from self._response.stream(CHUNK, decode_content=False)  # httpx decodes gzip itself
        self._whole = True

    def close(self) -> None:
        if not self._whole:
            self._response.close()  # half read: the connection is closed, never reused mid-answer
        self._response.release_conn()


class UrllibTransport(httpx2.BaseTransport):
    """A pool of keep-alive connections per host, shared by the backfill's worker threads.

    ``connections`` is the most the pool keeps: 64, the backfill's highest ``--concurrency``, so no
    worker's connection is ever discarded after its answer (and logged by urllib3 as such). They
    are opened only as workers need them.
    """

    def __init__(self, connections: int = 64) -> None:
        self._connections = connections
        self._managers: dict[str, urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def _manager(self, scheme: str) -> urllib3.PoolManager:
        """Built on first use: a TLS context (35 ms) only when an https URL is asked for."""
        with self._lock:
            manager = self._managers.get(scheme)
            if manager is None:
                # httpx's own context: the same CA bundle and SSL_CERT_FILE / SSL_CERT_DIR as before
                tls: dict[str, Any] = {"ssl_context": httpx2.create_ssl_context()} if scheme == "https" else {}
                manager = urllib3.PoolManager(num_pools=4, maxsize=self._connections, block=False, **tls)
                self._managers[scheme] = manager
            return manager

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout = request.extensions.get("timeout") or {}
        headers = urllib3.HTTPHeaderDict()
        for key, value in request.headers.raw:  # Host, Content-Length, Accept-Encoding: as httpx set them
            headers.add(key.decode("latin-1"), value.decode("latin-1"))
        body: bytes | Iterable[bytes]
        try:
            body = request.content
        except httpx2.RequestNotRead:  # a streamed upload: sent as it is read, never held whole
            body = iter(request.stream)  # type: ignore[arg-type]
        with _as_httpx(request):
            response = self._manager(request.url.scheme).urlopen(
                request.method,
                str(request.url),
                body=body,
                headers=headers,
                retries=False,  # the openai client retries, with its backoff and Retry-After
                redirect=False,  # and httpx follows redirects
                preload_content=False,
                decode_content=False,
                timeout=urllib3.Timeout(connect=timeout.get("connect"), read=timeout.get("read")),
            )
        return httpx2.Response(
            response.status,
            headers=list(response.headers.items()),
            stream=_Body(response, request),
            extensions={
                "http_version": f"HTTP/{response.version // 10}.{response.version % 10}".encode(),
                "reason_phrase": (response.reason or "").encode("latin-1"),
            },
        )

    def close(self) -> None:
        with self._lock:
            for manager in self._managers.values():
                manager.clear()
            self._managers.clear()


def http_client(**options: Any) -> tuple[httpx2.Client, str]:
    """The openai client's httpx client, and which transport it has (for the log and the tests).

    httpx mounts the environment's proxies only on its own transport, so a proxy (``HTTPS_PROXY``,
    ``HTTP_PROXY``, ``ALL_PROXY``, read as httpx reads them) keeps httpx's transport.
    """
    proxies = urllib.request.getproxies()
    if any(proxies.get(scheme) for scheme in ("http", "https", "all")):
        return openai.DefaultHttpxClient(**options), "httpx (a proxy is set in the environment)"
    return openai.DefaultHttpxClient(transport=UrllibTransport(), **options), "urllib3"
