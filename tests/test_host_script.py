"""``tests/host/host.sh`` itself: what a developer meets after a run that was killed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers import REPO


def test_down_clears_up_after_a_run_killed_with_its_host(tmp_path: Path) -> None:
    """The host's unshare process is gone, its pid file stays: ``down`` (which ``up`` runs first)
    must still finish, or the next ``up`` meets the old namespace and fails."""
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer runs
    (tmp_path / "host-unshare.pid").write_text(f"{gone.pid}\n")
    (tmp_path / "live").mkdir()
    env = {**os.environ, "NYXOPS_HOST_CACHE": str(tmp_path), "NYXOPS_HOST_NS": "nyxops-test-no-such-ns"}
    done = subprocess.run(
        ["bash", str(REPO / "tests" / "host" / "host.sh"), "down"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "host down" in done.stderr
    assert not (tmp_path / "host-unshare.pid").exists() and not (tmp_path / "live").exists()
