"""OpenAI's Files and Batches API for embeddings, through the official client.

Why a second path: work that can wait a day costs half as much, and a batch of 50,000 inputs is
one upload instead of hundreds of rate-limited requests. The limits are the API's: a file of at
most 200 MB and 50,000 requests, at most 50,000 embedding inputs per batch, each request within
the live limits (2,048 inputs, 300,000 tokens).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import openai

from nyxops.errors import ProviderError
from nyxops.providers.answer import in_input_order, matrix_of
from nyxops.providers.limits import Packed
from nyxops.providers.openai_embed import OpenAIEmbedder, failure

OPEN = ("validating", "in_progress", "finalizing", "cancelling")
"""Statuses of a batch that will still change."""


@dataclass(frozen=True)
class Limits:
    inputs: int = 50_000
    requests: int = 50_000
    file_bytes: int = 200 * 2**20 - 2**20  # a megabyte of room under the API's 200 MB


@dataclass
class RequestFile:
    """One batch's requests as JSONL: ``custom_id`` -> the keys (as text) of the rows it embeds."""

    path: Path
    keys: dict[str, list[str]] = field(default_factory=dict)
    inputs: int = 0
    bytes: int = 0
    tokens: int = 0


def request_files(requests: Iterator[Packed], model: str, folder: Path, limits: Limits) -> Iterator[RequestFile]:
    """Pack requests into files within the limits; each file is closed before it is yielded."""
    current: RequestFile | None = None
    handle: Any = None
    for number, request in enumerate(requests):
        line = (
            json.dumps(
                {
                    "custom_id": f"r{number}",
                    "method": "POST",
                    "url": "/v1/embeddings",
                    "body": {"model": model, "input": request.texts, "encoding_format": "base64"},
                }
            ).encode()
            + b"\n"
        )
        full = current is not None and (
            current.inputs + len(request.texts) > limits.inputs
            or len(current.keys) + 1 > limits.requests
            or current.bytes + len(line) > limits.file_bytes
        )
        if current is not None and full:
            handle.close()
            yield current
            current = None
        if current is None:
            current = RequestFile(folder / f"batch-{number:06d}.jsonl")
            handle = current.path.open("wb")
        if len(line) > limits.file_bytes:
            raise ProviderError(f"one request of {len(line)} bytes is larger than a batch file may be")
        handle.write(line)
        current.keys[f"r{number}"] = [str(k) for k in request.keys]
        current.inputs += len(request.texts)
        current.bytes += len(line)
        current.tokens += request.tokens
    if current is not None:
        handle.close()
        yield current


@dataclass
class Answer:
    """One line of a batch's output or error file."""

    custom_id: str
    matrix: np.ndarray | None
    error: str | None = None


class BatchClient:
    """Upload, create, find, poll and download, with the client's own retries."""

    def __init__(self, embedder: OpenAIEmbedder) -> None:
        self.client = embedder.client
        self.model = embedder.model

    def upload(self, path: Path) -> str:
        with path.open("rb") as handle:
            return str(self._call(lambda: self.client.files.create(file=handle, purpose="batch")).id)

    def create(self, file_id: str, submission: str, target: str) -> dict[str, Any]:
        batch = self._call(
            lambda: self.client.batches.create(
                input_file_id=file_id,
                endpoint="/v1/embeddings",
                completion_window="24h",
                metadata={"nyxops_submission": submission, "nyxops_target": target},
            )
        )
        return dict(batch.model_dump())

    def find(self, submission: str) -> dict[str, Any] | None:
        """The batch created for ``submission`` (by its metadata): a run killed before it recorded the id."""
        for batch in self._call(lambda: self.client.batches.list(limit=100)):
            if (batch.metadata or {}).get("nyxops_submission") == submission:
                return dict(batch.model_dump())
        return None

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return dict(self._call(lambda: self.client.batches.retrieve(batch_id)).model_dump())

    def answers(self, file_id: str) -> Iterator[Answer]:
        """The lines of an output or error file, streamed through a temporary file (they can be 400 MB)."""
        with tempfile.TemporaryFile() as spool:
            with self._call(lambda: self.client.files.with_streaming_response.content(file_id)) as response:
                for chunk in response.iter_bytes():
                    spool.write(chunk)
            spool.seek(0)
            for raw in spool:
                if raw.strip():
                    yield _answer(raw)

    def _call(self, do: Any) -> Any:
        try:
            return do()
        except openai.APIStatusError as exc:
            raise ProviderError(f"OpenAI answered {exc.status_code} after retries: {exc.message}") from None
        except openai.APIError as exc:
            raise ProviderError(f"OpenAI request failed after retries: {failure(exc)}") from None


def _answer(raw: bytes) -> Answer:
    try:
        line = json.loads(raw)
        custom_id = str(line["custom_id"])
    except (ValueError, KeyError, TypeError):
        return Answer("?", None, "a line of the batch's file is not valid JSON with a custom_id")
    response = line.get("response") or {}
    status = response.get("status_code")
    if line.get("error") or status != 200:
        message = line.get("error") or (response.get("body") or {}).get("error") or f"status {status}"
        return Answer(custom_id, None, f"{custom_id}: {json.dumps(message)[:200]}")
    try:
        data = response["body"]["data"]
        items = in_input_order(data, len(data))
        return Answer(custom_id, matrix_of([item["embedding"] for item in items]))
    except (ValueError, TypeError, KeyError, ProviderError) as exc:
        return Answer(custom_id, None, f"{custom_id}: not valid embeddings: {exc}")
