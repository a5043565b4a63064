"""``nyxops backfill``: NULL embeddings -> provider -> one write per batch.

Keyset-paginated reads of rows still NULL, several requests in flight, each batch written back in
one ``UPDATE … FROM unnest(keys, vectors)`` committed on its own and only where the embedding is
still NULL. Stopped at any point, a re-run reads only what is still NULL: nothing is embedded twice.
"""

from __future__ import annotations

import gc
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg

from nyxops.config import EmbeddingTarget, Settings
from nyxops.db import connect
from nyxops.embeddings import vector_index
from nyxops.embeddings.target_table import Rows, TargetTable, silenced
from nyxops.embeddings.vectors import register
from nyxops.errors import DimensionMismatch, ProviderError, UsageError, WritesSilenced
from nyxops.providers.base import Embedder

log = logging.getLogger("nyxops.embeddings.backfill")


@dataclass
class Summary:
    target: str
    provider: str
    model: str
    pending: int = 0
    embedded: int = 0
    skipped_empty: int = 0
    truncated: int = 0
    failed_rows: int = 0
    failed_batches: list[str] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    would_request: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed_batches


class Progress:
    """What the CLI shows; the default does nothing."""

    def start(self, target: str, total: int) -> None: ...

    def advance(self, rows: int) -> None: ...


@dataclass
class Options:
    provider: str | None = None
    model: str | None = None
    batch_size: int = 100
    concurrency: int = 4
    limit: int | None = None
    dry_run: bool = False
    rebuild_index: bool | None = None
    """True: drop a vector index on the column for the fill; False: keep it; None: rebuild for large fills."""

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 2048:
            raise UsageError("--batch-size must be between 1 and 2048 (OpenAI's limit of inputs per request)")
        if not 1 <= self.concurrency <= 64:
            raise UsageError("--concurrency must be between 1 and 64")
        if self.limit is not None and self.limit < 1:
            raise UsageError("--limit must be at least 1")


def prepare(rows: Rows, limit: int, summary: Summary, name: str) -> tuple[list[Any], list[str]]:
    keys, texts = [], []
    for key, text in rows:
        if not text.strip():
            summary.skipped_empty += 1
            log.warning("%s: row %s has no text to embed; skipped (it stays NULL)", name, key)
            continue
        if len(text) > limit:
            summary.truncated += 1
            log.warning("%s: row %s text of %d chars truncated to %d for the model", name, key, len(text), limit)
            text = text[:limit]
        keys.append(key)
        texts.append(text)
    return keys, texts


def check_shape(matrix: np.ndarray, rows: int, target: EmbeddingTarget, provider: str) -> None:
    if matrix.ndim != 2 or matrix.shape[0] != rows or matrix.shape[1] != target.dimension:
        got = matrix.shape[1] if matrix.ndim == 2 else "?"
        raise DimensionMismatch(
            f"{provider} returned vectors of dimension {got} for {target.name}, whose column is "
            f"vector({target.dimension}); nothing of this batch was written. Check the model "
            f"({target.model}) and the target's dimension."
        )
    if not np.isfinite(matrix).all():
        raise ProviderError(f"{provider} returned NaN or infinite values for {target.name}; batch not written")


