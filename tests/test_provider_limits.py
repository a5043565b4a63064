"""The embeddings request path's shortcuts, each checked against the exact way it replaces.

Short texts are packed by their byte lengths (a cl100k_base token covers at least one byte), the
throttle counts exactly only when a bound would make it wait, and an answer's base64 vectors are
decoded in one call when they are whole quanta. Each shortcut must agree with the exact path.
"""

from __future__ import annotations

import base64
import time

import numpy as np
import pytest

from nyxops.config import load_settings
from nyxops.errors import ProviderError
from nyxops.providers.answer import matrix_of
from nyxops.providers.limits import MAX_INPUT_TOKENS, MAX_REQUEST_TOKENS, Throttle, Tokens, byte_bounds
from nyxops.providers.openai_embed import OpenAIEmbedder

TEXTS = [
    "Bench content 17",
    "über Übung — ½ ✓",
    "日本語のテキストと中文文本",
    "emoji 🧪🚀👩‍👩‍👧 mixed",
    "   many     spaces\n\n\ttabs\r\n",
    "x" * 8000,
    "🧪" * 2000,
    "def f(x):\n    return {'a': [1, 2, 3]}  # code",
    "",
]


def test_a_texts_bytes_bound_its_tokens() -> None:
    tokens = Tokens()
    for text in TEXTS:
        assert tokens.count(text) <= len(text.encode()), text[:40]


def test_byte_bounds_only_when_they_prove_the_limits() -> None:
    assert byte_bounds(["abc", "ü"]) == [3, 2]
    assert byte_bounds(["a" * (MAX_INPUT_TOKENS + 1)]) is None  # may need cutting: counted
    assert byte_bounds(["a" * 8000] * (MAX_REQUEST_TOKENS // 8000 + 1)) is None  # may not fit one request
    assert byte_bounds([]) is None


def _embedder() -> OpenAIEmbedder:
    settings = load_settings(
        database_url="postgresql://nobody@127.0.0.1:9/none",
        openai_api_key="test",
        openai_base_url="http://127.0.0.1:9/v1",
    )
    return OpenAIEmbedder(settings, "text-embedding-3-small")


def test_long_texts_are_still_packed_by_exact_tokens() -> None:
    """120 texts of 3,000 bytes (360,000 bytes, 60,000 tokens) fit one request: bounds would need two."""
    texts = ["hello " * 500] * 120
    requests = _embedder().requests_for(list(range(120)), texts)
    assert len(requests) == 1 and requests[0].tokens == Tokens().count(texts[0]) * 120
    short = _embedder().requests_for([1, 2], ["Bench content 1", "Bench content 2"])
    assert [r.tokens for r in short] == [30]  # their byte lengths: no tokenizer needed


def test_throttle_counts_exactly_once_the_provider_reports_a_token_limit() -> None:
    """A bound spent against a reported window would use it up too fast (the lower figure wins
    until the window ends); against a provider that reports no token limit it costs nothing."""
    throttle = Throttle()
    calls: list[int] = []

    def exact() -> int:
        calls.append(1)
        return 60

    throttle.wait_for(500, exact)  # no figure yet: the bound, sent blind
    assert calls == [] and throttle.blind_tokens == 500
    throttle.update({"x-ratelimit-remaining-tokens": "1000", "x-ratelimit-reset-tokens": "1s"})
    assert throttle.remaining_tokens == 500  # the blind bound taken off: too low, never too high
    throttle.wait_for(500, exact)
    assert calls == [1] and throttle.remaining_tokens == 440  # the exact 60, not the bound
    started = time.monotonic()
    throttle.update({"x-ratelimit-remaining-tokens": "50", "x-ratelimit-reset-tokens": "100ms"})
    throttle.wait_for(10, exact)  # 60 exact tokens do not fit in 50: wait for the window
    assert calls == [1, 1] and throttle.waited > 0 and time.monotonic() - started >= 0.1


def _b64(matrix: np.ndarray) -> list[str]:
    return [base64.b64encode(row.astype("<f4").tobytes()).decode() for row in matrix]


@pytest.mark.parametrize("dimension", [1536, 3, 5, 8])
def test_one_decode_of_joined_vectors_equals_one_per_vector(dimension: int) -> None:
    matrix = np.random.default_rng(dimension).random((7, dimension), dtype=np.float32)
    decoded = matrix_of(_b64(matrix))
    assert decoded.shape == (7, dimension) and decoded.dtype == np.float32
    assert np.array_equal(decoded, matrix)  # padded (3, 5) and unpadded (1536, 8) strings alike


def test_vectors_of_different_lengths_are_refused() -> None:
    a, b = _b64(np.ones((1, 8), np.float32)), _b64(np.ones((1, 4), np.float32))
    with pytest.raises(ProviderError, match="different lengths"):
        matrix_of(a + b)
    assert np.array_equal(matrix_of([[1.0, 2.0], [3.0, 4.0]]), np.array([[1, 2], [3, 4]], np.float32))
