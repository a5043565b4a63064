"""Local HTTP servers that speak the OpenAI embeddings API and the Ollama API, with injected faults.

No internet here and no Ollama binary: these are the provider boundary. The official ``openai``
and ``ollama`` clients talk to them by base URL, unmodified. Vectors are a pure function of the
text (and the dimension), so a test can recompute what the provider answered for any row.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
import random
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


@functools.lru_cache(maxsize=65536)
def vector_for(text: str, dimension: int = 1536) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vec = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
    return vec / np.linalg.norm(vec)


@functools.lru_cache(maxsize=65536)
def base64_json_for(text: str, dimension: int = 1536) -> bytes:
    """The answer's base64 float32 form as a JSON string, encoded once.

    An instant provider should take no CPU from the client on this small machine: serializing 4 MB
    of JSON per answer made the fake server, not nyxops, the slowest part of the benchmark.
    """
    return b'"' + base64.b64encode(vector_for(text, dimension).astype("<f4").tobytes()) + b'"'


class JsonBody:
    """A JSON body already serialized (sent as is: 4 MB copied once, not four times)."""

    def __init__(self, data: bytes) -> None:
        self.data = data


@dataclass
class Faults:
    """What the next requests do. Rates are fractions of requests, drawn from a seeded generator."""

    rate_500: float = 0.0
    rate_429: float = 0.0
    retry_after: float = 0.05
    rate_drop: float = 0.0
    rate_cut: float = 0.0
    """Answers that declare their whole length, send half of it and close the connection."""
    gzip: bool = False
    """Answers compressed when the client accepts gzip, as OpenAI's are."""
    chunked: bool = False
    """Answers in ``Transfer-Encoding: chunked`` pieces of 64 KiB instead of one ``Content-Length``."""
    delay: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    malformed: bool = False
    duplicate_index: bool = False
    """OpenAI: the second item of each answer repeats index 0 (and index 1 is missing)."""
    floats_anyway: bool = False
    """OpenAI: float lists even when base64 was asked, as several compatible servers do."""
    requests_per_window: int | None = None
    tokens_per_window: int | None = None
    """OpenAI: rate limits per ``window`` seconds, announced in x-ratelimit-* headers; beyond them, 429."""
    window: float = 1.0
    dimension: int = 1536
    down: bool = False
    seed: int = 7


