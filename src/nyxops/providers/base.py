"""What the backfill needs from a provider, whichever it is."""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    provider: str
    model: str
    max_input_chars: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """One request: a (len(texts), dimension) float32 matrix, in input order."""
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

    def hook(self, request: object) -> None:
        with self._lock:
            self.requests += 1

    def call(self) -> None:
        with self._lock:
            self.calls += 1


class Counted:
    """A client whose requests are counted by ``self.counter`` (set by the subclass)."""

    counter: RequestCounter

    @property
    def requests(self) -> int:
        return self.counter.requests

    @property
    def calls(self) -> int:
        return self.counter.calls
