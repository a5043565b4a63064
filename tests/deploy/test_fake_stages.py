"""What the real test host cannot show, run through pyinfra's ``@fake`` connector, at the level of commands.

The test host installs Debian's docker.io (Docker's own apt repository is out of reach here), so the
``docker_source=docker`` path of the host stage is checked here: the key, the repository, the packages.
Everything else in the deploy runs for real against the test host (test_real_deploy.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.deploy.conftest import SECRETS, pyinfra

NPROC = ["4", "MemTotal:       16000000 kB"]


def _run(tmp_path: Path, responses: list, stages: str, **extra: str):
    scenario = tmp_path / "scenario.json"
    lock = ["nyxops-lock:acquired", ["nyxops-lock:acquired"]]  # the deploy lock's script, answered as a free lock
    scenario.write_text(json.dumps({"responses": [*responses, lock]}))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NYXOPS_", "NYXCORE_"))}
    env = {**base, **SECRETS, "NYXOPS_FAKE_SCENARIO": str(scenario), "NYXOPS_STAGES": stages, **extra}
    return pyinfra(env, "-vv", inventory="tests/deploy/fake_inventory.py")


def _sent(output: str) -> list[str]:
    return [line.split(">>> ", 1)[1] for line in output.splitlines() if ">>> " in line]


def test_host_stage_with_dockers_repository_firewall_and_full_disk(tmp_path: Path) -> None:
    df = ["Filesystem 1024-blocks Used Available Capacity Mounted on", "/dev/sda1 157208536 130482384 20283780 83% /"]
    os_release = ["ID=debian", "VERSION_CODENAME=bookworm"]
    responses = [["df -P /", df], ["os-release", os_release], ["nproc", NPROC]]
    run = _run(
        tmp_path, responses, "host", NYXOPS_DOCKER_SOURCE="docker", NYXOPS_FIREWALL_APPLY="true", NYXOPS_OLLAMA_CPUS="1"
    )
    assert run.code == 0, run.output[-3000:]
    sent = "\n".join(_sent(run.output))
    assert "https://download.docker.com/linux/debian/gpg" in sent
    assert "docker-ce" in sent and "docker-compose-plugin" in sent
    assert "nft -f /etc/nftables.conf" in sent
    assert run.results()["host | Disk guard"][0] == "1"  # what it prunes is tested on the real host


def test_host_stage_disk_below_threshold_prunes_nothing(tmp_path: Path) -> None:
    df = ["Filesystem 1024-blocks Used Available Capacity Mounted on", "/dev/sda1 157208536 20482384 130283780 13% /"]
    run = _run(
        tmp_path, [["df -P /", df], ["nproc", NPROC]], "host", NYXOPS_DOCKER_SOURCE="debian", NYXOPS_OLLAMA_CPUS="1"
    )
    assert run.code == 0, run.output[-3000:]
    assert run.results()["host | Disk guard"] == ("-", "-", "1")
    assert "prune" not in "\n".join(_sent(run.output))
