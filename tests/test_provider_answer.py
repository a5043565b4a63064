"""The embeddings answer's decoder: its fast path against the careful one, and every refusal.

The fast path takes each embedding as its raw JSON slice; these cases are the ways a real
server's JSON can differ from the common shape (escaped slashes, padding, float lists, shuffled
indexes) and must still give exactly the vectors the careful path gives, or a refusal.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from nyxops.errors import ProviderError
from nyxops.providers.answer import decode, matrix_of


def _body(matrix: np.ndarray, order: list[int] | None = None, *, floats: bool = False) -> dict[str, object]:
    order = order if order is not None else list(range(len(matrix)))
    data = []
    for i in order:
        value = matrix[i].tolist() if floats else base64.b64encode(matrix[i].astype("<f4").tobytes()).decode()
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {"object": "list", "data": data, "model": "m", "usage": {"prompt_tokens": 1, "total_tokens": 1}}


def _matrix(rows: int, dimension: int) -> np.ndarray:
    return np.random.default_rng(rows * dimension).standard_normal((rows, dimension)).astype(np.float32)


def test_vectors_come_back_in_input_order_whatever_order_the_answer_lists_them() -> None:
    matrix = _matrix(7, 1536)
    got = decode(json.dumps(_body(matrix, [3, 0, 6, 1, 5, 2, 4])).encode(), 7)
    assert got.shape == (7, 1536) and got.dtype == np.float32
    assert np.array_equal(got, matrix)


def test_escaped_slashes_are_read_as_json_reads_them() -> None:
    """Some servers write "/" as "\\/": the raw slice is not base64 then, and the careful path decodes it."""
    matrix = _matrix(4, 1536)
    text = json.dumps(_body(matrix))
    assert "/" in text  # 6,144 random bytes in base64 hold a "/" (a failed premise would make this test hollow)
    got = decode(text.replace("/", "\\/").encode(), 4)
    assert np.array_equal(got, matrix)


@pytest.mark.parametrize("dimension", [3, 5, 8, 1536])
def test_padded_and_unpadded_strings_decode_alike(dimension: int) -> None:
    matrix = _matrix(5, dimension)
    assert np.array_equal(decode(json.dumps(_body(matrix)).encode(), 5), matrix)


def test_float_lists_as_some_compatible_servers_send_them() -> None:
    matrix = _matrix(3, 16)
    assert np.array_equal(decode(json.dumps(_body(matrix, floats=True)).encode(), 3), matrix)


def test_fast_and_careful_paths_agree_on_the_same_answer() -> None:
    matrix = _matrix(50, 1536)
    body = _body(matrix)
    careful = matrix_of([item["embedding"] for item in body["data"]])  # type: ignore[index]
    assert np.array_equal(decode(json.dumps(body).encode(), 50), careful)


def test_an_index_given_twice_is_refused_by_name() -> None:
    body = _body(_matrix(3, 8))
    body["data"][2]["index"] = 0  # type: ignore[index]
    with pytest.raises(ProviderError, match=r"duplicated \[0\], missing \[2\]"):
        decode(json.dumps(body).encode(), 3)


def test_fewer_vectors_than_inputs_are_refused() -> None:
    with pytest.raises(ProviderError, match="exactly one embedding per input"):
        decode(json.dumps(_body(_matrix(2, 8))).encode(), 3)


@pytest.mark.parametrize(
    "content",
    [
        b"<html>502 Bad Gateway</html>",
        b'{"error": {"message": "overloaded"}}',
        b'{"data": [{"index": 0.0, "embedding": "AAAAAA=="}]}',
        b'{"data": [{"index": 0, "embedding": {"vector": []}}]}',
        b'{"data": [{"index": 0, "embedding": "AAAA\\"AAA"}]}',
        b'{"data": [{"index": 0, "embedding": "not base64!"}]}',
    ],
)
def test_an_answer_that_is_not_embeddings_is_refused(content: bytes) -> None:
    with pytest.raises(ProviderError, match="not valid embeddings|exactly one embedding"):
        decode(content, 1)


def test_vectors_of_different_lengths_in_one_answer_are_refused() -> None:
    short, long = _body(_matrix(1, 8)), _body(_matrix(1, 12))
    body = {"data": [short["data"][0], {**long["data"][0], "index": 1}]}  # type: ignore[index]
    with pytest.raises(ProviderError, match="different lengths"):
        decode(json.dumps(body).encode(), 2)
