"""The ``host`` and ``config`` stages applied for real, over real SSH, to a Debian 12 test host.

The host's own compose validates and normalizes the rendered file; the assertions read the host.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.deploy.conftest import SECRETS, Run, SshTestHost, pyinfra

STAGES = "host,config"


@pytest.fixture(scope="module")
def first_run(test_host: SshTestHost) -> Run:
    run = pyinfra(test_host.env(NYXOPS_STAGES=STAGES))
    assert run.code == 0, run.output[-4000:]
    return run


def test_first_run_provisions_the_host(first_run: Run, test_host: SshTestHost) -> None:
    results = first_run.results()
    assert results["config | App .env (secrets, 0600, never printed)"][0] == "1"
    installed = test_host.ssh("dpkg-query -W -f '${Package} ${Status}\\n' docker.io docker-compose nftables"
                              " unattended-upgrades git curl")  # fmt: skip
    assert installed.count("install ok installed") == 6, installed
    assert "docker" in test_host.ssh("id -nG deploy")
    rules = test_host.ssh("cat /etc/nftables.conf")
    assert "policy drop;" in rules and "tcp dport { 22, 80, 443 } accept" in rules
    assert 'APT::Periodic::Unattended-Upgrade "1";' in test_host.ssh("cat /etc/apt/apt.conf.d/20auto-upgrades")


def test_env_file_holds_the_secrets_mode_0600(first_run: Run, test_host: SshTestHost) -> None:
    assert test_host.ssh("stat -c '%a %U' /opt/nyxcore/.env").strip() == "600 root"
    env = test_host.ssh("cat /opt/nyxcore/.env")
    assert "ADMIN_SECRET='admin-secret-7a6b5c'" in env
    assert "DATABASE_URL='postgresql://nyxcore:pg-Pa55word%24with%23chars@db:5432/nyxcore'" in env
    assert "OLLAMA_BASE_URL='http://ollama:11434'" in env
    for secret in SECRETS.values():
        assert secret not in first_run.output


def test_hosts_compose_enforces_cpu_only_limits_and_loopback_ports(first_run: Run, test_host: SshTestHost) -> None:
    normalized = yaml.safe_load(
        test_host.ssh(
            "cd /opt/nyxcore && docker-compose -p nyxcore -f docker-compose.production.yml --profile ollama config"
        )
    )
    ollama = normalized["services"]["ollama"]
    assert ollama["cpus"] == 3.0
    assert ollama["mem_limit"] == 5_000_000_000
    assert ollama["profiles"] == ["ollama"]
    assert ollama["healthcheck"]["test"] == ["CMD", "ollama", "list"]
    assert ollama["restart"] == "unless-stopped"
    assert "ollama_data:/root/.ollama:rw" in ollama["volumes"]
    assert not any(key in ollama for key in ("devices", "runtime", "deploy"))  # CPU only
    for name, service in normalized["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_second_run_changes_nothing(first_run: Run, test_host: SshTestHost) -> None:
    before = test_host.state()
    again = pyinfra(test_host.env(NYXOPS_STAGES=STAGES))
    assert again.code == 0, again.output[-3000:]
    results = again.results()
    assert len(results) >= 11
    assert all(r == ("-", "-", "1") for r in results.values()), results
    assert test_host.state() == before
    print(f"no-change re-run of {STAGES}: {again.seconds:.1f}s for {len(results)} operations")


def test_rotated_secret_is_written_but_never_printed(first_run: Run, test_host: SshTestHost) -> None:
    rotated = "rotated-admin-secret-31337"
    run = pyinfra(test_host.env(NYXCORE_ADMIN_SECRET=rotated), "--data", "stages=config", "--diff", "-vvv")
    assert run.code == 0, run.output[-3000:]
    assert all(name.startswith("config | ") for name in run.results())  # --data stages=config ran that stage only
    assert run.results()["config | App .env (secrets, 0600, never printed)"][0] == "1"
    assert f"ADMIN_SECRET='{rotated}'" in test_host.ssh("cat /opt/nyxcore/.env")
    assert rotated not in run.output
    assert all(secret not in run.output for secret in SECRETS.values())
    restore = pyinfra(test_host.env(NYXOPS_STAGES="config"))
    assert restore.code == 0


def test_dry_run_shows_the_plan_and_changes_nothing(first_run: Run, test_host: SshTestHost) -> None:
    before = test_host.state()
    run = pyinfra(test_host.env(NYXOPS_STAGES=STAGES, NYXOPS_DISK_THRESHOLD="1"), "--dry")
    assert run.code == 0, run.output[-3000:]
    assert "Detected changes" in run.output
    disk = next(line for line in run.output.splitlines() if "host | Disk guard" in line)
    assert "1 (127.0.0.2)" in disk  # above a 1% threshold the prune would run
    assert test_host.state() == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"NYXCORE_ADMIN_SECRET": ""}, "missing secret(s): NYXCORE_ADMIN_SECRET"),
        ({"NYXOPS_OLLAMA_MEMORY_GB": "4"}, "ollama_memory_gb: qwen2.5:7b (default) needs about 4.7 GB"),
        ({"NYXOPS_DISK_THRESHOLD": "120"}, "disk_threshold: Input should be less than or equal to 100"),
        ({"NYXOPS_STAGES": "host,deploy"}, "unknown stage(s) deploy"),
    ],
    ids=["missing-secret", "limit-below-model", "bad-threshold", "bad-stage"],
)
def test_bad_host_data_stops_before_connecting(test_host: SshTestHost, first_run: Run, extra, message) -> None:
    before = test_host.state()
    run = pyinfra(test_host.env(**{"NYXOPS_STAGES": STAGES, **extra}))
    assert run.code == 2, run.output[-2000:]
    assert message in run.output
    assert "Connecting" not in run.output.split("nyxops inventory:")[-1]
    assert "ADMIN_SECRET is never derived from AUTH_SECRET" in run.output or "ADMIN" not in message
    assert test_host.state() == before


def test_template_rendering_invalid_yaml_changes_nothing(test_host: SshTestHost, first_run: Run) -> None:
    before = test_host.state()
    run = pyinfra(test_host.env(NYXOPS_STAGES="config", NYXOPS_DB_IMAGE="pgvector/pgvector: [pg16"))
    assert run.code != 0
    assert "docker-compose.production.yml.j2 renders invalid YAML at line" in run.output
    assert test_host.state() == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"NYXOPS_HOST": "127.0.0.3"}, "Could not connect ([Errno None] Unable to connect to port 2222 on 127.0.0.3)"),
        ({"NYXOPS_SSH_KEY": "WRONG"}, "Authentication failed"),
        ({"NYXOPS_SSH_KNOWN_HOSTS": "EMPTY"}, "No host key for [127.0.0.2]:2222 found in known_hosts"),
    ],
    ids=["unreachable", "wrong-key", "unknown-host-key"],
)
def test_connection_failures_are_clear_and_change_nothing(test_host: SshTestHost, first_run: Run, tmp_path, extra,
                                                          message) -> None:  # fmt: skip
    if extra.get("NYXOPS_SSH_KEY") == "WRONG":
        key = tmp_path / "other_key"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, stdin=subprocess.DEVNULL
        )
        extra = {"NYXOPS_SSH_KEY": str(key)}
    if extra.get("NYXOPS_SSH_KNOWN_HOSTS") == "EMPTY":
        (tmp_path / "known_hosts").write_text("")
        extra = {"NYXOPS_SSH_KNOWN_HOSTS": str(tmp_path / "known_hosts")}
    before = test_host.state()
    run = pyinfra(test_host.env(NYXOPS_STAGES=STAGES, **extra), timeout=120)
    assert run.code != 0
    assert "No hosts remaining" in run.output, run.output[-2000:]
    assert message in run.output, run.output[-2000:]
    assert test_host.state() == before
