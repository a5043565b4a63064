"""The whole deploy, for real: all five stages against the test host and its real Docker engine.

Assertions read the host and the engine (cgroups, listeners, nftables, images, the database),
not the commands. Tests run in this file's order: what only reads comes first, then the second
run that must change nothing, then the ones that break something on purpose and mend it.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from tests.deploy.conftest import ALL_STAGES, AUDIT_OP, LOCK_OP, SECRETS, VERIFY_OP, LiveHost, Run, host_sh, pyinfra
from tests.helpers import nyxops

GIB = 1024**3


def _outputs(*runs: Run) -> str:
    return "\n".join(r.output for r in runs)


def test_host_stage_installs_docker_and_dockerd_runs(provisioned: Run, test_host: LiveHost) -> None:
    installed = test_host.ssh("dpkg-query -W -f '${Package} ${Status}\\n' docker.io docker-compose nftables"
                              " unattended-upgrades git curl")  # fmt: skip
    assert installed.count("install ok installed") == 6, installed
    info = test_host.ssh("docker info --format '{{.ServerVersion}} {{.CgroupVersion}} {{.Driver}}'").split()
    assert info[0].startswith("20.10") and info[1:] == ["1", "overlay2"], info
    assert "docker" in test_host.ssh("id -nG deploy")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in test_host.ssh("cat /etc/apt/apt.conf.d/20auto-upgrades")
    boot = test_host.ssh("readlink /etc/systemd/system/sysinit.target.wants/nftables.service").strip()
    assert boot == "/lib/systemd/system/nftables.service"


def test_first_deploy_completes_on_an_empty_host(deployed: Run, test_host: LiveHost) -> None:
    """The app's schema tool ran once in the app image, then nyxops' migrations, protect, and verify."""
    assert test_host.psql('SELECT migration_name FROM "_prisma_migrations"') == "0_init"
    assert test_host.psql("SELECT count(*) FROM nyxops.schema_migrations") == "3"
    assert test_host.psql("SELECT count(embedding) FROM workflow_insights") == "382"
    assert test_host.psql("SELECT evtenabled FROM pg_event_trigger WHERE evtname = 'nyxops_protect'") == "A"
    assert deployed.results()[VERIFY_OP][0] == "1"
    services = test_host.ssh(
        "docker ps --filter label=com.docker.compose.project=nyxcore"
        " --format '{{.Names}} {{.Label \"com.docker.compose.service\"}} {{.Status}}'"
    )
    rows = {line.split()[1]: line for line in services.splitlines()}
    assert sorted(rows) == ["app", "db", "ollama", "proxy"]
    assert all("(healthy)" in row for name, row in rows.items() if name != "proxy"), services  # Caddy: no healthcheck
    # Debian's compose 1.29 names containers nyxcore_ollama_1: the deploy found them by their labels.
    assert all(row.split()[0] == f"nyxcore_{service}_1" for service, row in rows.items())


def test_ollama_limits_are_the_containers_cgroup_limits(deployed: Run, test_host: LiveHost) -> None:
    cid = test_host.ssh(f"docker inspect -f '{{{{.Id}}}}' {test_host.container('ollama')}").strip()
    quota, period, memory = test_host.ssh(
        f"cat /sys/fs/cgroup/cpu/docker/{cid}/cpu.cfs_quota_us /sys/fs/cgroup/cpu/docker/{cid}/cpu.cfs_period_us"
        f" /sys/fs/cgroup/memory/docker/{cid}/memory.limit_in_bytes"
    ).split()
    assert int(quota) / int(period) == 1.5
    assert int(memory) == 5 * GIB  # "5G" as compose reads it: 5368709120, not 5e9
    host_config = json.loads(test_host.ssh(f"docker inspect -f '{{{{json .HostConfig}}}}' {cid}"))
    assert host_config["MemorySwap"] == host_config["Memory"] == 5 * GIB  # no swap beyond the limit
    assert not host_config.get("DeviceRequests")  # CPU only
    env = json.loads(test_host.ssh(f"docker inspect -f '{{{{json .Config.Env}}}}' {cid}"))
    for setting in ("OLLAMA_NUM_PARALLEL=1", "OLLAMA_MAX_LOADED_MODELS=1", "OLLAMA_CONTEXT_LENGTH=4096",
                    "OLLAMA_KEEP_ALIVE=-1"):  # fmt: skip
        assert setting in env


def test_published_ports_listen_on_loopback_only(deployed: Run, test_host: LiveHost) -> None:
    listeners = test_host.ssh("ss -ltnH | awk '{print $4}'").split()
    for port in (3000, 5432, 11434):
        assert f"127.0.0.1:{port}" in listeners, listeners
        assert not any(addr.endswith(f":{port}") and not addr.startswith("127.0.0.1:") for addr in listeners)
        assert test_host.probe(port) != "open"


def test_firewall_admits_only_ssh_http_and_https_from_outside(deployed: Run, test_host: LiveHost) -> None:
    tables = test_host.ssh("nft list tables").split("\n")
    assert "table inet nyxops" in tables and "table ip nat" in tables  # ours beside Docker's
    assert "flush ruleset" not in test_host.ssh("cat /etc/nftables.conf")
    assert test_host.probe(22) == "open"
    assert test_host.probe(80) == "open" and test_host.probe(443) == "open"  # admitted, Caddy listens
    for port in (3000, 5432, 8080, 11434):
        assert test_host.probe(port, timeout=1.5) == "dropped", port


def test_models_pulled_once_and_the_default_loaded(deployed: Run, test_host: LiveHost) -> None:
    ollama = test_host.container("ollama")
    pulls = test_host.ssh(f"docker exec {ollama} cat /root/.ollama/models/pulls.log").split()
    assert sorted(pulls) == ["llama3.2:3b", "qwen2.5:3b", "qwen2.5:7b"]
    assert test_host.ssh(f"docker exec {ollama} ollama ps").split()[5] == "qwen2.5:7b"


def test_app_image_is_tagged_and_labelled_with_its_commit(deployed: Run, test_host: LiveHost) -> None:
    commit = test_host.ssh("git -C /opt/nyxcore/src rev-parse HEAD").strip()
    built = test_host.ssh(
        f"docker image inspect -f '{{{{.Id}}}} {{{{index .Config.Labels \"org.opencontainers.image.revision\"}}}}'"
        f" nyxcore-app:{commit}"
    ).split()
    assert built[1] == commit
    current = test_host.ssh("docker image inspect -f '{{.Id}}' nyxcore-app:current").strip()
    running = test_host.ssh(f"docker inspect -f '{{{{.Image}}}}' {test_host.container('app')}").strip()
    assert built[0] == current == running


def test_status_and_protect_read_through_the_tunnel(deployed: Run, test_host: LiveHost) -> None:
    env = test_host.operator_env()
    status = nyxops("migrate", "status", "--tunnel", "--json", "--dir", "migrations", env=env)
    assert status.code == 0, status.output
    assert [s["state"] for s in json.loads(status.stdout)] == ["applied"] * 3
    protect = nyxops("protect", "status", "--tunnel", "--json", env=env)
    assert protect.code == 0 and json.loads(protect.stdout)["current"] is True, protect.output
    baseline = nyxops("migrate", "baseline", "0003", "--tunnel", "--dir", "migrations", env=env)
    assert baseline.code == 1 and "already has a migration history (3 applied" in baseline.stderr  # reached it
    assert SECRETS["NYXCORE_POSTGRES_PASSWORD"] not in status.output + protect.output + baseline.output


def test_verify_passes_through_tunnels(deployed: Run, test_host: LiveHost) -> None:
    result = nyxops("verify", "--json", env=test_host.operator_env(), timeout=240)
    assert result.code == 0, result.output
    checks = {r["name"]: r for r in json.loads(result.stdout)["checks"]}
    assert all(c["status"] == "pass" for c in checks.values()), checks
    assert checks["host"]["figures"]["services"] == {"app": "running (healthy)", "db": "running (healthy)",
                                                     "ollama": "running (healthy)", "proxy": "running"}  # fmt: skip
    assert checks["public"]["figures"]["status"] == 200 and checks["public"]["figures"]["http_status"] == 308
    assert checks["embeddings"]["figures"]["workflow_insights"]["embedded"] == 382


def test_script_copied_into_the_app_container_runs_with_an_argument_list(deployed: Run, test_host: LiveHost,
                                                                         tmp_path: Path) -> None:  # fmt: skip
    """No quoted one-liners: ``docker cp`` then ``docker exec -w`` with argv, in the real app container."""
    from nyxops.config import load_settings
    from nyxops.remote import Host

    script = tmp_path / "diagnose.sh"
    script.write_text('#!/bin/sh\nprintf "arg=[%s]\\n" "$@"\nprintf "node=%s\\n" "$(node --version)"\n')
    settings = load_settings(host=test_host.address, ssh_port=22, ssh_key=test_host.key,
                             ssh_known_hosts=test_host.known_hosts)  # fmt: skip
    host = Host(settings).open()
    try:
        tricky = 'it\'s; $(rm -rf /) "quoted" $HOME `id`'
        output = host.copy_and_exec(script, test_host.container("app"), ["sh", "diagnose.sh", tricky, "two"])
    finally:
        host.close()
    lines = output.splitlines()
    assert lines[:2] == [f"arg=[{tricky}]", "arg=[two]"]
    assert lines[2].startswith("node=v18")  # it ran inside the app image, not on the host
    assert test_host.ssh("ls /tmp/nyxops-diagnose.sh 2>/dev/null; echo done").strip() == "done"


HOSTILE = ['it\'s; $(rm -rf /) "quoted" $HOME `id`', "two  spaces", "$ADMIN_SECRET", "-n", "--", "\\n"]


def test_app_exec_runs_a_local_script_in_the_app_with_hostile_arguments(deployed: Run, test_host: LiveHost,
                                                                       tmp_path: Path) -> None:  # fmt: skip
    script = tmp_path / "diagnose.js"
    script.write_text(
        "console.log(JSON.stringify({argv: process.argv.slice(2), uid: process.getuid(), node: process.version}));\n"
        "console.error('to stderr');\nprocess.exit(3);\n"
    )
    env = test_host.operator_env()
    result = nyxops("app", "exec", str(script), "--", *HOSTILE, env=env)
    assert result.code == 3, result.output  # the script's own exit code
    report = json.loads(result.stdout)
    assert report["argv"] == HOSTILE  # every byte as given: no shell on the way
    assert report["uid"] == 1000 and report["node"].startswith("v18")  # inside the app image, as its user
    assert "to stderr" in result.stderr
    as_root = nyxops("app", "exec", "--root", str(script), env=env)
    assert as_root.code == 3 and json.loads(as_root.stdout)["uid"] == 0
    container = test_host.container("app")
    assert test_host.ssh(f"docker exec {container} ls /tmp; ls /tmp").count("diagnose.js") == 0  # cleaned up
    missing = nyxops("app", "exec", str(tmp_path / "nope.js"), env=env)
    assert missing.code == 2 and "no such file" in missing.stderr


def test_app_request_carries_the_admin_secret_and_never_shows_it(deployed: Run, test_host: LiveHost) -> None:
    env = test_host.operator_env()
    body = {"q": HOSTILE[0], "n": 2}
    result = nyxops("app", "request", "POST", "/api/admin/echo?x=$HOME&y=%20", "--json", json.dumps(body), env=env)
    assert result.code == 0, result.output
    echoed = json.loads(result.stdout)
    assert echoed["method"] == "POST" and echoed["body"] == body and echoed["url"] == "/api/admin/echo?x=$HOME&y=%20"
    assert echoed["headers"]["authorization"] == "Bearer ***"  # the app got it; the screen did not
    assert SECRETS["NYXCORE_ADMIN_SECRET"] not in result.output
    assert "200 POST /api/admin/echo" in result.stderr
    health = nyxops("app", "request", "/api/health", env=env)  # GET by default; no curl in the image needed
    assert health.code == 0 and json.loads(health.stdout)["ok"] is True
    wrong = nyxops("app", "request", "/api/admin/echo", env={**env, "NYXOPS_APP_ADMIN_HEADER": "x-admin-secret"})
    assert wrong.code == 1 and "401 GET /api/admin/echo" in wrong.stderr  # the app's refusal, passed through
    bad = nyxops("app", "request", "POST", "/api/admin/echo", "--json", "{not json", env=env)
    assert bad.code == 2 and "--json is not valid JSON" in bad.stderr


def test_app_logs_shows_the_apps_last_lines(deployed: Run, test_host: LiveHost) -> None:
    result = nyxops("app", "logs", "--lines", "20", env=test_host.operator_env())
    assert result.code == 0, result.output
    assert "nyxcore stand-in listening on 3000" in result.stdout
    recent = nyxops("app", "logs", "--since", "1s", env=test_host.operator_env())
    assert recent.code == 0 and "listening on 3000" not in recent.stdout  # started longer ago than that


def test_second_run_of_all_stages_changes_nothing(deployed: Run, test_host: LiveHost) -> None:
    before = test_host.state()
    again = pyinfra(test_host.env(NYXOPS_STAGES=ALL_STAGES))
    assert again.code == 0, again.output[-3000:]
    results = again.results()
    assert len(results) >= 28
    assert again.changed() == [LOCK_OP, VERIFY_OP, AUDIT_OP], again.changed()  # the deploy's own bookkeeping
    assert test_host.state() == before
    assert all(secret not in _outputs(deployed, again) for secret in SECRETS.values())
    print(f"no-change re-run of all five stages: {again.seconds:.1f}s for {len(results)} operations")


def test_dry_run_shows_the_plan_and_changes_nothing(deployed: Run, test_host: LiveHost) -> None:
    before = test_host.state()
    run = pyinfra(test_host.env(NYXOPS_STAGES="host,config", NYXOPS_DISK_THRESHOLD="1"), "--dry")
    assert run.code == 0, run.output[-3000:]
    disk = next(line for line in run.output.splitlines() if "host | Disk guard" in line)
    assert f"1 ({test_host.address})" in disk  # above a 1% threshold the prune would run
    assert test_host.state() == before


def test_rotated_secret_is_written_but_never_printed(deployed: Run, test_host: LiveHost) -> None:
    rotated = "rotated-admin-secret-31337"
    run = pyinfra(test_host.env(NYXCORE_ADMIN_SECRET=rotated), "--data", "stages=config", "--diff", "-vvv")
    try:
        assert run.code == 0, run.output[-3000:]
        assert all(name.split(" | ")[0] in ("config", "preflight", "lock", "audit") for name in run.results())
        assert run.changed() == [LOCK_OP, "config | App .env (secrets, 0600, never printed)", AUDIT_OP]
        assert f"ADMIN_SECRET='{rotated}'" in test_host.ssh("cat /opt/nyxcore/.env")
        assert rotated not in run.output
        assert all(secret not in run.output for secret in SECRETS.values())
    finally:
        assert pyinfra(test_host.env(NYXOPS_STAGES="config")).code == 0


def test_limits_beyond_the_host_are_refused_before_anything_changes(deployed: Run, test_host: LiveHost) -> None:
    cpus = int(test_host.ssh("nproc"))
    before = test_host.state()
    run = pyinfra(test_host.env(NYXOPS_OLLAMA_CPUS=str(cpus + 1), NYXOPS_STAGES=ALL_STAGES), timeout=300)
    assert run.code != 0
    assert f"NYXOPS_OLLAMA_CPUS={cpus + 1} but the host has {cpus} CPUs" in run.output, run.output[-3000:]
    assert "nothing was changed" in run.output
    big = pyinfra(test_host.env(NYXOPS_OLLAMA_MEMORY="1024G", NYXOPS_STAGES="ollama"), timeout=300)
    assert big.code != 0 and "NYXOPS_OLLAMA_MEMORY is 1024.0 GiB but the host has" in big.output, big.output[-3000:]
    assert test_host.state() == before
    assert run.seconds < 60 and big.seconds < 60


def test_firewall_reload_keeps_dockers_rules_while_containers_run(deployed: Run, test_host: LiveHost) -> None:
    def docker_rules() -> list[str]:
        return sorted(
            line for line in test_host.ssh("iptables -t nat -S; iptables -S").splitlines() if "DOCKER" in line
        )

    before = docker_rules()
    assert len(before) >= 8, before
    opened = pyinfra(test_host.env(NYXOPS_STAGES="host", NYXOPS_FIREWALL_PORTS="[22, 80, 443, 8443]"))
    try:
        assert opened.code == 0, opened.output[-3000:]
        assert "host | Load firewall rules" in opened.changed()
        assert docker_rules() == before
        assert test_host.probe(8443) == "refused" and test_host.probe(8080, timeout=1.5) == "dropped"
        # A container with a published port can still be created after the reload.
        recreate = test_host.ssh(
            "cd /opt/nyxcore && docker-compose -p nyxcore -f docker-compose.production.yml --profile ollama"
            " up -d --no-deps --force-recreate ollama 2>&1; echo rc=$?"
        )
        assert recreate.strip().endswith("rc=0"), recreate
    finally:
        closed = pyinfra(test_host.env(NYXOPS_STAGES="host,ollama"))
        assert closed.code == 0, closed.output[-3000:]
    assert test_host.probe(8443, timeout=1.5) == "dropped"
    assert docker_rules() == before


def test_a_failed_build_is_built_again_on_the_next_run(deployed: Run, test_host: LiveHost) -> None:
    """The build runs whenever no image exists for the checked-out commit, not only when the checkout moves."""
    old = test_host.ssh("docker image inspect -f '{{.Id}}' nyxcore-app:current").strip()
    test_host.ssh("docker tag nyx/node:bookworm nyx/node:kept && docker rmi nyx/node:bookworm")  # the build will fail
    commit = host_sh("commit").strip()
    try:
        failed = pyinfra(test_host.env(NYXOPS_STAGES="release"), timeout=300)
        assert failed.code != 0
        assert "Starting operation: release | App image for the checked-out commit" in failed.output
        assert "nyx/node" in failed.output  # the build's own error, shown to the operator
        assert test_host.ssh("git -C /opt/nyxcore/src rev-parse HEAD").strip() == commit
        assert test_host.ssh(f"docker inspect -f '{{{{.Image}}}}' {test_host.container('app')}").strip() == old
        assert failed.seconds < 120
    finally:
        test_host.ssh("docker tag nyx/node:kept nyx/node:bookworm && docker rmi nyx/node:kept")
    retried = pyinfra(test_host.env(NYXOPS_STAGES="release"), timeout=300)
    assert retried.code == 0, retried.output[-3000:]
    assert "release | App source at production" not in retried.changed()  # the checkout did not move
    assert "release | App image for the checked-out commit" in retried.changed()
    new = test_host.ssh(f"docker image inspect -f '{{{{.Id}}}}' nyxcore-app:{commit}").strip()
    assert test_host.ssh(f"docker inspect -f '{{{{.Image}}}}' {test_host.container('app')}").strip() == new != old
    assert "(healthy)" in test_host.ssh(
        f"docker ps --filter id={test_host.container('app')} --format '{{{{.Status}}}}'"
    )


def test_disk_guard_prunes_only_what_is_safe(deployed: Run, test_host: LiveHost) -> None:
    test_host.ssh(
        "mkdir -p /root/dangling && cd /root/dangling && for n in 1 2; do"
        " printf 'FROM nyx/base:bookworm\\nRUN echo %s > /n\\n' $n > Dockerfile && docker build -q -t nyxops-test/junk . ;"
        " done >/dev/null"
    )
    dangling = test_host.ssh("docker images -q --filter dangling=true").split()
    assert dangling
    test_host.ssh(f"docker rm -f {test_host.container('ollama')}")  # the Ollama image is now used by no container
    kept = ["ollama/ollama:latest", "pgvector/pgvector:pg16", "nyxcore-app:current", "nyx/node:bookworm"]
    run = pyinfra(test_host.env(NYXOPS_STAGES="host", NYXOPS_DISK_THRESHOLD="1"))
    try:
        assert run.code == 0, run.output[-3000:]
        freed = re.search(r"nyxops: pruned (\d+) bytes", run.output)  # shown at default verbosity
        assert freed, run.output[-3000:]
        assert not test_host.ssh("docker images -q --filter dangling=true").split()
        images = test_host.ssh("docker images --format '{{.Repository}}:{{.Tag}}'").split()
        assert all(image in images for image in kept), images
    finally:
        back = pyinfra(test_host.env(NYXOPS_STAGES="ollama"))
        assert back.code == 0, back.output[-3000:]
    assert "ollama | Ollama models (only the missing ones)" not in back.changed()  # the volume kept them


def test_verify_wait_stops_at_a_failure_waiting_cannot_clear(deployed: Run, test_host: LiveHost) -> None:
    env = test_host.operator_env()
    assert nyxops("protect", "remove", "--tunnel", env=env).code == 0
    try:
        started = time.monotonic()
        run = pyinfra(test_host.env(NYXOPS_STAGES="verify", NYXOPS_VERIFY_WAIT="120"), timeout=300)
        assert run.code != 0
        assert "post-deploy verification failed" in run.output
        assert "protect trigger not installed" in run.output
        assert time.monotonic() - started < 60, "verify waited on a failure no wait can clear"
    finally:
        assert pyinfra(test_host.env(NYXOPS_STAGES="release")).code == 0  # the release installs it again
    assert test_host.psql("SELECT count(*) FROM pg_event_trigger WHERE evtname = 'nyxops_protect'") == "1"


def test_first_deploy_from_a_backup_restores_it_before_the_migrations(deployed: Run, test_host: LiveHost,
                                                                      tmp_path: Path) -> None:  # fmt: skip
    test_host.psql("INSERT INTO \"User\" (id, email) VALUES ('restore-marker', 'marker@nyxcore.test')")
    dump = tmp_path / "nyxcore.dump"
    dumped = subprocess.run(
        test_host.ssh_argv(f"docker exec {test_host.container('db')} pg_dump -Fc -U nyxcore nyxcore"),
        capture_output=True,
        check=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    dump.write_bytes(dumped.stdout)
    test_host.ssh(
        "cd /opt/nyxcore && docker-compose -p nyxcore -f docker-compose.production.yml rm -sf db"
        " && docker volume rm nyxcore_db_data"
    )
    run = pyinfra(test_host.env(NYXOPS_STAGES="release", NYXOPS_RESTORE_BACKUP=str(dump)), timeout=600)
    assert run.code == 0, run.output[-4000:]
    assert "release | App schema on an empty database (restored from a backup)" in run.changed()
    assert test_host.psql("SELECT email FROM \"User\" WHERE id = 'restore-marker'") == "marker@nyxcore.test"
    assert test_host.psql("SELECT count(embedding) FROM workflow_insights") == "382"
    assert test_host.psql("SELECT count(*) FROM nyxops.schema_migrations") == "3"
    again = pyinfra(test_host.env(NYXOPS_STAGES="release", NYXOPS_RESTORE_BACKUP=str(dump)))
    assert again.code == 0 and again.changed() == [LOCK_OP, AUDIT_OP], again.changed()  # tables: never touched


def test_everything_converges_again_after_the_breakage(deployed: Run, test_host: LiveHost) -> None:
    """After every test above, one more run of all stages is green and the next changes nothing."""
    assert pyinfra(test_host.env(NYXOPS_STAGES=ALL_STAGES)).code == 0
    again = pyinfra(test_host.env(NYXOPS_STAGES=ALL_STAGES))
    assert again.code == 0
    assert again.changed() == [LOCK_OP, VERIFY_OP, AUDIT_OP], again.changed()
