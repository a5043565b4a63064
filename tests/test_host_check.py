"""The ``host`` check's reading of ``df`` and ``docker ps`` (the real SSH runs are in deploy/test_tunnel)."""

from __future__ import annotations

from nyxops.config import load_settings
from nyxops.errors import RemoteError
from nyxops.verify import Context
from nyxops.verify.runner import default_checks_dir, discover, run_checks


class Answers:
    def __init__(self, disk: str, ps: str | None) -> None:
        self.disk, self.ps = disk, ps

    def run(self, argv: list[str], timeout: float = 60) -> str:
        if argv[0] == "df":
            return f"Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 100 83 17 {self.disk} /\n"
        if self.ps is None:
            raise RemoteError("docker failed on prod (127): docker: not found")
        return self.ps


def _host(remote: Answers):
    ctx = Context(load_settings(), None, "http://127.0.0.1:1", None, remote=remote)
    [result] = run_checks(ctx, discover(default_checks_dir()), ["host"])
    return result


def test_disk_above_threshold_and_unhealthy_service() -> None:
    ps = "app\trunning\tUp 5 minutes (healthy)\ndb\trunning\tUp 5 minutes\nollama\trunning\tUp 1 minute (unhealthy)\n"
    result = _host(Answers("83%", ps))
    assert result.status == "fail"
    assert "root filesystem 83% used, above 80%" in result.reason
    assert "service ollama is running (unhealthy)" in result.reason


def test_healthy_host_and_a_starting_service() -> None:
    result = _host(Answers("13%", "app\trunning\tUp 2 hours (healthy)\ndb\trunning\tUp 2 hours\n"))
    assert result.status == "pass" and result.figures["services"] == {"app": "running (healthy)", "db": "running"}
    starting = _host(Answers("13%", "app\trunning\tUp 3 seconds (health: starting)\n"))
    assert starting.status == "fail" and "service app is running (health: starting)" in starting.reason
    assert "no services in compose project nyxcore" in _host(Answers("13%", "")).reason


def test_no_host_configured_skips() -> None:
    ctx = Context(load_settings(), None, "http://127.0.0.1:1", None)
    [result] = run_checks(ctx, discover(default_checks_dir()), ["host"])
    assert result.status == "skip" and "NYXOPS_HOST" in result.reason


def test_a_crashing_check_is_a_failure_with_its_reason(tmp_path) -> None:
    (tmp_path / "broken.py").write_text("NAME = 'broken'\nTIMEOUT = 5\n\ndef run(ctx):\n    raise KeyError('models')\n")
    (tmp_path / "slow.py").write_text("import time\nNAME = 'slow'\nTIMEOUT = 0.2\n\ndef run(ctx):\n    time.sleep(2)\n")
    ctx = Context(load_settings(), None, "http://127.0.0.1:1", None)
    results = {r.name: r for r in run_checks(ctx, discover(tmp_path))}
    assert results["broken"].status == "fail" and results["broken"].reason == "check crashed: KeyError: 'models'"
    assert results["slow"].status == "fail" and results["slow"].reason == "timed out after 0.2s"
