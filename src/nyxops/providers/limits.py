"""The OpenAI embeddings API's real limits: inputs and tokens per request, and its rate limits.

A request holds at most 2,048 inputs and 300,000 tokens, each input at most 8,192 tokens; the
API counts tokens with ``cl100k_base`` (the text-embedding-3 models' encoding). Batches are packed
by tokens, counted with ``bpe_openai``, whose vocabularies are compiled into the package (nothing
is downloaded at run time, unlike tiktoken). Rate limits are read from the
``x-ratelimit-remaining-*`` / ``x-ratelimit-reset-*`` headers of every answer, and the next
request waits for the window to reset before it would be refused with a 429, not after.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("nyxops.provider")

MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8192
MAX_REQUEST_TOKENS = 300_000
_DURATION = re.compile(
    r"(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m(?!s))?(?:(?P<s>\d+(?:\.\d+)?)s)?(?:(?P<ms>\d+)ms)?$"
)


class Tokens:
    """Counts and cuts texts in the API's own tokens (cl100k_base).

    The encoding is built on first use (~50 ms of the GIL): a backfill of short texts against a
    provider that reports no token limit never needs it, and one that does builds it once, in
    whichever worker asks first.
    """

    def __init__(self) -> None:
        self._encoding: Any = None
        self._lock = threading.Lock()

    @property
    def encoding(self) -> Any:
        if self._encoding is None:
            with self._lock:
                if self._encoding is None:
                    import bpe_openai

                    self._encoding = bpe_openai.get_encoding("cl100k_base")
        return self._encoding

    def count(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))

    def cut(self, text: str, limit: int = MAX_INPUT_TOKENS) -> tuple[str, int, bool]:
        """``text`` within ``limit`` tokens: (text, its tokens, whether it was cut)."""
        tokens = self.encoding.encode_ordinary(text)
        if len(tokens) <= limit:
            return text, len(tokens), False
        return str(self.encoding.decode(tokens[:limit])), limit, True


@dataclass
class Packed:
    """One request's worth of rows: their keys, texts (cut to the per-input limit), and tokens."""

    keys: list[Any]
    texts: list[str]
    tokens: int = 0
    """Its tokens, or an upper bound of them (see ``byte_bounds``)."""
    cut: list[Any] = field(default_factory=list)
    """Keys of the rows whose text was cut to fit."""


def pack(
    keys: list[Any],
    texts: list[str],
    counts: list[int],
    *,
    max_inputs: int = MAX_INPUTS,
    max_tokens: int = MAX_REQUEST_TOKENS,
) -> Iterator[Packed]:
    """Consecutive requests within both limits, in order (each text already within the per-input limit)."""
    current = Packed([], [])
    for key, text, count in zip(keys, texts, counts, strict=True):
        if current.keys and (len(current.keys) >= max_inputs or current.tokens + count > max_tokens):
            yield current
            current = Packed([], [])
        current.keys.append(key)
        current.texts.append(text)
        current.tokens += count
    if current.keys:
        yield current


def byte_bounds(texts: list[str]) -> list[int] | None:
    """Each text's UTF-8 length, when those lengths alone prove a batch within the limits; else None.

    cl100k_base is a byte-level BPE: every token covers at least one byte, so a text has at most
    as many tokens as bytes. A batch of short texts then needs no tokenizer at all (most of the
    backfill's own CPU for such rows); a longer one is counted exactly, so the packing stays tight.
    """
    bounds = [len(text.encode()) for text in texts]
    if bounds and max(bounds) <= MAX_INPUT_TOKENS and sum(bounds) <= MAX_REQUEST_TOKENS:
        return bounds
    return None


def seconds(value: str | None) -> float | None:
    """``"6m0s"``, ``"1s"``, ``"20ms"``, ``"0.5s"`` as the API writes its resets, in seconds."""
    if not value:
        return None
    match = _DURATION.match(value.strip())
    if match is None or not any(match.groupdict().values()):
        try:
            return float(value)
        except ValueError:
            return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0) + parts.get("ms", 0) / 1000


