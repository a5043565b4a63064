"""``nyxops backfill --batch-api``: the same NULL embeddings, through OpenAI's Batch API, one step per run.

Each run collects what finished and submits what is still NULL, then exits: safe from cron, and
half the price of the live path for work that can wait up to a day. Every step is recorded in
``nyxops.embedding_batches`` before the next one starts, so a run killed anywhere is finished by
the next one:

- a submission is recorded (its key range and, per request, its rows' keys) before its file is
  uploaded; killed before the upload was recorded, it is forgotten and its rows are sent again;
- the file id is recorded before the batch is created, and the batch carries the submission's id
  in its metadata: killed before the batch id was recorded, the next run finds the batch by it
  instead of paying for the rows twice;
- rows inside an open submission's key range are not submitted again;
- results are written, per request, only where the embedding is still NULL (as the live path
  does), and the submission is marked written last: a run killed while writing writes the rest.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from nyxops.config import EmbeddingTarget, Settings
from nyxops.db import connect
from nyxops.embeddings.backfill import Options, Summary, check_shape, prepare
from nyxops.embeddings.target_table import TargetTable, silenced
from nyxops.embeddings.vectors import register
from nyxops.errors import ProviderError, UsageError, WritesSilenced
from nyxops.providers.limits import Packed
from nyxops.providers.openai_batch import OPEN, BatchClient, Limits, RequestFile, request_files

log = logging.getLogger("nyxops.backfill")

_DDL = """
CREATE SCHEMA IF NOT EXISTS nyxops;
CREATE TABLE IF NOT EXISTS nyxops.embedding_batches (
    submission uuid PRIMARY KEY,
    target text NOT NULL,
    model text NOT NULL,
    first_key text NOT NULL,
    last_key text NOT NULL,
    rows integer NOT NULL,
    requests jsonb NOT NULL,
    input_file_id text,
    batch_id text UNIQUE,
    state text NOT NULL DEFAULT 'prepared'
        CHECK (state IN ('prepared', 'submitted', 'written', 'expired', 'failed')),
    status text,
    written integer,
    failed_requests integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""
_UNFINISHED = ("prepared", "submitted")


@dataclass
class BatchSummary(Summary):
    submitted_batches: int = 0
    submitted_rows: int = 0
    open_batches: int = 0
    collected_batches: int = 0
    failed_requests: int = 0
    would_submit_rows: int = 0
    batch_ids: list[str] = field(default_factory=list)


def step(settings: Settings, target: EmbeddingTarget, options: Options, limits: Limits | None = None) -> BatchSummary:
    """Collect every finished batch of ``target``, then submit the rows still NULL and not in an open batch."""
    provider = options.provider or target.provider
    if provider != "openai":
        raise UsageError("--batch-api is OpenAI's Batch API: use it with the openai provider, not " + provider)
    model = options.model or target.model
    summary = BatchSummary(target.name, "openai batch", model, dry_run=options.dry_run)
    conn = connect(settings.require_database_url(), "nyxops backfill --batch-api")
    try:
        conn.autocommit = True
        conn.execute(_DDL)
        _lock(conn, target)
        table = TargetTable(conn, target)
        register(conn)
        summary.pending, summary.skipped_empty = table.counts(conn)
        if options.dry_run:
            summary.open_batches = len(_unfinished(conn, target))
            summary.would_submit_rows = _count_outside(conn, table, target, options.limit)
            summary.would_request = -(-summary.would_submit_rows // options.batch_size)  # at most this many rows each
            return summary
        from nyxops.providers.openai_embed import OpenAIEmbedder

        embedder = OpenAIEmbedder(settings, model)
        client = BatchClient(embedder)
        for record in _unfinished(conn, target):
            _advance(conn, client, table, record, summary)
        _submit(conn, client, embedder, table, options, summary, limits or Limits())
        summary.open_batches = len(_unfinished(conn, target))
        return summary
    finally:
        conn.close()


def _lock(conn: psycopg.Connection, target: EmbeddingTarget) -> None:
    """One --batch-api run per target at a time: two cron runs at once would submit the same rows twice."""
    row = conn.execute(
        "SELECT pg_try_advisory_lock(hashtext('nyxops backfill --batch-api ' || %s))", (target.name,)
    ).fetchone()
    if not (row and row[0]):
        raise UsageError(
            f"another backfill --batch-api of {target.name} is running (it holds its advisory lock); "
            "this run does nothing. Run it again when that one ends."
        )


def _unfinished(conn: psycopg.Connection, target: EmbeddingTarget) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM nyxops.embedding_batches WHERE target = %s AND state = ANY(%s) ORDER BY created_at",
            (target.name, list(_UNFINISHED)),
        ).fetchall()


def _outside_open(conn: psycopg.Connection, table: TargetTable, target: EmbeddingTarget) -> sql.Composable:
    """Rows not in the key range of an unfinished submission (its rows are on their way)."""
    ranges = conn.execute(
        "SELECT first_key, last_key FROM nyxops.embedding_batches WHERE target = %s AND state = ANY(%s)",
        (target.name, list(_UNFINISHED)),
    ).fetchall()
    if not ranges:
        return sql.SQL("true")
    parts = [
        sql.SQL("{k} BETWEEN {lo}::{kt} AND {hi}::{kt}").format(
            k=table.key, lo=sql.Literal(lo), hi=sql.Literal(hi), kt=table.key_type
        )
        for lo, hi in ranges
    ]
    return sql.SQL("NOT ({})").format(sql.SQL(" OR ").join(parts))


def _count_outside(conn: psycopg.Connection, table: TargetTable, target: EmbeddingTarget, limit: int | None) -> int:
    rows = 0
    for batch in table.batches(conn, 2048, limit, _outside_open(conn, table, target)):
        rows += sum(1 for _, text in batch if text.strip())
    return rows


def _advance(
    conn: psycopg.Connection, client: BatchClient, table: TargetTable, record: dict[str, Any], summary: BatchSummary
) -> None:
    """Move one unfinished submission on: create its batch if a run died before, poll it, write it when done."""
    submission = str(record["submission"])
    if record["state"] == "prepared":
        if record["input_file_id"] is None:  # killed before its upload was recorded: its rows go again
            conn.execute("DELETE FROM nyxops.embedding_batches WHERE submission = %s", (submission,))
            log.warning(
                "%s: submission %s never reached OpenAI; its rows are submitted again", summary.target, submission
            )
            return
        try:
            batch = client.find(submission) or client.create(record["input_file_id"], submission, summary.target)
        except ProviderError as exc:
            summary.failed_batches.append(f"submission {submission}: batch not created: {exc}; a later run tries again")
            return
        _mark(conn, submission, state="submitted", batch_id=batch["id"], status=batch["status"])
        summary.batch_ids.append(batch["id"])
        return
    batch = client.retrieve(record["batch_id"])
    if batch["status"] in OPEN:
        _mark(conn, submission, status=batch["status"])
        return
    written, failed = 0, 0
    keys: dict[str, list[str]] = record["requests"]
    unanswered = set(keys)
    sent: list[str] = []
    for file_id in (batch.get("output_file_id"), batch.get("error_file_id")):
        if not file_id:
            continue
        for answer in client.answers(file_id):
            if answer.matrix is None:
                failed += 1
                log.error(
                    "%s: batch %s, request %s failed; its rows stay NULL", summary.target, batch["id"], answer.error
                )
                continue
            rows = keys.get(answer.custom_id)
            if rows is None:
                failed += 1
                log.error(
                    "%s: batch %s answered a request it was not sent (%s)",
                    summary.target,
                    batch["id"],
                    answer.custom_id,
                )
                continue
            unanswered.discard(answer.custom_id)
            check_shape(answer.matrix, len(rows), table.target, "OpenAI's Batch API")
            written += table.write(conn, rows, answer.matrix, as_text=True)
            sent.extend(rows)
    unwritten = table.still_null(conn, sent, as_text=True) if written < len(sent) else 0
    if unwritten:  # before it is marked written: the next run writes these answers, paying nothing again
        raise WritesSilenced(
            f"{summary.target}: batch {batch['id']} wrote {written} of {len(sent)} rows, and {unwritten} of them are "
            f"still NULL: {silenced(table)} The batch stays collectable: once that is removed, run backfill "
            "--batch-api again and it writes these answers without paying for them again."
        )
    answered = batch.get("request_counts") or {}
    if batch["status"] == "completed":
        state = "written"
    else:  # expired, failed, cancelled: what was answered is written, the rest is submitted again
        state = "expired" if batch["status"] == "expired" else "failed"
        errors = (batch.get("errors") or {}).get("data") or []
        reason = "; ".join(str(e.get("message")) for e in errors[:3]) or batch["status"]
        summary.failed_batches.append(f"batch {batch['id']} {batch['status']}: {reason}")
        log.error(
            "%s: batch %s %s (%s); its unanswered rows are submitted again",
            summary.target,
            batch["id"],
            batch["status"],
            reason,
        )
    _mark(conn, submission, state=state, status=batch["status"], written=written, failed_requests=failed)
    summary.collected_batches += 1
    summary.embedded += written
    summary.failed_requests += failed
    summary.failed_rows += sum(len(keys[c]) for c in unanswered)
    log.info(
        "%s: batch %s %s, %d rows written (%s of %s requests answered)",
        summary.target,
        batch["id"],
        batch["status"],
        written,
        answered.get("completed", "?"),
        answered.get("total", "?"),
    )


def _submit(
    conn: psycopg.Connection,
    client: BatchClient,
    embedder: Any,
    table: TargetTable,
    options: Options,
    summary: BatchSummary,
    limits: Limits,
) -> None:
    outside = _outside_open(conn, table, table.target)

    def requests() -> Iterator[Packed]:
        for rows in table.batches(conn, options.batch_size, options.limit, outside):
            keys, texts = prepare(rows, embedder.max_input_chars, summary, table.target.name)
            if keys:
                yield from embedder.requests_for(keys, texts)

    with tempfile.TemporaryDirectory(prefix="nyxops-batch-") as folder:
        for request_file in request_files(requests(), summary.model, Path(folder), limits):
            try:
                _send(conn, client, table, request_file, summary)
            except ProviderError as exc:  # e.g. the tier's cap on enqueued tokens: a later run goes on
                summary.failed_batches.append(f"submission not completed: {exc}; a later run goes on with it")
                log.error("%s: %s; submitting stops here, a later run goes on", summary.target, exc)
                return


def _send(
    conn: psycopg.Connection, client: BatchClient, table: TargetTable, request_file: RequestFile, summary: BatchSummary
) -> None:
    submission = str(uuid.uuid4())
    all_keys = [k for keys in request_file.keys.values() for k in keys]
    # The rows were read in the key's own order and packed in that order: the first and the last
    # are the range's bounds (min()/max() would not do: PostgreSQL has none for uuid).
    bounds = (all_keys[0], all_keys[-1])
    conn.execute(
        "INSERT INTO nyxops.embedding_batches (submission, target, model, first_key, last_key, rows, requests)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (submission, summary.target, summary.model, bounds[0], bounds[1], len(all_keys), json.dumps(request_file.keys)),
    )
    file_id = client.upload(request_file.path)
    _mark(conn, submission, input_file_id=file_id)
    batch = client.create(file_id, submission, summary.target)
    _mark(conn, submission, state="submitted", batch_id=batch["id"], status=batch["status"])
    summary.submitted_batches += 1
    summary.submitted_rows += len(all_keys)
    summary.batch_ids.append(batch["id"])
    log.info(
        "%s: batch %s submitted: %d rows in %d requests, at most %d tokens, %.1f MB (keys %s..%s)",
        summary.target,
        batch["id"],
        len(all_keys),
        len(request_file.keys),
        request_file.tokens,
        request_file.bytes / 2**20,
        bounds[0],
        bounds[1],
    )


def _mark(conn: psycopg.Connection, submission: str, **values: Any) -> None:
    columns = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in values)
    conn.execute(
        sql.SQL("UPDATE nyxops.embedding_batches SET {}, updated_at = now() WHERE submission = %s").format(columns),
        (*values.values(), submission),
    )


def batch_step(settings: Settings, targets: list[EmbeddingTarget], options: Options) -> list[BatchSummary]:
    return [step(settings, target, options) for target in targets]
