"""Lint's forked workers: every result comes back, in order, whatever a worker does.

Real forks and pipes; a "file" here is a path whose work is a small function of this module,
so each test can make the worker that gets it fail in one precise way.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from nyxops.guard import workers

CORES = workers.cores()
needs_two_cores = pytest.mark.skipif(CORES < 2, reason="workers are forked only on a machine with two cores or more")


@pytest.fixture(autouse=True)
def always_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads other tests of the suite left behind (servers they started) do not count here: only
    those started during the test, as ``test_no_fork_while_another_thread_runs`` does."""
    monkeypatch.setattr(workers, "PARALLEL_FROM_BYTES", 0)
    before = threading.active_count()
    monkeypatch.setattr(workers, "other_threads", lambda: threading.active_count() > before)


def _files(count: int) -> tuple[list[Path], list[int]]:
    return [Path(f"{i:03d}.sql") for i in range(count)], [100 + i % 7 for i in range(count)]


def test_shares_cover_every_file_once_and_weigh_about_the_same() -> None:
    sizes = [900, 10, 10, 500, 400, 20, 30, 880, 5, 5, 300]
    parts = workers.shares(sizes, 3)
    assert sorted(i for part in parts for i in part) == list(range(len(sizes)))
    weights = [sum(sizes[i] for i in part) for part in parts]
    assert max(weights) - min(weights) <= max(sizes) // 2, weights


@needs_two_cores
def test_results_come_back_in_the_files_order_from_more_than_one_process() -> None:
    files, sizes = _files(40)
    results = workers.run_shared(files, sizes, lambda p: (p.name, os.getpid()))
    assert [name for name, _ in results] == [p.name for p in files]
    assert len({pid for _, pid in results}) == min(CORES, len(files))
    assert os.getpid() in {pid for _, pid in results}


def test_small_work_stays_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "PARALLEL_FROM_BYTES", 128 * 1024)
    files, sizes = _files(40)  # 4 KB together
    assert {pid for pid in workers.run_shared(files, sizes, lambda p: os.getpid())} == {os.getpid()}


def test_no_fork_while_another_thread_runs() -> None:
    """A fork copies only the calling thread: one holding a lock the work needs would hang the worker."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        files, sizes = _files(40)
        assert {pid for pid in workers.run_shared(files, sizes, lambda p: os.getpid())} == {os.getpid()}
    finally:
        stop.set()
        other.join()


@needs_two_cores
def test_a_worker_that_dies_has_its_files_checked_here() -> None:
    parent = os.getpid()

    def work(path: Path) -> tuple[str, int]:
        if os.getpid() != parent and path.name == "007.sql":
            os._exit(9)  # as if killed (out of memory) halfway through its share
        return path.name, os.getpid()

    files, sizes = _files(20)
    results = workers.run_shared(files, sizes, work)
    assert [name for name, _ in results] == [p.name for p in files]
    assert {pid for _, pid in results} == {parent}  # the dead worker sent nothing that was kept


@needs_two_cores
def test_a_bug_in_a_worker_shows_here_with_its_traceback() -> None:
    def work(path: Path) -> str:
        if path.name == "013.sql":
            raise ValueError(f"cannot check {path.name}")
        return path.name

    files, sizes = _files(20)
    with pytest.raises(ValueError, match="cannot check 013.sql"):
        workers.run_shared(files, sizes, work)


@needs_two_cores
def test_an_interrupted_run_leaves_no_worker_behind(tmp_path: Path) -> None:
    """Ctrl-C while a worker is busy: the worker is stopped and reaped before the interrupt goes on."""
    parent = os.getpid()
    started = tmp_path / "worker.pid"

    def work(path: Path) -> str:
        if os.getpid() != parent:
            (tmp_path / "pid.tmp").write_text(str(os.getpid()))
            os.replace(tmp_path / "pid.tmp", started)  # whole, or not there
            time.sleep(30)
        else:
            deadline = time.monotonic() + 10
            while not started.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            raise KeyboardInterrupt
        return path.name

    files, sizes = _files(4)
    begun = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        workers.run_shared(files, sizes, work)
    assert time.monotonic() - begun < 10
    pid = int(started.read_text())
    with pytest.raises(ChildProcessError):  # already reaped: not a zombie, not running
        os.waitpid(pid, os.WNOHANG)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_no_process_to_be_had_means_every_file_is_checked_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """fork failing with EAGAIN (a process limit reached): lint goes on alone rather than failing."""
    import errno

    def no_fork() -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(workers.os, "fork", no_fork)
    files, sizes = _files(40)
    results = workers.run_shared(files, sizes, lambda p: (p.name, os.getpid()))
    assert results == [(p.name, os.getpid()) for p in files]
