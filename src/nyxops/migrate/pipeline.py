"""A file's statements sent without waiting for each result (libpq's pipeline mode).

Why: one round trip per statement was most of what ``migrate apply`` cost beyond ``psql -1 -f``.
In pipeline mode the server runs the statements back to back while the client is still sending,
so the round trips overlap the work. What stays exact:

- the failing statement's position: results come back in order, one per statement, and the
  first error aborts the rest of the pipeline (their results say so) until the sync;
- rows: each statement's own command tag;
- durations: the time between a statement's result and the one before it (or its sending, if
  later), measured where the client waits. The server runs one statement at a time, so this is
  its run time plus the transport; statements that finish within one read of the socket share
  it (their sum stays right). A read the scheduler wakes late shortens the next statement's time
  by that much (a few ms on a loaded machine) and lengthens its own; the sum is unchanged.

The caller holds the transaction (``BEGIN`` already sent): a sync inside a transaction block does
not commit, so the file still commits or rolls back as one, with its history row.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import pq

_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK, pq.ExecStatus.EMPTY_QUERY)
_WINDOW = 512
"""Statements in flight at most: results are read while sending, so memory stays small."""


@dataclass(frozen=True)
class Result:
    position: int
    ms: float
    rows: int


class PipelineFailed(Exception):
    """Statement ``position`` failed; ``error`` is what psycopg would have raised for it."""

    def __init__(self, position: int, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.position, self.error = position, error


def run(conn: psycopg.Connection, texts: Sequence[str], on_result: Callable[[Result], None]) -> None:
    """Run ``texts`` in order on ``conn`` (inside the caller's transaction); raise PipelineFailed on the first error."""
    pg = conn.pgconn
    encoding = conn.info.encoding
    if encoding == "ascii":  # SQL_ASCII stores any bytes: UTF-8, as the app sends them
        encoding = "utf-8"
    queries = []
    for position, text in enumerate(texts):
        try:
            queries.append(text.encode(encoding))
        except UnicodeEncodeError as exc:  # e.g. a SQL_ASCII database: say which statement, send nothing
            error = psycopg.DataError(f"its text cannot be sent in the connection's encoding {encoding} ({exc.reason})")
            raise PipelineFailed(position, error) from None
    sent_at: list[float] = []
    state = _State()
    pg.enter_pipeline_mode()
    pg.nonblocking = 1
    try:
        try:
            _communicate(conn, pg, queries, sent_at, state, on_result)
        except BaseException:
            _drain_after_interrupt(conn, pg, sent_at, state)
            raise
    finally:
        pg.nonblocking = 0
        if pg.pipeline_status != pq.PipelineStatus.OFF:
            try:
                pg.exit_pipeline_mode()
            except psycopg.Error:
                conn.close()  # results still pending after a failed drain: closing rolls the transaction back
    if state.failure is not None:
        position, result = state.failure
        raise PipelineFailed(position, psycopg.errors.error_from_result(result, encoding=encoding))


class _State:
    def __init__(self) -> None:
        self.received = 0
        self.synced = False
        self.sync_sent = False
        self.failure: tuple[int, pq.abc.PGresult] | None = None
        self.last = time.perf_counter()
        self.pending: list[pq.abc.PGresult] = []


def _communicate(
    conn: psycopg.Connection,
    pg: pq.abc.PGconn,
    queries: list[bytes],
    sent_at: list[float],
    state: _State,
    on_result: Callable[[Result], None],
) -> None:
    sock = pg.socket
    while not state.synced:
        while len(sent_at) < len(queries) and len(sent_at) - state.received < _WINDOW and state.failure is None:
            pg.send_query_params(queries[len(sent_at)], None)
            pg.send_flush_request()  # the server sends each result when it is done, not when its buffer fills
            sent_at.append(time.perf_counter())
        if not state.sync_sent and (len(sent_at) == len(queries) or state.failure is not None):
            pg.pipeline_sync()
            state.sync_sent = True
        unsent = pg.flush() == 1
        readable, writable, _ = select.select([sock], [sock] if unsent else [], [])
        if writable:
            pg.flush()
        if readable:
            pg.consume_input()
            _read_results(pg, sent_at, state, on_result)
        if pg.status == pq.ConnStatus.BAD:
            raise psycopg.OperationalError(pg.get_error_message(conn.info.encoding) or "the connection was lost")


def _read_results(pg: pq.abc.PGconn, sent_at: list[float], state: _State, on_result: Callable[[Result], None]) -> None:
    while not pg.is_busy():
        res = pg.get_result()
        if res is None:
            if not state.pending:
                return  # nothing more has arrived
            _finish_statement(sent_at, state, on_result)
            continue
        if res.status == pq.ExecStatus.PIPELINE_SYNC:
            state.synced = True
            return
        state.pending.append(res)


def _finish_statement(sent_at: list[float], state: _State, on_result: Callable[[Result], None]) -> None:
    now = time.perf_counter()
    position = state.received
    results, state.pending = state.pending, []
    state.received += 1
    started = max(state.last, sent_at[position])
    state.last = now
    last = results[-1]
    if last.status in _OK:
        if state.failure is None:
            on_result(Result(position, (now - started) * 1000, _rows(last)))
    elif last.status == pq.ExecStatus.FATAL_ERROR and state.failure is None:
        state.failure = (position, last)
    # PIPELINE_ABORTED: a statement after the failing one, never run


def _rows(result: pq.abc.PGresult) -> int:
    if result.command_tuples is not None:
        return result.command_tuples
    return max(result.ntuples, 0)


def _drain_after_interrupt(conn: psycopg.Connection, pg: pq.abc.PGconn, sent_at: list[float], state: _State) -> None:
    """Ctrl-C or an error mid-pipeline: cancel what runs, read up to the sync so the caller can roll back."""
    if pg.status == pq.ConnStatus.BAD:
        return
    try:
        conn.cancel_safe(timeout=5)
        if not state.sync_sent:
            pg.pipeline_sync()
            state.sync_sent = True
        deadline = time.monotonic() + 10
        while not state.synced and time.monotonic() < deadline:
            unsent = pg.flush() == 1
            readable, _, _ = select.select([pg.socket], [pg.socket] if unsent else [], [], 1)
            if readable:
                pg.consume_input()
                _read_results(pg, sent_at, state, lambda result: None)
    except (psycopg.Error, OSError):
        pass
