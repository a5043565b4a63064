"""What the backfill needs from a provider, whichever it is."""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

import numpy as np

from nyxops.providers.limits import Packed

log = logging.getLogger("nyxops.provider")


class Embedder(Protocol):
    provider: str
    model: str
    max_input_chars: int

    def embed(self, texts: list[str], tokens: int | None = None) -> np.ndarray:
        """One request: a (len(texts), dimension) float32 matrix, in input order.

        ``tokens``: the request's tokens or an upper bound of them (``Packed.tokens``); None counts them."""
        ...

    def requests_for(self, keys: list[Any], texts: list[str]) -> list[Packed]:
        """A batch of rows as the provider's requests: within its limits, texts cut to fit."""
        ...

    def close(self) -> None:
        """Abort requests in flight and release connections (the run was interrupted)."""
        ...

    @property
    def requests(self) -> int: ...

    @property
    def calls(self) -> int: ...


class RequestCounter:
    """Counts HTTP requests through an httpx event hook: retries = requests - calls.

    Counting at the transport is how a retry inside the client becomes visible without
    touching the client's internals.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.calls = 0
        self.limit = 0
        """Retries the client makes per call, for the progress line."""
        self._attempts = threading.local()

    def hook(self, request: object) -> None:
        with self._lock:
            self.requests += 1
        attempt = getattr(self._attempts, "n", 0) + 1
        self._attempts.n = attempt
        if attempt > 1:  # the client is retrying: say so while the operator waits
            log.warning("waiting for the provider, retry %d of %d", attempt - 1, self.limit)

    def call(self) -> None:
        with self._lock:
            self.calls += 1
        self._attempts.n = 0


class Counted:
    """A client whose requests are counted by ``self.counter`` (set by the subclass)."""

    counter: RequestCounter

    @property
    def requests(self) -> int:
        return self.counter.requests

    @property
    def calls(self) -> int:
        return self.counter.calls