def backfill_target(
    settings: Settings, target: EmbeddingTarget, options: Options, progress: Progress | None = None
) -> Summary:
    progress = progress or Progress()
    provider = options.provider or target.provider
    model = options.model or target.model
    if provider == "ollama" and not options.model and target.provider != "ollama":
        raise UsageError(
            f"--provider ollama needs --model: an Ollama embedding model of {target.dimension} dimensions for "
            f"{target.name} (the chat models in NYXOPS_OLLAMA_MODELS are not embedding models)"
        )
    summary = Summary(target.name, provider, model, dry_run=options.dry_run)
    started = time.perf_counter()
    conn = connect(settings.require_database_url(), "nyxops backfill")
    try:
        table = TargetTable(conn, target)
        pending, empty = table.counts(conn)
        summary.pending = min(pending, options.limit) if options.limit else pending
        if options.dry_run:
            to_embed = max(summary.pending - empty, 0)
            summary.skipped_empty = empty
            summary.would_request = math.ceil(to_embed / options.batch_size)
            return summary
        indexes = vector_index.found(conn, table.name, target.column)
        if summary.pending == 0:
            _build_recorded(conn, table, target)  # an interrupted run's dropped index comes back even now
            return summary
        from nyxops.providers.factory import embedder as make_embedder  # openai and ollama: imported when used

        client = make_embedder(settings, provider, model)
        check = getattr(client, "check_embedding_model", None)
        if check is not None:  # Ollama says what a model can do: refuse a chat model before any request
            check(target.dimension)
        register(conn)
        if indexes:
            rebuild = vector_index.should_rebuild(options.rebuild_index, summary.pending, table.rows(conn))
            vector_index.announce(table.name, indexes, summary.pending, rebuild)
            if rebuild:
                vector_index.drop(conn, table.name, [i for i in indexes if i.valid])
        try:
            _run(conn, table, client, options, summary, progress)
        except KeyboardInterrupt:
            for index in vector_index.recorded(conn, table.name):
                log.warning("%s stays dropped until the next backfill of %s builds it", index.name, target.name)
            raise
        _build_recorded(conn, table, target)
        summary.requests = client.requests
        summary.retries = max(client.requests - client.calls, 0)
        return summary
    finally:
        summary.seconds = time.perf_counter() - started
        conn.close()


def _build_recorded(conn: psycopg.Connection, table: TargetTable, target: EmbeddingTarget) -> None:
    """Build every index a backfill of this table dropped (this run's, or an interrupted one's)."""
    recorded = vector_index.recorded(conn, table.name)
    if not recorded:
        return
    rows = table.rows(conn)
    need_mb = int(rows * target.dimension * 4 * 1.5 / 2**20)  # the vectors and the graph, with room
    memory = f"{max(64, min(need_mb, 2048))}MB"
    for index in recorded:
        vector_index.build(conn, conn.info.dsn, conn.info.password, index, memory)


WRITERS = 2
"""Batches written at once, and so the connections the writes hold, whatever ``--concurrency``.

Requests in flight wait on the provider; writes use the database's CPU, and the database is the
app's: ``--concurrency 64`` opened 64 connections of its ``max_connections`` (100 by default)
when every worker wrote on its own. Measured on 2 cores (20,000 rows of vector(1536), 40 batches,
no provider): 1 writer 0.66 s, 2 at once 0.46 s, 4 at once 0.60 s; the whole backfill with its
instant fake provider moved within noise (0.85 s against 0.91 s). A write of 500 rows takes about
20 ms, so two writers keep up with any real provider."""