@dataclass
class Record:
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    texts: Counter[str] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)
    inputs_per_request: list[int] = field(default_factory=list)
    wire: Counter[str] = field(default_factory=Counter)
    """How whole answers went out: gzip or plain, and how many of them chunked."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that left mid-answer (a timeout test's, on purpose) is not an error of the
        server's: socketserver would print its traceback into the test run's output."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class FakeProvider:
    """Base: a threaded server on 127.0.0.1, a fault plan, a record of what was asked."""

    def __init__(self, faults: Faults | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.faults = faults or Faults()
        self.record = Record()
        self._lock = threading.Lock()
        self._random = random.Random(self.faults.seed)
        handler = self._handler()
        self.server = _Server(("127.0.0.1", 0), handler)
        self.scheme = "http"
        if tls is not None:  # HTTPS with the test's own certificate authority
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def draw(self) -> str | None:
        """The fault for this request, if any (under a lock: the generator is shared)."""
        f = self.faults
        with self._lock:
            self.record.requests += 1
            roll = self._random.random()
        if f.down:
            return "down"
        for name, rate in (("500", f.rate_500), ("429", f.rate_429), ("drop", f.rate_drop), ("cut", f.rate_cut)):
            if roll < rate:
                return name
            roll -= rate
        return None

    def route(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            _fault: str | None = None

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with provider._lock:
                    provider.record.paths[self.path] += 1
                fault = self._fault = provider.draw()
                if fault in ("down", "drop"):
                    with provider._lock:
                        provider.record.faults[fault] += 1
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if provider.faults.delay:
                    time.sleep(provider.faults.delay)
                if provider.faults.slow_rate and provider._random.random() < provider.faults.slow_rate:
                    time.sleep(provider.faults.slow_seconds)
                if fault == "500":
                    provider.record.faults["500"] += 1
                    return self._send(500, {"error": {"message": "internal error", "type": "server_error"}}, {})
                if fault == "429":
                    provider.record.faults["429"] += 1
                    headers = {"Retry-After": str(provider.faults.retry_after)}
                    return self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}}, headers)
                kind = self.headers.get("Content-Type") or ""
                if kind.startswith("multipart/"):
                    body = {"_multipart": (kind, raw)}  # a file upload: the route reads the parts
                else:
                    try:
                        body = json.loads(raw) if raw else {}
                    except ValueError:
                        return self._send(400, {"error": "bad json"}, {})
                status, payload, headers = provider.route(method, self.path, body)
                if provider.faults.malformed:
                    data = b'{"data": [ {"embedding": '
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self._send(status, payload, headers)

            def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
                if isinstance(payload, JsonBody):
                    data, kind = payload.data, "application/json"
                elif isinstance(payload, bytes):
                    data, kind = payload, "application/x-ndjson"
                else:
                    data, kind = json.dumps(payload).encode(), "application/json"
                faults = provider.faults
                cut = status == 200 and self._fault == "cut"
                if faults.gzip and "gzip" in (self.headers.get("Accept-Encoding") or ""):
                    data = gzip.compress(data, 1)
                    headers = {**headers, "Content-Encoding": "gzip"}
                with provider._lock:
                    if cut:
                        provider.record.faults["cut"] += 1
                    else:
                        provider.record.wire["gzip" if "Content-Encoding" in headers else "plain"] += 1
                        provider.record.wire["chunked"] += faults.chunked
                self.send_response(status)
                self.send_header("Content-Type", kind)
                if faults.chunked and not cut:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if cut:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                elif faults.chunked:
                    for start in range(0, len(data), 65536):
                        piece = data[start : start + 65536]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler


class FakeOpenAI(FakeProvider):
    """``POST /v1/embeddings``: float lists or base64 float32, as the real API answers, with its limits.

    At most 2,048 inputs and 300,000 tokens per request, 8,192 tokens per input (counted in
    cl100k_base, as the API counts), and, when configured, rate limits per window announced in the
    ``x-ratelimit-*`` headers of every answer, with a 429 beyond them.
    """

    def __init__(self, faults: Faults | None = None, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(faults, tls)
        self.window_start = time.monotonic()
        self.used_requests = 0
        self.used_tokens = 0
        self.rate_limited = 0
        self._tokens: Any = None
        from tests.fake_batches import FakeBatchAPI

        self.batch_api = FakeBatchAPI(self)

    def _count(self, text: str) -> int:
        if self._tokens is None:
            import bpe_openai

            self._tokens = bpe_openai.get_encoding("cl100k_base")
        return len(self._tokens.encode_ordinary(text))

    def _limits(self, inputs: list[str]) -> tuple[tuple[int, Any, dict[str, str]] | None, dict[str, str]]:
        f = self.faults
        long = [i for i, t in enumerate(inputs) if len(t.encode()) > 8192 and self._count(t) > 8192]
        if long:
            message = f"input {long[0]}: this model's maximum context length is 8192 tokens"
            return (400, {"error": {"message": message, "type": "invalid_request_error"}}, {}), {}
        rated = f.requests_per_window is not None or f.tokens_per_window is not None
        tokens = sum(self._count(t) for t in inputs) if rated else 0
        if rated and tokens > 300_000:
            return (
                400,
                {"error": {"message": "max 300000 tokens per request", "type": "invalid_request_error"}},
                {},
            ), {}
        if not rated:
            return None, {}
        with self._lock:
            now = time.monotonic()
            if now - self.window_start >= f.window:
                self.window_start, self.used_requests, self.used_tokens = now, 0, 0
            reset = f"{max(f.window - (now - self.window_start), 0.001):.3f}s"
            over = (f.requests_per_window is not None and self.used_requests + 1 > f.requests_per_window) or (
                f.tokens_per_window is not None and self.used_tokens + tokens > f.tokens_per_window
            )
            if not over:
                self.used_requests += 1
                self.used_tokens += tokens
            headers = {
                "x-ratelimit-limit-requests": str(f.requests_per_window or 10**9),
                "x-ratelimit-limit-tokens": str(f.tokens_per_window or 10**12),
                "x-ratelimit-remaining-requests": str(max((f.requests_per_window or 10**9) - self.used_requests, 0)),
                "x-ratelimit-remaining-tokens": str(max((f.tokens_per_window or 10**12) - self.used_tokens, 0)),
                "x-ratelimit-reset-requests": reset,
                "x-ratelimit-reset-tokens": reset,
            }
            if over:
                self.rate_limited += 1
                refusal = {"error": {"message": "Rate limit reached", "type": "requests"}}
                return (429, refusal, {**headers, "retry-after": reset[:-1]}), headers
        return None, headers

    def route(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if path.startswith(("/v1/files", "/v1/batches")):
            return self.batch_api.route(method, path, body)
        if method != "POST" or not path.startswith("/v1/embeddings"):
            return 404, {"error": {"message": f"no route {path}"}}, {}
        return self.embeddings(body, limits=True)

    def embeddings(self, body: dict[str, Any], *, limits: bool) -> tuple[int, Any, dict[str, str]]:
        """One embeddings request's answer (the live path, and each line of a batch)."""
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        if not inputs or len(inputs) > 2048:
            return 400, {"error": {"message": "input must hold 1 to 2048 items"}}, {}
        refused, headers = self._limits(inputs) if limits else (None, {})
        if refused is not None:
            return refused
        with self._lock:
            self.record.texts.update(inputs)
            if limits:
                self.record.inputs_per_request.append(len(inputs))
        usage = {"prompt_tokens": sum(len(t.split()) for t in inputs), "total_tokens": 0}
        if body.get("encoding_format") == "base64" and not self.faults.floats_anyway:
            pieces = [b'{"object":"list","data":[']
            for i, text in enumerate(inputs):
                pieces += (
                    b'{"object":"embedding","index":%d,"embedding":'
                    % (0 if self.faults.duplicate_index and i == 1 else i),
                    base64_json_for(text, self.faults.dimension),
                    b"},",
                )
            pieces[-1] = b"}],"
            pieces.append(json.dumps({"model": body.get("model"), "usage": usage}).encode()[1:])
            return 200, JsonBody(b"".join(pieces)), headers
        data = [
            {
                "object": "embedding",
                "index": 0 if self.faults.duplicate_index and i == 1 else i,
                "embedding": vector_for(t, self.faults.dimension).tolist(),
            }
            for i, t in enumerate(inputs)
        ]
        return 200, {"object": "list", "data": data, "model": body.get("model"), "usage": usage}, headers


