"""SSH tunnels for real: through the test host's sshd to services on this machine's loopback.

The test host is a chroot sharing this machine's network, so its 127.0.0.1 is ours: a tunnel
to its loopback port reaches the embedded PostgreSQL (through a TCP bridge to its socket), and
the fake Ollama and app servers, exactly as a tunnel to production reaches ``db`` and ``ollama``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.bridge import TcpToUnix
from tests.deploy.conftest import SshTestHost
from tests.fakes import FakeOllama, OllamaModelSpec
from tests.helpers import nyxops, scalar
from tests.test_verify import GB, FakeApp


@pytest.fixture
def bridge(db_url: str) -> Iterator[TcpToUnix]:
    socket_dir = parse_qs(urlsplit(db_url).query)["host"][0]
    b = TcpToUnix(__import__("pathlib").Path(socket_dir) / ".s.PGSQL.5432")
    yield b
    b.close()


def _ssh_env(env: dict[str, str], host: SshTestHost, bridge: TcpToUnix, db_url: str) -> dict[str, str]:
    database = urlsplit(db_url).path.lstrip("/")
    out = {k: v for k, v in env.items() if k != "DATABASE_URL"}
    out.update({
        "NYXOPS_HOST": host.address, "NYXOPS_SSH_PORT": str(host.port), "NYXOPS_SSH_USER": "root",
        "NYXOPS_SSH_KEY": str(host.key), "NYXOPS_SSH_KNOWN_HOSTS": str(host.known_hosts),
        "NYXOPS_REMOTE_DB_PORT": str(bridge.port),
        "NYXOPS_REMOTE_DATABASE_URL": f"postgresql://postgres:unused-pass@127.0.0.1:5432/{database}",
    })  # fmt: skip
    return out


def test_migrate_apply_over_the_tunnel(env, db_url, test_host: SshTestHost, bridge: TcpToUnix) -> None:
    ssh_env = _ssh_env(env, test_host, bridge, db_url)
    status = nyxops("migrate", "status", "--tunnel", "--json", env=ssh_env)
    assert status.code == 0, status.output
    assert [s["state"] for s in json.loads(status.stdout)] == ["pending"] * 3
    result = nyxops("migrate", "apply", "--tunnel", env=ssh_env)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations") == 3
    assert scalar(db_url, "SELECT count(embedding) FROM workflow_insights") == 382
    assert scalar(db_url, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'nyxops%%'") == 0
    assert "unused-pass" not in result.output


def test_tunnel_refuses_unknown_host_key(env, db_url, test_host: SshTestHost, bridge: TcpToUnix, tmp_path) -> None:
    (tmp_path / "known_hosts").write_text("")
    ssh_env = {**_ssh_env(env, test_host, bridge, db_url), "NYXOPS_SSH_KNOWN_HOSTS": str(tmp_path / "known_hosts")}
    ssh_env["HOME"] = str(tmp_path)  # no ~/.ssh/known_hosts to fall back on
    result = nyxops("migrate", "status", "--tunnel", env=ssh_env)
    assert result.code == 1
    assert "the host's key is not in known_hosts, so it cannot be trusted" in result.stderr


def test_tunnel_to_unreachable_host(env, db_url, test_host: SshTestHost, bridge: TcpToUnix) -> None:
    ssh_env = {**_ssh_env(env, test_host, bridge, db_url), "NYXOPS_SSH_PORT": "2299"}
    result = nyxops("migrate", "status", "--tunnel", env=ssh_env)
    assert result.code == 1 and "127.0.0.2:2299: unreachable" in result.stderr


def test_verify_through_tunnels(env, db_url, test_host: SshTestHost, bridge: TcpToUnix) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    assert nyxops("protect", "install", env=env).code == 0
    app = FakeApp()
    models = [OllamaModelSpec("qwen2.5:7b", int(4.7 * GB)), OllamaModelSpec("qwen2.5:3b", int(1.9 * GB))]
    try:
        with FakeOllama(models=models) as ollama:
            ssh_env = _ssh_env(env, test_host, bridge, db_url)
            ssh_env.update({"NYXOPS_REMOTE_OLLAMA_PORT": str(ollama.port),
                            "NYXOPS_REMOTE_APP_PORT": app.url.split(":")[2].split("/")[0]})  # fmt: skip
            result = nyxops("verify", "--json", "--only", "schema", "--only", "embeddings", "--only", "migrations",
                            "--only", "ollama", "--only", "app", "--only", "host", env=ssh_env)  # fmt: skip
            assert ollama.record.paths["/api/chat"] == 1  # the chat really went through the tunnel
    finally:
        app.close()
    results = {r["name"]: r for r in json.loads(result.stdout)}
    for name in ("schema", "embeddings", "migrations", "ollama", "app"):
        assert results[name]["status"] == "pass", results[name]
    # The host check ran over SSH for real: the disk figure is the test host's; it has no Docker engine.
    assert results["host"]["status"] == "fail"
    assert 0 < results["host"]["figures"]["disk_used_percent"] <= 100
    assert "compose services unknown: docker failed on 127.0.0.2" in results["host"]["reason"]


def test_script_copied_into_a_container_and_run_with_an_argument_list(test_host: SshTestHost, tmp_path) -> None:
    """No quoted one-liners: the file is copied in (``docker cp``) and run with ``docker exec -w`` and argv.

    The test host has no Docker engine, so a stand-in ``docker`` on its PATH records what it is asked
    and plays the container with a folder; SSH, the file transfer and the quoting are real.
    """
    from nyxops.config import load_settings
    from nyxops.remote import Host

    shim = (
        "#!/bin/sh\n"
        'printf "%s\\n" "$@" >> /tmp/docker-argv.log\n'
        'if [ "$1" = cp ]; then mkdir -p /tmp/container/tmp && cp "$2" "/tmp/container${3#*:}"; exit 0; fi\n'
        'if [ "$1" = exec ]; then shift 4; cd /tmp/container/tmp && exec "$@"; fi\n'
    )
    test_host.ssh(
        f"cat > /usr/local/bin/docker <<'EOF'\n{shim}EOF\nchmod 755 /usr/local/bin/docker; rm -f /tmp/docker-argv.log"
    )
    script = tmp_path / "diagnose.sh"
    script.write_text('#!/bin/sh\nprintf "arg=[%s]\\n" "$@"\n')
    script.chmod(0o755)
    settings = load_settings(host=test_host.address, ssh_port=test_host.port, ssh_key=test_host.key,
                             ssh_known_hosts=test_host.known_hosts)  # fmt: skip
    host = Host(settings).open()
    try:
        tricky = 'it\'s; $(rm -rf /) "quoted"'
        output = host.copy_and_exec(script, "nyxcore-app-1", ["sh", "diagnose.sh", tricky, "two"])
    finally:
        host.close()
        test_host.ssh("rm -f /usr/local/bin/docker")
    assert output.splitlines() == [f"arg=[{tricky}]", "arg=[two]"]
    argv = test_host.ssh("cat /tmp/docker-argv.log").splitlines()
    assert argv[:3] == ["cp", "/tmp/nyxops-diagnose.sh", "nyxcore-app-1:/tmp/diagnose.sh"]
    assert argv[3:8] == ["exec", "-w", "/tmp", "nyxcore-app-1", "sh"]
    assert test_host.ssh("ls /tmp/nyxops-diagnose.sh 2>/dev/null; echo done").strip() == "done"  # temp file removed


def test_host_check_reads_compose_services_over_ssh(env, db_url, test_host: SshTestHost, bridge: TcpToUnix) -> None:
    """``docker ps`` with compose's labels: the same command for compose v2 and Debian's docker-compose 1.29.

    The test host has no Docker engine, so a stand-in ``docker`` answers as ``docker ps`` does and
    records its arguments; SSH, the quoting of the Go template and the parsing are real.
    """
    shim = (
        "#!/bin/sh\n"
        'printf "%s\\n" "$@" > /tmp/docker-ps-argv.log\n'
        "printf 'app\\trunning\\tUp 2 hours (healthy)\\n"
        "ollama\\trunning\\tUp 2 hours (unhealthy)\\n"
        "db\\texited\\tExited (1) 3 minutes ago\\n'\n"
    )
    test_host.ssh(f"cat > /usr/local/bin/docker <<'EOF'\n{shim}EOF\nchmod 755 /usr/local/bin/docker")
    try:
        result = nyxops("verify", "--json", "--only", "host", env=_ssh_env(env, test_host, bridge, db_url))
        argv = test_host.ssh("cat /tmp/docker-ps-argv.log").splitlines()
    finally:
        test_host.ssh("rm -f /usr/local/bin/docker /tmp/docker-ps-argv.log")
    [host] = json.loads(result.stdout)
    assert host["figures"]["services"] == {"app": "running (healthy)", "ollama": "running (unhealthy)", "db": "exited"}
    assert host["status"] == "fail"
    assert "service ollama is running (unhealthy)" in host["reason"] and "service db is exited" in host["reason"]
    assert argv == ["ps", "--all", "--filter", "label=com.docker.compose.project=nyxcore",
                    "--format", '{{.Label "com.docker.compose.service"}}\t{{.State}}\t{{.Status}}']  # fmt: skip
