"""OpenAI's Files and Batches API, as the fake provider speaks it (for ``backfill --batch-api``).

The real API: a JSONL file of requests (``purpose=batch``, at most 200 MB and 50,000 requests;
an embeddings batch holds at most 50,000 inputs in all) becomes a batch that moves from
``validating`` through ``in_progress`` and ``finalizing`` to ``completed`` within 24 hours, with an
output file (one line per request that succeeded) and an error file (one per request that did not).
Here the test decides when batches finish (``finish``), and which expire or fail.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes import FakeOpenAI

MAX_FILE_BYTES = 200 * 2**20
MAX_REQUESTS = 50_000
MAX_EMBEDDING_INPUTS = 50_000


@dataclass
class BatchFaults:
    failed_lines: set[int] = field(default_factory=set)
    """Request lines (0-based, in each file) answered with a 500 in the error file."""
    expire: bool = False
    """Batches that finish expire instead: the requests done so far are in the output file."""
    max_file_bytes: int = MAX_FILE_BYTES
    hold: str | None = None
    """"upload": hold uploads before storing them; "create": create the batch, then hold the answer."""
    hold_seconds: float = 60.0
    refuse_create: str | None = None
    """Batches are refused with this message (a 400), as the cap on enqueued tokens refuses them."""


class FakeBatchAPI:
    def __init__(self, openai: FakeOpenAI) -> None:
        self.openai = openai
        self.faults = BatchFaults()
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.submitted_inputs: Counter[str] = Counter()
        """Every input of every batch created: a text here twice was paid for twice."""
        self.downloads: Counter[str] = Counter()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # the test's hands ------------------------------------------------------------------------
    def finish(self, count: int | None = None) -> int:
        """Finish the open batches (the oldest ``count`` of them): their output files are written."""
        done = 0
        for batch in sorted(self.batches.values(), key=lambda b: b["created_at"]):
            if batch["status"] in ("validating", "in_progress") and (count is None or done < count):
                self._complete(batch)
                done += 1
        return done

    @property
    def open(self) -> list[dict[str, Any]]:
        return [b for b in self.batches.values() if b["status"] in ("validating", "in_progress", "finalizing")]

    # the API ----------------------------------------------------------------------------------
    def route(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        bare = path.partition("?")[0]
        parts = bare.strip("/").split("/")[1:]  # drop "v1"
        if parts == ["files"] and method == "POST":
            return self._upload(body)
        if len(parts) == 3 and parts[0] == "files" and parts[2] == "content" and method == "GET":
            if parts[1] not in self.contents:
                return 404, {"error": {"message": f"no file {parts[1]}"}}, {}
            self.downloads[parts[1]] += 1
            return 200, self.contents[parts[1]], {}
        if len(parts) == 2 and parts[0] == "files" and method == "GET":
            return self._found(self.files.get(parts[1]), "file", parts[1])
        if parts == ["batches"] and method == "POST":
            return self._create(body)
        if parts == ["batches"] and method == "GET":
            data = sorted(self.batches.values(), key=lambda b: b["created_at"], reverse=True)
            return 200, {"object": "list", "data": data, "has_more": False}, {}
        if len(parts) == 2 and parts[0] == "batches" and method == "GET":
            batch = self.batches.get(parts[1])
            if batch is not None and batch["status"] == "validating":
                self._validate(batch)
            return self._found(batch, "batch", parts[1])
        return 404, {"error": {"message": f"no route {method} {path}"}}, {}

    def _found(self, item: dict[str, Any] | None, kind: str, name: str) -> tuple[int, Any, dict[str, str]]:
        if item is None:
            return 404, {"error": {"message": f"No such {kind}: {name}", "type": "invalid_request_error"}}, {}
        return 200, item, {}

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}-{next(self._ids):06d}"

    def _upload(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        kind, raw = body["_multipart"]
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {kind}\r\n\r\n".encode() + raw
        )
        if self.faults.hold == "upload":
            time.sleep(self.faults.hold_seconds)
        fields: dict[str, bytes] = {}
        filename = "upload.jsonl"
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)  # bytes for a leaf part, None when it has none
            fields[str(name)] = payload if isinstance(payload, bytes) else b""
            filename = part.get_filename() or filename
        if fields.get("purpose") != b"batch":
            return 400, {"error": {"message": "purpose must be batch"}}, {}
        content = fields.get("file", b"")
        if len(content) > self.faults.max_file_bytes:
            message_text = f"file is {len(content)} bytes; the limit is {self.faults.max_file_bytes}"
            return 400, {"error": {"message": message_text, "type": "invalid_request_error"}}, {}
        file_id = self._store(content, filename, "batch")
        return 200, self.files[file_id], {}

    def _create(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        file_id = body.get("input_file_id")
        if file_id not in self.contents:
            return 400, {"error": {"message": f"input file {file_id} not found"}}, {}
        if self.faults.refuse_create:
            return 400, {"error": {"message": self.faults.refuse_create, "type": "invalid_request_error"}}, {}
        if body.get("endpoint") != "/v1/embeddings" or body.get("completion_window") != "24h":
            return 400, {"error": {"message": "endpoint /v1/embeddings and completion_window 24h only"}}, {}
        batch_id = self._new_id("batch")
        now = time.time()
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": file_id,
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(now),
            "expires_at": int(now) + 86400,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        self.batches[batch_id] = batch
        for line in self.contents[file_id].splitlines():
            request = json.loads(line)
            inputs = request["body"]["input"]
            self.submitted_inputs.update([inputs] if isinstance(inputs, str) else inputs)
        if self.faults.hold == "create":
            time.sleep(self.faults.hold_seconds)
        return 200, batch, {}

    def _validate(self, batch: dict[str, Any]) -> None:
        lines = self.contents[batch["input_file_id"]].splitlines()
        problems = []
        seen: set[str] = set()
        inputs = 0
        for number, line in enumerate(lines, 1):
            request = json.loads(line)
            if request.get("method") != "POST" or request.get("url") != "/v1/embeddings":
                problems.append(f"line {number}: method POST and url /v1/embeddings expected")
            custom_id = request.get("custom_id")
            if not isinstance(custom_id, str) or custom_id in seen:
                problems.append(f"line {number}: custom_id missing or not unique")
            seen.add(str(custom_id))
            got = request.get("body", {}).get("input")
            inputs += 1 if isinstance(got, str) else len(got or [])
        if len(lines) > MAX_REQUESTS:
            problems.append(f"{len(lines)} requests; a batch holds at most {MAX_REQUESTS}")
        if inputs > MAX_EMBEDDING_INPUTS:
            problems.append(f"{inputs} embedding inputs; an embeddings batch holds at most {MAX_EMBEDDING_INPUTS}")
        batch["request_counts"]["total"] = len(lines)
        if problems:
            batch["status"] = "failed"
            batch["errors"] = {"object": "list", "data": [{"code": "invalid", "message": p} for p in problems]}
        else:
            batch["status"] = "in_progress"

    def _complete(self, batch: dict[str, Any]) -> None:
        if batch["status"] == "validating":
            self._validate(batch)
            if batch["status"] == "failed":
                return
        out: list[bytes] = []
        errors: list[bytes] = []
        lines = self.contents[batch["input_file_id"]].splitlines()
        if self.faults.expire:
            lines = lines[: len(lines) // 2]  # what was done before the window closed
        for number, line in enumerate(lines):
            request = json.loads(line)
            head = json.dumps({"id": f"batch_req_{number}", "custom_id": request["custom_id"]})[:-1].encode()
            if number in self.faults.failed_lines:
                answer = {"status_code": 500, "request_id": f"req_{number}", "body": {"error": {"message": "boom"}}}
                errors.append(head + b',"response":' + json.dumps(answer).encode() + b',"error":null}')
                continue
            status, payload, _ = self.openai.embeddings(request["body"], limits=False)
            data = payload.data if hasattr(payload, "data") else json.dumps(payload).encode()
            out.append(
                head
                + b',"response":{"status_code":%d,"request_id":"req_%d","body":' % (status, number)
                + data
                + b'},"error":null}'
            )
        batch["request_counts"] = {
            "total": batch["request_counts"]["total"],
            "completed": len(out),
            "failed": len(errors),
        }
        if out:
            batch["output_file_id"] = self._store(b"\n".join(out) + b"\n")
        if errors:
            batch["error_file_id"] = self._store(b"\n".join(errors) + b"\n")
        batch["status"] = "expired" if self.faults.expire else "completed"

    def _store(self, content: bytes, filename: str | None = None, purpose: str = "batch_output") -> str:
        """A file as the Files API keeps it: an upload, or a batch's output or error file."""
        file_id = self._new_id("file")
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename or f"{file_id}.jsonl",
            "purpose": purpose,
            "status": "processed",
        }
        self.contents[file_id] = content
        return file_id
