"""Lint's files shared among the machine's cores: forked workers that send their results back.

Why ``os.fork`` and not ``ProcessPoolExecutor``: a fork taken after the parser and the rules are
imported starts in about 2 ms and inherits them, while the pool's workers, queues and feeder
thread cost more than a migration history of a few hundred files takes to check (0.44 s against
0.24 s in one process, when lint used the pool). Forked, that history is checked in two thirds
of the time on two cores (bench/lint.py).

Nothing a worker does can lose a result: a worker that fails for any reason (killed, out of
memory, a bug) has its files checked again in this process, where a bug shows its traceback.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

Result = TypeVar("Result")

PARALLEL_FROM_BYTES = 128 * 1024
"""Total size from which the files are shared. Below it, a fork and the results' trip back cost
more than they save: lint checks about 10 MB/s, so 128 KB is about 12 ms of work."""


def shares(sizes: Sequence[int], count: int) -> list[list[int]]:
    """Indexes of the files for each of ``count`` workers, about equal in bytes: the largest file
    first, each to the lightest share so far. The first share is the one this process keeps."""
    loads = [0] * count
    out: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        lightest = loads.index(min(loads))
        out[lightest].append(index)
        loads[lightest] += sizes[index]
    return [sorted(share) for share in out]


def worker_count(files: Sequence[Path], sizes: Sequence[int]) -> int:
    """How many processes to use: every core once the files are large enough, and one where fork is
    missing (Windows) or unsafe (another thread is running: a fork copies only the calling one)."""
    if not hasattr(os, "fork") or other_threads():
        return 1
    if len(files) < 2 or sum(sizes) < PARALLEL_FROM_BYTES:
        return 1
    return max(1, min(cores(), len(files)))


def other_threads() -> bool:
    """Whether a thread besides this one runs (a fork would copy only this one)."""
    return threading.active_count() > 1


def cores() -> int:
    """The cores this process may run on (a container or ``taskset`` can allow fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run_shared(files: Sequence[Path], sizes: Sequence[int], work: Callable[[Path], Result]) -> list[Result]:
    """``work`` on every file, in the files' order, with ``worker_count`` processes."""
    count = worker_count(files, sizes)
    if count < 2:
        return [work(path) for path in files]
    parts = shares(sizes, count)
    pending: list[tuple[int, int, list[int]]] = []
    results: dict[int, Result] = {}
    try:
        for part in parts[1:]:
            forked = _fork(files, part, work)
            if forked is None:  # no process to be had: this one checks that share too
                parts[0].extend(part)
            else:
                pending.append((*forked, part))
        for index in parts[0]:
            results[index] = work(files[index])
        while pending:
            pid, read_end, part = pending.pop(0)
            got: list[Result] | None = _collect(pid, read_end, len(part))
            if got is None:  # the worker failed: its files are checked here
                got = [work(files[i]) for i in part]
            results.update(zip(part, got, strict=True))
    finally:
        for pid, read_end, _ in pending:  # interrupted: no worker outlives the run
            os.close(read_end)
            _reap(pid, kill=True)
    return [results[i] for i in range(len(files))]


def _fork(files: Sequence[Path], part: list[int], work: Callable[[Path], Result]) -> tuple[int, int] | None:
    """A worker for ``part``: its pid and the pipe's end to read; None when the system has no
    process or pipe to give (EAGAIN, ENOMEM, EMFILE)."""
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # the worker: check its share, send it back, and leave without running exit handlers
        code = 1
        try:
            import pickle

            os.close(read_end)
            payload = pickle.dumps([work(files[i]) for i in part], protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
            code = 0
        except BaseException:  # the parent checks these files itself
            pass
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, read_end


def _collect(pid: int, read_end: int, expected: int) -> list[Any] | None:
    """The worker's results, or None when it did not send them all. Closes the pipe and reaps the
    worker whatever happens (killed first when this process is interrupted while reading)."""
    complete = False
    try:
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        complete = True
    finally:
        exited = _reap(pid, kill=not complete)
    if exited != 0:
        return None
    import pickle  # here: a run that forks nothing does not pay for it

    try:
        got = pickle.loads(payload)  # our own child's bytes, through our own pipe
    except Exception:
        return None
    return got if isinstance(got, list) and len(got) == expected else None


def _reap(pid: int, *, kill: bool) -> int:
    """Wait for a worker (killing it first if asked): its exit code, negative for a signal."""
    if kill:
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
