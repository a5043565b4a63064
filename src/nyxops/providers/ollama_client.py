"""Ollama through the official client. It has no retries of its own, so tenacity adds one layer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import ollama
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from nyxops.config import Settings
from nyxops.errors import ProviderError
from nyxops.providers.base import Counted, RequestCounter


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ollama.ResponseError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, ConnectionError | httpx.TransportError)


@dataclass
class ChatAnswer:
    text: str
    seconds: float
    tokens: int
    tokens_per_second: float | None


class OllamaClient(Counted):
    provider = "ollama"

    def __init__(self, settings: Settings, model: str | None = None, *, base_url: str | None = None) -> None:
        self.model = model or settings.default_model.name
        self.max_input_chars = 8_000
        self.counter = RequestCounter()
        self.base_url = base_url or settings.ollama_base_url
        self.client = ollama.Client(
            host=self.base_url, timeout=settings.ollama_timeout, event_hooks={"request": [self.counter.hook]}
        )
        self.attempts = settings.openai_max_retries + 1
        self.timeout = settings.ollama_timeout

    def _retrying(self) -> Retrying:
        return Retrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(initial=0.2, max=10),
            reraise=True,
        )

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.counter.call()
        try:
            return self._retrying()(fn, *args, **kwargs)
        except ollama.ResponseError as exc:
            raise ProviderError(f"Ollama {what} failed ({exc.status_code}): {exc.error}") from None
        except (ConnectionError, httpx.HTTPError) as exc:
            raise ProviderError(f"Ollama at {self.base_url} unreachable for {what}: {exc.__class__.__name__}") from None
        except ValueError as exc:
            raise ProviderError(f"Ollama sent an answer that is not valid for {what}: {exc}") from None

    def embed(self, texts: list[str]) -> np.ndarray:
        response = self._call("embed", self.client.embed, model=self.model, input=texts)
        vectors = response.embeddings
        if len(vectors) != len(texts):
            raise ProviderError(f"Ollama returned {len(vectors)} embeddings for {len(texts)} inputs")
        return np.asarray(vectors, dtype=np.float32)

    def version(self) -> str:
        started = time.perf_counter()
        try:
            answer = httpx.get(f"{self.base_url.rstrip('/')}/api/version", timeout=min(self.timeout, 10))
            answer.raise_for_status()
            return str(answer.json()["version"])
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            spent = time.perf_counter() - started
            raise ProviderError(f"Ollama at {self.base_url} not answering /api/version ({exc}; {spent:.1f}s)") from None

    def models(self) -> dict[str, int]:
        """Installed models and their size in bytes."""
        listed = self._call("list", self.client.list)
        return {str(m.model): int(m.size or 0) for m in listed.models}

    def chat(self, prompt: str, model: str | None = None, max_tokens: int = 32) -> ChatAnswer:
        started = time.perf_counter()
        response = self._call(
            "chat",
            self.client.chat,
            model=model or self.model,
            messages=[{"role": "user", "content": prompt}],
            options={"num_predict": max_tokens, "temperature": 0},
        )
        seconds = time.perf_counter() - started
        tokens = int(response.eval_count or 0)
        rate = tokens / (response.eval_duration / 1e9) if response.eval_duration else None
        return ChatAnswer(str(response.message.content or ""), seconds, tokens, rate)
