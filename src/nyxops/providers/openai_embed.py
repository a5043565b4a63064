"""OpenAI embeddings through the official client, base64 float32 on the wire.

Retries are the client's own (exponential backoff with jitter, ``Retry-After`` honoured, on 408,
409, 429, 5xx, timeouts and dropped connections); nothing here retries again on top of it.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import httpx2
import numpy as np
import openai
import orjson
import pybase64

from nyxops.config import Settings
from nyxops.errors import ProviderError
from nyxops.providers.base import Counted, RequestCounter
from nyxops.providers.limits import MAX_INPUT_TOKENS, MAX_INPUTS, Packed, Throttle, Tokens, byte_bounds, pack

log = logging.getLogger("nyxops.provider")


def in_input_order(items: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The answer's items in input order, refused unless their ``index`` fields are exactly 0..n-1.

    An answer with one index twice (and another missing) would otherwise write one row's vector
    into another row: refused before anything is written.
    """
    indexes = [item.get("index") for item in items]
    if sorted(i for i in indexes if isinstance(i, int)) != list(range(count)) or len(indexes) != count:
        seen = Counter(indexes)
        twice = sorted(i for i, n in seen.items() if n > 1 and isinstance(i, int))
        missing = sorted(set(range(count)) - set(seen))
        raise ProviderError(
            f"the provider's answer does not hold exactly one embedding per input (index 0..{count - 1}): "
            f"{len(items)} items, duplicated {twice[:5] or 'none'}, missing {missing[:5] or 'none'}; "
            "nothing of this batch was written"
        )
    return sorted(items, key=lambda item: int(item["index"]))


def vector_of(value: Any) -> np.ndarray:
    """base64 float32, as asked; or a float list, which several OpenAI-compatible servers send anyway."""
    if isinstance(value, str):
        # pybase64 (SIMD): 160 MB of base64 per 20,000 vectors took the stdlib 0.45 s of the GIL.
        return np.frombuffer(pybase64.b64decode(value, validate=True), dtype="<f4")
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float32)
    raise TypeError(f"an embedding is a base64 string or a list of floats, not {type(value).__name__}")


def matrix_of(values: list[Any]) -> np.ndarray:
    """The answer's vectors as one (n, dimension) float32 matrix.

    Strings of one length with no ``=`` padding are whole base64 quanta: joined, they decode as
    one (one call and no copy per row; 1536 floats are 6,144 bytes, a multiple of 3). Anything
    else is decoded one by one, and vectors of different lengths are refused.
    """
    if values and all(isinstance(v, str) for v in values):
        size = len(values[0])
        whole_floats = size % 4 == 0 and size // 4 * 3 % 4 == 0
        if whole_floats and all(len(v) == size and not v.endswith("=") for v in values):
            flat = np.frombuffer(pybase64.b64decode("".join(values), validate=True), dtype="<f4")
            return flat.reshape(len(values), -1).astype(np.float32, copy=False)
    rows = [vector_of(v) for v in values]
    if len({len(r) for r in rows}) != 1:
        raise ProviderError("OpenAI returned vectors of different lengths in one answer")
    return np.vstack(rows).astype(np.float32, copy=False)


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
        http = openai.DefaultHttpxClient(timeout=settings.openai_timeout, event_hooks={"request": [self.counter.hook]})
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
            # orjson: half the stdlib's time for 4 MB of base64, all of it holding the GIL
            items = in_input_order(orjson.loads(response.content)["data"], len(texts))
            matrix = matrix_of([item["embedding"] for item in items])
        except openai.APIStatusError as exc:
            raise ProviderError(f"OpenAI answered {exc.status_code} after retries: {exc.message}") from None
        except openai.APIError as exc:
            raise ProviderError(f"OpenAI request failed after retries: {exc.__class__.__name__}: {exc}") from None
        except (ValueError, TypeError, KeyError) as exc:  # orjson.JSONDecodeError is a ValueError
            raise ProviderError(f"OpenAI sent an answer that is not valid embeddings: {exc}") from None
        return matrix

    def close(self) -> None:
        """Abort what is in flight (Ctrl-C): the HTTP client's connections are closed."""
        self.client.close()
