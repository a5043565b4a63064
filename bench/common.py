"""Shared by the benchmarks: an embedded server, fresh databases, timing of whole processes side by side.

These machines are noisy: every comparison runs its contenders alternately, round after round,
in one process, and reports the ratio of their medians (never an absolute time as a pass/fail).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from nyxops.embedded import embedded_postgres, load_fixture
from nyxops.names import with_database

REPO = Path(__file__).resolve().parents[1]


def server() -> AbstractContextManager[str]:
    return embedded_postgres("nyxbench-")


@contextmanager
def fresh_database(admin_url: str, seed: bool = True) -> Iterator[str]:
    """A new database, dropped afterwards: its dirty pages are discarded, not written during the next contender."""
    name = "b_" + uuid.uuid4().hex[:10]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = with_database(admin_url, name)
        if seed:
            load_fixture(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


class ContenderFailed(RuntimeError):
    """A measured command ended with an exit code it should not have: its time measures a failure."""


def timed(command: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> float:
    """The wall time of one run of ``command``, refused unless it exited with one of ``ok``.

    Why: a contender that fails at once (a wrong setting, a crash) looks fast, and a ratio built on
    it is a false figure; its standard error is shown instead (read after the clock stops).
    """
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in ok:
        tail = done.stderr.decode(errors="replace").strip()[-2000:]
        raise ContenderFailed(f"{' '.join(command[:3])} … exited {done.returncode} (expected {ok}):\n{tail}")
    return elapsed


@dataclass
class Comparison:
    name: str
    ours: list[float]
    theirs: list[float]
    against: str
    target: str
    speedup: bool = False  # report theirs/ours ("x faster") instead of ours/theirs

    @property
    def ratio(self) -> float:
        ours, theirs = statistics.median(self.ours), statistics.median(self.theirs)
        return theirs / ours if self.speedup else ours / theirs

    def row(self) -> str:
        ours, theirs = statistics.median(self.ours), statistics.median(self.theirs)
        places = 0 if self.ratio >= 10 else 1
        label = f"**{self.ratio:.{places}f}x faster**" if self.speedup else f"**{self.ratio:.2f}x**"
        return f"| {self.name} | {ours:.2f} s | {self.against}: {theirs:.2f} s | {label} | {self.target} |"


def alternate(rounds: int, ours: Callable[[], float], theirs: Callable[[], float]) -> tuple[list[float], list[float]]:
    ours(), theirs()  # a round not counted: files in the page cache, both programs loaded once
    a: list[float] = []
    b: list[float] = []
    for i in range(rounds):
        if i % 2:
            b.append(theirs())
            a.append(ours())
        else:
            a.append(ours())
            b.append(theirs())
    return a, b


@contextmanager
def provider_process(delay: float = 0.0, dimension: int = 1536) -> Iterator[str]:
    """The fake OpenAI server in its own process, so it never competes with the measured code for the GIL."""
    code = (
        "import sys, time\n"
        "from tests.fakes import Faults, FakeOpenAI\n"
        f"p = FakeOpenAI(Faults(delay={delay}, dimension={dimension})).__enter__()\n"
        "print(p.url, flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.kill()
        proc.wait()
