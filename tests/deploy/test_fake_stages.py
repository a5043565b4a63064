"""Stages that need a running Docker engine, run whole through pyinfra's ``@fake`` connector.

No Docker engine can run on these machines and no image can be pulled, so the host's answers are
scripted (compose hashes, containers, ``ollama list``, disk usage) and the assertions are on the
commands pyinfra would send: models present produce no pull, unchanged services no ``up``, a disk
below the threshold no prune. The release stage's migrations go through a real SSH tunnel.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import psycopg
import pytest

from tests.deploy.conftest import SECRETS, pyinfra

HASHES = ["app a1", "db d1", "ollama o1"]
RUNNING = ["app|a1|running", "db|d1|running", "ollama|o1|running"]
MODELS = [
    "NAME ID SIZE MODIFIED",
    "qwen2.5:7b 845d 4.7 GB now",
    "qwen2.5:3b 357c 1.9 GB now",
    "llama3.2:3b a80c 2.0 GB now",
]


def _run(tmp_path: Path, responses: list, stages: str, **extra: str):
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"responses": responses}))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NYXOPS_", "NYXCORE_"))}
    env = {**base, **SECRETS, "NYXOPS_FAKE_SCENARIO": str(scenario), "NYXOPS_STAGES": stages, **extra}
    return pyinfra(env, "-vv", inventory="tests/deploy/fake_inventory.py")


def _sent(output: str) -> list[str]:
    return [line.split(">>> ", 1)[1] for line in output.splitlines() if ">>> " in line]


def test_ollama_nothing_to_do(tmp_path: Path) -> None:
    run = _run(tmp_path, [["config --hash", HASHES], ["docker ps -a", RUNNING], ["ollama list", MODELS]], "ollama")
    assert run.code == 0, run.output[-3000:]
    results = run.results()
    assert results["ollama | Ollama service (profile ollama, CPU only, limits from host data)"] == ("-", "-", "1")
    assert results["ollama | Ollama models (only the missing ones)"] == ("-", "-", "1")
    sent = _sent(run.output)
    assert any("ollama list" in c for c in sent) and any("config --hash" in c for c in sent)  # the facts were read
    assert not any(" up -d" in c or "ollama pull" in c or "docker inspect" in c for c in sent), sent


def test_ollama_first_deploy(tmp_path: Path) -> None:
    run = _run(tmp_path, [["config --hash", HASHES], ["docker ps -a", []], ["ollama list", []]], "ollama")
    assert run.code == 0, run.output[-3000:]
    sent = _sent(run.output)
    up = [c for c in sent if " up -d" in c]
    assert up == ["cd /opt/nyxcore && docker compose -p nyxcore -f docker-compose.production.yml --profile ollama"
                  " up -d --no-deps ollama"]  # fmt: skip
    assert any("docker inspect -f '{{.State.Health.Status}}' nyxcore-ollama-1" in c for c in sent)
    pulls = [c for c in sent if "ollama pull" in c]
    assert pulls == [
        f"docker exec nyxcore-ollama-1 ollama pull {m}" for m in ("qwen2.5:7b", "qwen2.5:3b", "llama3.2:3b")
    ]


def test_ollama_changed_limits_recreate_only_ollama_and_skip_a_model_too_large(tmp_path: Path) -> None:
    responses = [
        ["config --hash", ["app a1", "db d1", "ollama o2"]],
        ["docker ps -a", RUNNING],
        ["ollama list", MODELS[:3]],
    ]
    run = _run(tmp_path, responses, "ollama", NYXOPS_OLLAMA_MEMORY_GB="4.8", NYXOPS_OLLAMA_CPUS="2",
               NYXOPS_MODELS='[{"name": "qwen2.5:7b", "role": "default", "size_gb": 4.7},'
                             ' {"name": "qwen2.5:3b", "role": "fast", "size_gb": 1.9},'
                             ' {"name": "big:70b", "role": "optional", "size_gb": 40}]')  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    sent = _sent(run.output)
    assert next(c for c in sent if " up -d" in c).endswith("up -d --no-deps ollama")
    assert not any("pull" in c for c in sent)  # both fitting models present; the 40 GB one is never pulled
    assert "optional model big:70b (40.0 GB) does not fit 4.8 GB" in run.output


def test_host_stage_with_dockers_repository_firewall_and_full_disk(tmp_path: Path) -> None:
    df = ["Filesystem 1024-blocks Used Available Capacity Mounted on", "/dev/sda1 157208536 130482384 20283780 83% /"]
    os_release = ["ID=debian", "VERSION_CODENAME=bookworm"]
    responses = [["df -P /", df], ["os-release", os_release]]
    run = _run(tmp_path, responses, "host", NYXOPS_DOCKER_SOURCE="docker", NYXOPS_FIREWALL_APPLY="true")
    assert run.code == 0, run.output[-3000:]
    sent = "\n".join(_sent(run.output))
    assert "https://download.docker.com/linux/debian/gpg" in sent
    assert "docker-ce" in sent and "docker-compose-plugin" in sent
    assert "nft -f /etc/nftables.conf" in sent
    assert "docker image prune --all --force" in sent and "disk was 83%" in sent


def test_host_stage_disk_below_threshold_prunes_nothing(tmp_path: Path) -> None:
    df = ["Filesystem 1024-blocks Used Available Capacity Mounted on", "/dev/sda1 157208536 20482384 130283780 13% /"]
    run = _run(tmp_path, [["df -P /", df]], "host", NYXOPS_DOCKER_SOURCE="debian")
    assert run.code == 0, run.output[-3000:]
    assert run.results()["host | Disk guard"] == ("-", "-", "1")
    assert "prune" not in "\n".join(_sent(run.output))


@pytest.fixture
def tunnel_env(env, db_url, test_host):
    from urllib.parse import parse_qs, urlsplit

    from tests.bridge import TcpToUnix

    socket_dir = parse_qs(urlsplit(db_url).query)["host"][0]
    bridge = TcpToUnix(Path(socket_dir) / ".s.PGSQL.5432")
    yield {
        "NYXOPS_TUNNEL_HOST": test_host.address, "NYXOPS_SSH_PORT": str(test_host.port),
        "NYXOPS_SSH_KEY": str(test_host.key), "NYXOPS_SSH_KNOWN_HOSTS": str(test_host.known_hosts),
        "NYXOPS_DB_PORT": str(bridge.port), "database": urlsplit(db_url).path.lstrip("/"),
    }  # fmt: skip
    bridge.close()


def test_release_builds_migrates_through_a_real_tunnel_and_restarts(tmp_path: Path, tunnel_env, db_url) -> None:
    from tests.helpers import scalar

    database = tunnel_env.pop("database")
    admin_url = db_url.replace(f"/{database}?", "/postgres?")
    with psycopg.connect(admin_url, autocommit=True) as conn:  # the app's role and database name on the "host"
        conn.execute(
            "DO $$ BEGIN CREATE ROLE nyxcore LOGIN SUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        conn.execute(f'ALTER DATABASE "{database}" RENAME TO nyxcore')
    try:
        responses = [["config --hash", HASHES], ["docker ps -a", RUNNING], [re.compile("git").pattern, []]]
        run = _run(tmp_path, responses, "release", **tunnel_env)
        assert run.code == 0, run.output[-4000:]
        sent = "\n".join(_sent(run.output))
        assert "docker compose -p nyxcore -f docker-compose.production.yml build app" in sent
        assert "up -d --no-deps --force-recreate app" in sent
        results = run.results()
        assert results["release | Migrations (guarded runner, SSH tunnel)"][0] == "1"
        nyx_url = db_url.replace(f"/{database}?", "/nyxcore?")
        assert scalar(nyx_url, "SELECT count(*) FROM nyxops.schema_migrations") == 3
        assert scalar(nyx_url, "SELECT count(embedding) FROM workflow_insights") == 382
        again = _run(tmp_path, responses, "release", **tunnel_env)
        assert again.results()["release | Migrations (guarded runner, SSH tunnel)"] == ("-", "-", "1")
        assert all(secret not in run.output + again.output for secret in SECRETS.values())
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE nyxcore RENAME TO "{database}"')


def test_verify_stage_fails_the_deploy_when_a_check_fails(tmp_path: Path, tunnel_env, db_url) -> None:
    """The verify stage runs ``nyxops verify`` through tunnels to the host; a failing check fails the deploy."""
    database = tunnel_env.pop("database")
    admin_url = db_url.replace(f"/{database}?", "/postgres?")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "DO $$ BEGIN CREATE ROLE nyxcore LOGIN SUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        conn.execute(f'ALTER DATABASE "{database}" RENAME TO nyxcore')
    try:
        run = _run(tmp_path, [], "verify", NYXOPS_VERIFY_WAIT="0", **tunnel_env)
        assert run.code != 0
        assert "post-deploy verification failed" in run.output
        assert "0001_project_syncs.sql: pending" in run.output  # the migrations check, read through the tunnel
        assert all(secret not in run.output for secret in SECRETS.values())
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE nyxcore RENAME TO "{database}"')