def _run(
    conn: psycopg.Connection,
    table: TargetTable,
    client: Embedder,
    options: Options,
    summary: Summary,
    progress: Progress,
) -> None:
    """Reads on ``conn`` in this thread; each worker embeds a batch, then writes it on one of the
    writers' connections (``WRITERS`` at most, whatever ``--concurrency``).

    Batches hold disjoint rows, so writers never wait on each other's rows; they share the
    database's cores, which is why there are few of them (see ``WRITERS``).
    """
    target = table.target
    progress.start(target.name, summary.pending)
    url = conn.info.dsn
    password = conn.info.password
    opened: list[psycopg.Connection] = []
    lock = threading.Lock()
    idle: queue.SimpleQueue[psycopg.Connection | None] = queue.SimpleQueue()
    for _ in range(min(WRITERS, options.concurrency)):
        idle.put(None)  # a writer's place; its connection is opened on first use

    stopping = threading.Event()

    @contextmanager
    def writer() -> Iterator[psycopg.Connection | None]:
        """A writer's connection, waited for: the only place where a worker waits on another.

        None once the run is interrupted: a worker that waited here then writes nothing, and opens
        no connection after the run has closed the others.
        """
        place = idle.get()
        try:
            if place is None and not stopping.is_set():
                place = psycopg.connect(url, password=password, autocommit=True, application_name="nyxops backfill")
                with lock:
                    opened.append(place)
                register(place)
            yield None if stopping.is_set() else place
        finally:
            idle.put(place)

    def work(keys: list[Any], texts: list[str], number: int, bounds: tuple[Any, Any]) -> None:
        if stopping.is_set():
            return
        try:
            requests = client.requests_for(keys, texts)
            matrices = []
            for request in requests:
                if stopping.is_set():
                    return
                matrices.append(client.embed(request.texts, request.tokens or None))
            matrix = np.vstack(matrices) if len(matrices) > 1 else matrices[0]
            keys = [k for request in requests for k in request.keys]
        except ProviderError as exc:
            with lock:
                summary.failed_rows += len(keys)
                summary.failed_batches.append(f"batch {number} (keys {keys[0]}..{keys[-1]}): {exc}")
            log.error("%s: batch %d failed, left NULL: %s", target.name, number, exc)
            progress.advance(len(keys))
            return
        check_shape(matrix, len(keys), target, client.provider)
        if stopping.is_set():
            return  # interrupted while this request was answered: its rows stay NULL for the next run
        with writer() as conn:
            if conn is None:
                return  # interrupted while it waited for a writer: the same
            written = table.write(conn, keys, matrix, bounds=bounds)
            # Fewer rows than keys: the app filled or deleted some meanwhile, which is fine, or the
            # table keeps nothing that is written to it, which is the incident: say so and stop.
            unwritten = table.still_null(conn, keys) if written < len(keys) else 0
        if unwritten:
            raise WritesSilenced(
                f"{target.name}: batch {number} wrote {written} of {len(keys)} rows, and {unwritten} of them are "
                f"still NULL: {silenced(table)} The run stopped so that no more vectors are paid for that the table "
                "will not keep; once that is removed, run backfill again: it continues where it stopped."
            )
        with lock:
            summary.embedded += written
            summary.truncated += sum(len(request.cut) for request in requests)
        log.info(
            "%s: batch %d committed, %d rows written (keys %s..%s)", target.name, number, written, keys[0], keys[-1]
        )
        progress.advance(len(keys))

    def settle(done: set[Future[None]], inflight: set[Future[None]]) -> None:
        for future in done:
            inflight.discard(future)
            try:
                future.result()
            except BaseException:
                for other in inflight:
                    other.cancel()
                raise

    pool = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="embed")
    inflight: set[Future[None]] = set()
    # What the process holds before the run (modules, clients, settings) is never garbage: frozen,
    # it is left out of the collector's full passes, each of which held the GIL for 70 to 90 ms.
    # A caller that froze objects itself keeps its freeze: unfreeze is not nested.
    freezing = gc.get_freeze_count() == 0
    if freezing:
        gc.freeze()
    try:
        number = 0
        for rows in table.batches(conn, options.batch_size, options.limit):
            keys, texts = prepare(rows, client.max_input_chars, summary, target.name)
            progress.advance(len(rows) - len(keys))
            if not keys:
                continue
            if number == 0:  # refuse before writing anything when the model's vectors do not fit the column
                first = client.requests_for(keys[:1], texts[:1])[0]
                check_shape(client.embed(first.texts, first.tokens or None), 1, target, client.provider)
            number += 1
            # A slot is waited for only now, with this batch already read: the read of the next
            # batch runs while every slot is busy, not after one frees.
            if len(inflight) >= options.concurrency:
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                settle(done, inflight)
            # rows came in the database's key order: the first and last key bound the batch
            inflight.add(pool.submit(work, keys, texts, number, (rows[0][0], rows[-1][0])))
        while inflight:
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            settle(done, inflight)
        pool.shutdown(wait=True)
    except BaseException:
        # Ctrl-C (or a failure): no new batch, requests in flight aborted; committed batches stay.
        stopping.set()
        for future in inflight:
            future.cancel()
        client.close()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        if freezing:
            gc.unfreeze()
        for c in opened:
            c.close()


def backfill(
    settings: Settings,
    targets: list[EmbeddingTarget],
    options: Options,
    progress: Progress | None = None,
    on_summary: Callable[[Summary], None] | None = None,
) -> list[Summary]:
    summaries = []
    for target in targets:
        summary = backfill_target(settings, target, options, progress)
        summaries.append(summary)
        if on_summary:
            on_summary(summary)
    return summaries
