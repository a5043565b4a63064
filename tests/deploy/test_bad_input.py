"""Bad input to the deploy, against the test host: a clear message, and nothing on the host changed."""

from __future__ import annotations

import subprocess

import pytest

from tests.deploy.conftest import LiveHost, pyinfra
from tests.helpers import nyxops

STAGES = "host,config"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"NYXCORE_ADMIN_SECRET": ""}, "missing secret(s): NYXCORE_ADMIN_SECRET"),
        ({"NYXOPS_OLLAMA_MEMORY": "4G"}, "qwen2.5:7b (default) needs about 4.8 GiB (4.4 GiB weights + 224 MiB KV"),
        ({"NYXOPS_OLLAMA_MEMORY": "5 gigs"}, "'5 gigs' is not a memory size; write it as compose does"),
        ({"NYXOPS_DISK_THRESHOLD": "120"}, "disk_threshold: Input should be less than or equal to 100"),
        ({"NYXOPS_STAGES": "host,deploy"}, "unknown stage(s) deploy"),
        ({"NYXOPS_RESTORE_BACKUP": "/nonexistent.dump"}, "restore_backup: /nonexistent.dump is not a file"),
        ({"NYXOPS_TLS": "letsencrypt"}, "tls: Input should be 'acme' or 'internal'"),
        ({"NYXOPS_DOMAIN": "https://nyxcore.cloud"}, "domain: String should match pattern"),
        ({"NYXOPS_KEEP_RELEASES": "1"}, "keep_releases: Input should be greater than or equal to 2"),
    ],
    ids=[
        "missing-secret",
        "limit-below-model",
        "bad-memory-size",
        "bad-threshold",
        "bad-stage",
        "no-backup-file",
        "bad-tls",
        "url-as-domain",
        "no-release-to-roll-back-to",
    ],
)
def test_bad_host_data_stops_before_connecting(test_host: LiveHost, extra, message) -> None:
    before = test_host.state()
    run = pyinfra(test_host.env(**{"NYXOPS_STAGES": STAGES, **extra}))
    assert run.code == 2, run.output[-2000:]
    assert message in run.output, run.output[-2000:]
    assert "Connecting" not in run.output.split("nyxops inventory:")[-1]
    assert "ADMIN_SECRET is never derived from AUTH_SECRET" in run.output or "ADMIN" not in message
    assert test_host.state() == before


def test_template_rendering_invalid_yaml_changes_nothing(test_host: LiveHost) -> None:
    before = test_host.state()
    run = pyinfra(test_host.env(NYXOPS_STAGES="config", NYXOPS_DB_IMAGE="pgvector/pgvector: [pg16"))
    assert run.code != 0
    assert "docker-compose.production.yml.j2 renders invalid YAML at line" in run.output
    assert test_host.state() == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"NYXOPS_HOST": "127.0.0.3"}, "Could not connect ([Errno None] Unable to connect to port 22 on 127.0.0.3)"),
        ({"NYXOPS_SSH_KEY": "WRONG"}, "Authentication failed"),
        ({"NYXOPS_SSH_KNOWN_HOSTS": "EMPTY"}, "No host key for 10.231.77.2 found in known_hosts"),
    ],
    ids=["unreachable", "wrong-key", "unknown-host-key"],
)
def test_connection_failures_are_clear_and_change_nothing(test_host: LiveHost, tmp_path, extra, message) -> None:
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


def test_tunnel_refuses_an_unknown_host_key(test_host: LiveHost, tmp_path) -> None:
    (tmp_path / "known_hosts").write_text("")
    env = {**test_host.operator_env(), "NYXOPS_SSH_KNOWN_HOSTS": str(tmp_path / "known_hosts"), "HOME": str(tmp_path)}
    result = nyxops("migrate", "status", "--tunnel", "--dir", "migrations", env=env)
    assert result.code == 1
    assert "the host's key is not in known_hosts, so it cannot be trusted" in result.stderr


def test_tunnel_to_an_unreachable_port(test_host: LiveHost) -> None:
    env = {**test_host.operator_env(), "NYXOPS_SSH_PORT": "2299"}
    result = nyxops("migrate", "status", "--tunnel", "--dir", "migrations", env=env)
    assert result.code == 1 and f"{test_host.address}:2299: unreachable" in result.stderr