@dataclass
class Throttle:
    """What the last answers said is left in the current window, shared by the workers.

    Before a request, ``wait_for`` sleeps until the window resets when the request would not
    fit in what is left; after each answer, ``update`` takes the headers' figures.
    """

    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests_at: float = 0.0
    reset_tokens_at: float = 0.0
    waited: float = 0.0
    blind_requests: int = 0
    blind_tokens: int = 0
    """Requests (and their tokens) sent while the window's figures were unknown: at the start, and
    once a window has ended. The next window's first figure may not count them yet (they were in
    flight), so they are taken off it: sending one request too few, never one too many."""
    tokens_reported: bool = False
    """An answer carried ``x-ratelimit-remaining-tokens``: from then on requests are counted exactly."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, tokens: int, recount: Callable[[], int] | None = None) -> None:
        """``tokens`` may be an upper bound (``byte_bounds``). Once the provider has reported a
        token limit, ``recount`` gives the exact figure: a bound would spend the window's tokens
        too fast, and the lower figure wins until the window ends. Before the first answer a
        bound is taken, which can only make the first window's figure too low, never too high."""
        if recount is not None and self.tokens_reported:
            tokens = recount()
        while True:
            with self._lock:
                now = time.monotonic()
                # A window that has ended leaves nothing known: what is sent now is sent blind, until
                # the next answer (whether a worker slept through the reset or not).
                if self.remaining_requests is not None and now >= self.reset_requests_at:
                    self.remaining_requests, self.blind_requests = None, 0
                if self.remaining_tokens is not None and now >= self.reset_tokens_at:
                    self.remaining_tokens, self.blind_tokens = None, 0
                pause = 0.0
                if self.remaining_requests is not None and self.remaining_requests < 1:
                    pause = self.reset_requests_at - now + 0.02  # the server's window, not ours, must have ended
                if self.remaining_tokens is not None and self.remaining_tokens < tokens:
                    pause = max(pause, self.reset_tokens_at - now + 0.02)
                if pause <= 0:
                    if self.remaining_requests is not None:
                        self.remaining_requests -= 1
                    else:
                        self.blind_requests += 1
                    if self.remaining_tokens is not None:
                        self.remaining_tokens -= tokens
                    else:
                        self.blind_tokens += tokens
                    return
            log.warning("rate limit: waiting %.1f s for the provider's window to reset", pause)
            self.waited += pause
            time.sleep(min(pause, 60))

    def update(self, headers: Mapping[str, str]) -> None:
        """Take an answer's figures. Until the window already known has ended, an answer belongs to
        it: the lower count and the earlier reset win. Answers arrive out of order, an older one does
        not know of the requests sent since, and one read late (a busy client) seems to reset later;
        telling windows apart by that reset took such an answer for a new window and sent too many."""
        now = time.monotonic()
        with self._lock:
            for kind in ("requests", "tokens"):
                left = headers.get(f"x-ratelimit-remaining-{kind}")
                if left is None or not left.isdigit():
                    continue
                if kind == "tokens":
                    self.tokens_reported = True
                reset_at = now + (seconds(headers.get(f"x-ratelimit-reset-{kind}")) or 0.0)
                known = getattr(self, f"remaining_{kind}")
                known_reset = getattr(self, f"reset_{kind}_at")
                if known is not None and now < known_reset:
                    setattr(self, f"remaining_{kind}", min(known, int(left)))
                    setattr(self, f"reset_{kind}_at", min(known_reset, reset_at))
                else:  # a window's first figure: what was sent blind may not be in it yet
                    setattr(self, f"remaining_{kind}", int(left) - getattr(self, f"blind_{kind}"))
                    setattr(self, f"blind_{kind}", 0)
                    setattr(self, f"reset_{kind}_at", reset_at)
