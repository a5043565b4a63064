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
from nyxops.errors import DimensionMismatch, ProviderError
from nyxops.providers.base import Counted, RequestCounter
from nyxops.providers.limits import Packed


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
        self.counter.limit = settings.openai_max_retries
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

    def requests_for(self, keys: list[Any], texts: list[str]) -> list[Packed]:
        """One request per batch: Ollama has no token limits of its own (texts are cut by characters)."""
        return [Packed(keys, texts)]

    def embed(self, texts: list[str], tokens: int | None = None) -> np.ndarray:
        response = self._call("embed", self.client.embed, model=self.model, input=texts)
        vectors = response.embeddings
        if len(vectors) != len(texts):
            raise ProviderError(f"Ollama returned {len(vectors)} embeddings for {len(texts)} inputs")
        return np.asarray(vectors, dtype=np.float32)

    def close(self) -> None:
        """Abort what is in flight (Ctrl-C)."""
        self.client.close()  # type: ignore[no-untyped-call]

    def check_embedding_model(self, dimension: int) -> None:
        """Before any embedding request: the model embeds, and its vectors fit the column.

        A chat model (qwen2.5:7b) has an ``embedding_length`` too (its hidden size), so what
        decides is the ``embedding`` capability Ollama reports.
        """
        info = self._call("show", self.client.show, self.model)
        capabilities = list(info.capabilities or [])
        if capabilities and "embedding" not in capabilities:
            raise DimensionMismatch(
                f"{self.model} is not an embedding model (Ollama says it can: {', '.join(capabilities)}). Give "
                f"--model an embedding model whose vectors have {dimension} dimensions, or set the target's model."
            )
        for key, value in dict(info.modelinfo or {}).items():
            if key.endswith(".embedding_length") and isinstance(value, int) and value != dimension:
                raise DimensionMismatch(
                    f"{self.model} makes vectors of {value} dimensions; the column holds {dimension}. Pick a model "
                    f"of {dimension} dimensions, or a column of vector({value}) in a reviewed migration."
                )

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
