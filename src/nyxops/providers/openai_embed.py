"""OpenAI embeddings through the official client, base64 float32 on the wire.

Retries are the client's own (exponential backoff with jitter, ``Retry-After`` honoured, on 408,
409, 429, 5xx, timeouts and dropped connections); nothing here retries again on top of it.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx2
import numpy as np
import openai

from nyxops.config import Settings
from nyxops.errors import ProviderError
from nyxops.providers import answer
from nyxops.providers.base import Counted, RequestCounter
from nyxops.providers.limits import MAX_INPUT_TOKENS, MAX_INPUTS, Packed, Throttle, Tokens, byte_bounds, pack
from nyxops.providers.transport import http_client

log = logging.getLogger("nyxops.provider")


def failure(exc: BaseException) -> str:
    """The client's error with the reason under it: "Connection error." alone does not say that the
    certificate was refused or the name did not resolve."""
    text, cause = f"{exc.__class__.__name__}: {exc}", exc.__cause__ or exc.__context__
    while cause is not None and (cause.__cause__ or cause.__context__) is not None:
        cause = cause.__cause__ or cause.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({str(cause)[:300]})"
    return text


class OpenAIEmbedder(Counted):
    provider = "openai"

    def __init__(self, settings: Settings, model: str, *, max_input_chars: int = 200_000) -> None:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if not key:
            raise ProviderError("OPENAI_API_KEY is not set: export it (the app's own key) and run again")
        self.model = model
        self.max_input_chars = max_input_chars  # a first cut by characters; the real one is by tokens
        self.tokens = Tokens()
        self.throttle = Throttle()
        self.counter = RequestCounter()
        self.counter.limit = settings.openai_max_retries
        http, self.transport = http_client(
            timeout=settings.openai_timeout, event_hooks={"request": [self.counter.hook]}
        )
        log.debug("OpenAI requests go over %s", self.transport)
        self.client = openai.OpenAI(
            api_key=key,
            base_url=settings.openai_base_url,
            max_retries=settings.openai_max_retries,
            timeout=settings.openai_timeout,
            http_client=http,
        )

    def requests_for(self, keys: list[Any], texts: list[str]) -> list[Packed]:
        """Rows packed into requests by tokens (2,048 inputs, 300,000 tokens), each text cut to 8,192 tokens."""
        bounds = byte_bounds(texts)
        if bounds is not None:  # short texts: their byte lengths already prove every limit
            return list(pack(keys, texts, bounds))
        fitted, counts, cut = [], [], []
        for key, text in zip(keys, texts, strict=True):
            text, count, was_cut = self.tokens.cut(text)
            if was_cut:
                cut.append(key)
                log.warning("row %s: text cut to %d tokens, the model's limit", key, MAX_INPUT_TOKENS)
            fitted.append(text)
            counts.append(count)
        packed = list(pack(keys, fitted, counts))
        cut_set = set(cut)
        for request in packed:
            request.cut = [k for k in request.keys if k in cut_set]
        return packed

    def embed(self, texts: list[str], tokens: int | None = None) -> np.ndarray:
        if not 0 < len(texts) <= MAX_INPUTS:
            raise ValueError(f"OpenAI takes 1 to {MAX_INPUTS} inputs per request, not {len(texts)}")

        def exact() -> int:
            return sum(self.tokens.count(t) for t in texts)

        self.throttle.wait_for(exact() if tokens is None else tokens, exact)
        self.counter.call()
        try:
            # The client's request path (auth, retries, errors) without its typed layer: checking 500
            # inputs and building 500 response models took more of the GIL than writing the batch.
            body = {"model": self.model, "input": texts, "encoding_format": "base64"}
            response = self.client.post("/embeddings", cast_to=httpx2.Response, body=body)
            self.throttle.update(response.headers)
            matrix = answer.decode(response.content, len(texts), "OpenAI")
        except openai.APIStatusError as exc:
            raise ProviderError(f"OpenAI answered {exc.status_code} after retries: {exc.message}") from None
        except openai.APIError as exc:
            raise ProviderError(f"OpenAI request failed after retries: {failure(exc)}") from None
        return matrix

    def close(self) -> None:
        """Abort what is in flight (Ctrl-C): the HTTP client's connections are closed."""
        self.client.close()
