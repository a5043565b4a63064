"""The deploy lock and the audit log against a real POSIX shell (this machine's ``sh``), no host needed.

The same scripts run on the host over SSH in the real-host tests; here the races and the edge cases
are cheap to provoke: many takers at once, a lock file that is not nyxops', a secret in an error.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest

from nyxops.errors import DeployLocked
from nyxops.release import audit, lock
from nyxops.release.layout import Layout
from nyxops.release.shell import Ran


class LocalShell:
    name = "local"

    def sh(self, script: str, timeout: float = 300) -> Ran:
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=timeout)
        return Ran(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def where(tmp_path: Path) -> Layout:
    return Layout(str(tmp_path / "app"), "nyxcore")


def test_only_one_of_many_simultaneous_takers_gets_the_lock(where: Layout) -> None:
    won: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(8)

    def take(n: int) -> None:
        holder = lock.Holder("deploy", ref="production", who=f"op{n}")
        start.wait()
        try:
            lock.acquire(LocalShell(), where, holder)
            won.append(holder.who)
        except DeployLocked as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=take, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 7
    assert all(f"held: {won[0]} on " in text and "deploy of production" in text for text in refused)
    held = lock.status(LocalShell(), where)
    assert held is not None and held.who == won[0]
    assert list(Path(where.state).iterdir()) == [Path(where.lock)]  # no temporary file left behind


def test_release_removes_only_its_own_lock_unless_deliberate(where: Layout) -> None:
    mine = lock.Holder("deploy", who="alice")
    lock.acquire(LocalShell(), where, mine)
    assert lock.release(LocalShell(), where, "someone-else") is None
    assert lock.status(LocalShell(), where) is not None
    gone = lock.release(LocalShell(), where)  # nyxops lock release: whoever holds it
    assert gone is not None and gone.who == "alice" and lock.status(LocalShell(), where) is None


def test_waiting_takes_the_lock_once_it_is_released(where: Layout) -> None:
    lock.acquire(LocalShell(), where, lock.Holder("deploy", who="alice"))
    timer = threading.Timer(0.6, lambda: lock.release(LocalShell(), where))
    timer.start()
    lock.acquire(LocalShell(), where, lock.Holder("deploy", who="bob"), wait=10, poll=0.2)
    held = lock.status(LocalShell(), where)
    assert held is not None and held.who == "bob"
    with pytest.raises(DeployLocked, match="after waiting"):
        lock.acquire(LocalShell(), where, lock.Holder("deploy", who="carol"), wait=0.5, poll=0.2)


def test_an_old_lock_is_called_what_it_probably_is(where: Layout) -> None:
    lock.acquire(LocalShell(), where, lock.Holder("deploy", who="alice", at="2026-11-30T01:00:00Z"))
    with pytest.raises(DeployLocked) as raised:
        lock.acquire(LocalShell(), where, lock.Holder("deploy", who="bob"))
    assert "h ago" in str(raised.value) and "left by a deploy that was killed" in str(raised.value)


def test_a_lock_file_that_is_not_nyxops_is_reported_not_trusted(where: Layout) -> None:
    Path(where.state).mkdir(parents=True)
    Path(where.lock).write_text("garbage, not json\n")
    with pytest.raises(DeployLocked, match="the lock file is not nyxops'"):
        lock.acquire(LocalShell(), where, lock.Holder("deploy"))


def test_audit_lines_are_json_appended_with_secrets_scrubbed(where: Layout) -> None:
    secret = "pg-Pa55word$with#chars"
    url = "postgresql://nyxcore:pg-Pa55word%24with%23chars@127.0.0.1/nyxcore"  # the password as a URL carries it
    audit.append(LocalShell(), where, [{"event": "deploy", "error": f"failed: password={secret} {url}"}], [secret])
    audit.append(LocalShell(), where, [{"event": "stage", "stage": 'it\'s "quoted" $HOME `id`'}], [secret])
    text = Path(where.audit).read_text()
    assert secret not in text and "Pa55word" not in text and text.count("\n") == 2
    first, second = audit.last(LocalShell(), where, 10)
    assert (
        first["error"] == "failed: password=*** postgresql://nyxcore:***@127.0.0.1/nyxcore"
        and second["stage"] == 'it\'s "quoted" $HOME `id`'
    )
    assert oct(Path(where.audit).stat().st_mode)[-3:] == "600"
    assert json.loads(text.splitlines()[0])["at"].endswith("Z")