@dataclass
class OllamaModelSpec:
    name: str
    size: int  # bytes on disk
    reply: str = "ok"
    capabilities: tuple[str, ...] = ("completion",)
    embedding_length: int = 3584


class FakeOllama(FakeProvider):
    """The parts of Ollama's API nyxops uses: version, tags, ps, show, chat, embed, pull."""

    def __init__(self, faults: Faults | None = None, models: list[OllamaModelSpec] | None = None) -> None:
        super().__init__(faults)
        self.models = {m.name: m for m in (models or [])}
        self.pulled: list[str] = []

    def route(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if path == "/api/version":
            return 200, {"version": "0.13.0"}, {}
        if path == "/api/tags":
            return 200, {"models": [self._tag(m) for m in self.models.values()]}, {}
        if path == "/api/ps":
            return 200, {"models": []}, {}
        if path == "/api/show":
            model = self.models.get(body.get("model", ""))
            if model is None:
                return 404, {"error": f"model '{body.get('model')}' not found"}, {}
            info = {f"{model.name.split(':')[0]}.embedding_length": model.embedding_length}
            details = {"parameter_size": "7.6B", "quantization_level": "Q4_K_M"}
            return 200, {"details": details, "model_info": info, "capabilities": list(model.capabilities)}, {}
        if path == "/api/pull":
            name = body.get("model", "")
            self.models.setdefault(name, OllamaModelSpec(name, 2_000_000_000))
            self.pulled.append(name)
            return 200, {"status": "success"}, {}
        model = self.models.get(body.get("model", ""))
        if model is None:
            return 404, {"error": f"model '{body.get('model')}' not found, try pulling it first"}, {}
        if path == "/api/chat":
            return 200, self._chat(model), {}
        if path == "/api/embed":
            inputs = body.get("input")
            inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
            with self._lock:
                for text in inputs:
                    self.record.texts[text] += 1
            vectors = [vector_for(t, self.faults.dimension).tolist() for t in inputs]
            return 200, {"model": model.name, "embeddings": vectors}, {}
        return 404, {"error": f"no route {path}"}, {}

    def _tag(self, model: OllamaModelSpec) -> dict[str, Any]:
        return {
            "name": model.name,
            "model": model.name,
            "modified_at": "2026-11-01T00:00:00Z",
            "size": model.size,
            "digest": hashlib.sha256(model.name.encode()).hexdigest(),
            "details": {"family": model.name.split(":")[0], "parameter_size": "7B", "quantization_level": "Q4_K_M"},
        }

    def _chat(self, model: OllamaModelSpec) -> dict[str, Any]:
        return {
            "model": model.name,
            "created_at": "2026-11-25T00:00:00Z",
            "message": {"role": "assistant", "content": model.reply},
            "done": True,
            "done_reason": "stop",
            "total_duration": 900_000_000,
            "eval_count": 12,
            "eval_duration": 600_000_000,
            "prompt_eval_count": 20,
        }
