"""An embeddings answer's JSON as one float32 matrix, in input order, or a refusal.

Why its own module: this is the backfill's hottest Python. A 500-vector answer is 4 MB of JSON,
nearly all of it base64; parsed into Python strings (orjson) it held the GIL for 9 ms, more than
the database took to write the batch. msgspec checks the answer's shape against a schema and
hands each embedding over as its raw JSON slice, with no string built; the slices are joined and
decoded in one base64 call. Whatever the fast path cannot prove (an escaped character, padding,
a list of floats as some OpenAI-compatible servers send, strings of different lengths) is decoded
value by value, and refused if the vectors differ in length.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
import numpy as np
import pybase64

from nyxops.errors import ProviderError


class _Item(msgspec.Struct, gc=False):  # holds no references that could form a cycle: never traced
    index: int
    embedding: msgspec.Raw


class _Answer(msgspec.Struct, gc=False):
    data: list[_Item]


_ANSWER = msgspec.json.Decoder(_Answer)
_VALUE = msgspec.json.Decoder(str | list[float])


def order(indexes: list[Any], count: int) -> list[int]:
    """Positions of the answer's items by their ``index``, refused unless those are exactly 0..n-1.

    An answer with one index twice (and another missing) would otherwise write one row's vector
    into another row: refused before anything is written.
    """
    if len(indexes) != count or sorted(i for i in indexes if isinstance(i, int)) != list(range(count)):
        seen = Counter(indexes)
        twice = sorted(i for i, n in seen.items() if n > 1 and isinstance(i, int))
        missing = sorted(set(range(count)) - set(seen))
        raise ProviderError(
            f"the provider's answer does not hold exactly one embedding per input (index 0..{count - 1}): "
            f"{len(indexes)} items, duplicated {twice[:5] or 'none'}, missing {missing[:5] or 'none'}; "
            "nothing of this batch was written"
        )
    return sorted(range(count), key=indexes.__getitem__)


def in_input_order(items: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Parsed items (dicts) in input order; see ``order``."""
    return [items[i] for i in order([item.get("index") for item in items], count)]


def vector_of(value: Any) -> np.ndarray:
    """base64 float32, as asked; or a float list, which several OpenAI-compatible servers send anyway."""
    if isinstance(value, str):
        return np.frombuffer(pybase64.b64decode(value, validate=True), dtype="<f4")
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float32)
    raise TypeError(f"an embedding is a base64 string or a list of floats, not {type(value).__name__}")


def _whole_quanta(size: int) -> bool:
    """Unpadded base64 of whole float32s: joined, such strings decode as one (6,144 bytes for 1536)."""
    return size % 4 == 0 and size // 4 * 3 % 4 == 0


def matrix_of(values: list[Any]) -> np.ndarray:
    """The vectors as one (n, dimension) float32 matrix, refused if their lengths differ."""
    if values and all(isinstance(v, str) for v in values):
        size = len(values[0])
        if _whole_quanta(size) and all(len(v) == size and not v.endswith("=") for v in values):
            flat = np.frombuffer(pybase64.b64decode("".join(values), validate=True), dtype="<f4")
            return flat.reshape(len(values), -1).astype(np.float32, copy=False)
    rows = [vector_of(v) for v in values]
    if len({len(r) for r in rows}) != 1:
        raise ProviderError("the provider returned vectors of different lengths in one answer")
    return np.vstack(rows).astype(np.float32, copy=False)


def _joined(raws: list[memoryview]) -> np.ndarray | None:
    """The fast path: every raw value is a quoted string of one length, whole quanta, no padding.

    A backslash or a quote inside would be refused by the strict base64 decode, which then sends
    the answer down the careful path; nothing unusual is ever decoded here.
    """
    size = len(raws[0])
    if not _whole_quanta(size - 2):
        return None
    for raw in raws:
        if len(raw) != size or raw[0] != 0x22 or raw[-1] != 0x22 or raw[-2] == 0x3D:  # '"' and '='
            return None
    try:
        flat = pybase64.b64decode(b"".join(raw[1:-1] for raw in raws), validate=True)
    except ValueError:  # binascii.Error is one
        return None
    return np.frombuffer(flat, dtype="<f4").reshape(len(raws), -1)


def decode(content: bytes, count: int, provider: str = "the provider") -> np.ndarray:
    """A live answer's body (``{"data": [{"index", "embedding"}, …]}``) for ``count`` inputs."""
    try:
        answer = _ANSWER.decode(content)
        raws = [memoryview(answer.data[i].embedding) for i in order([item.index for item in answer.data], count)]
        matrix = _joined(raws) if raws else None
        if matrix is not None:
            return matrix
        return matrix_of([_VALUE.decode(raw) for raw in raws])
    except ValueError as exc:  # msgspec's DecodeError and binascii.Error are ValueErrors
        raise ProviderError(f"{provider} sent an answer that is not valid embeddings: {exc}") from None
