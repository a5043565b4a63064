"""A release a team can trust, on the real test host: HTTPS in front, a backup before each migration, the
health-gated switch, rollback, the deploy lock, hooks and the audit log.

Runs after test_real_deploy (same host, converged). Each test reads the host and the engine for its
proof: containers and image IDs, the database, the files nyxops keeps in /opt/nyxcore/.nyxops.
"""

from __future__ import annotations

import json
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from nyxops.guard.overwrite import trigger_name
from tests.deploy.conftest import ADDRESS, AUDIT_OP, DOMAIN, LOCK_OP, SECRETS, LiveHost, Run, host_sh, pyinfra
from tests.helpers import REPO, nyxops

BACKUP_OP = "release | Backup before the migrations (pg_dump, on the host)"
SWITCH_OP = "release | App switched to this commit once healthy (the old one serves until then)"
MIGRATION = "0004_insight_reviewed.sql"
OVERWROTE = "overwrote public.workflow_insights.embedding in a row where it already held a value"


def _audit(host: LiveHost) -> list[dict[str, object]]:
    return [json.loads(line) for line in host.ssh("cat /opt/nyxcore/.nyxops/audit.jsonl").splitlines()]


def _last_deploy(host: LiveHost) -> dict[str, object]:
    return next(e for e in reversed(_audit(host)) if e["event"] == "deploy")


def _running_image(host: LiveHost) -> str:
    return host.ssh(f"docker inspect -f '{{{{.Image}}}}' {host.container('app')}").strip()


def _image(host: LiveHost, ref: str) -> str:
    return host.ssh(f"docker image inspect -f '{{{{.Id}}}}' {ref}").strip()


def _https(host: LiveHost, path: str = "/api/health") -> httpx.Response:
    """From this machine to the host's address, as a browser resolving nyxcore.test would reach it."""
    root = host.ssh(f"docker exec {host.container('proxy')} cat /data/caddy/pki/authorities/local/root.crt")
    with tempfile.NamedTemporaryFile("w", suffix=".crt") as pem:
        pem.write(root)
        pem.flush()
        trust = ssl.create_default_context(cafile=pem.name)
        with httpx.Client(verify=trust, timeout=15) as client:
            return client.get(f"https://{ADDRESS}{path}", headers={"host": DOMAIN},
                              extensions={"sni_hostname": DOMAIN})  # fmt: skip


@pytest.fixture(scope="module")
def with_migration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's migrations plus a new one, reviewed, as a routine release brings it."""
    folder = tmp_path_factory.mktemp("migrations")
    for path in (REPO / "migrations").iterdir():
        shutil.copy(path, folder / path.name)
    (folder / MIGRATION).write_text(
        "-- Insights a human has reviewed.\nALTER TABLE workflow_insights ADD COLUMN reviewed boolean NOT NULL DEFAULT false;\n"
    )
    reviewed = nyxops("migrate", "review", str(folder / MIGRATION), "--by", "rita (release review)")
    assert reviewed.code == 0, reviewed.output
    return folder


def _env(host: LiveHost, **extra: str) -> dict[str, str]:
    return host.env(NYXOPS_STAGES="release", **extra)


def test_https_on_443_answers_with_the_apps_health_and_80_redirects(deployed: Run, test_host: LiveHost) -> None:
    answer = _https(test_host)
    assert answer.status_code == 200 and answer.json()["ok"] is True  # the app's own answer, through Caddy
    plain = httpx.get(f"http://{ADDRESS}/api/health", headers={"host": DOMAIN}, timeout=15)
    assert plain.status_code == 308 and plain.headers["location"] == f"https://{DOMAIN}/api/health"
    with pytest.raises(httpx.ConnectError), httpx.Client(timeout=15) as system_trust:  # no internal root there
        system_trust.get(f"https://{ADDRESS}/api/health", headers={"host": DOMAIN}, extensions={"sni_hostname": DOMAIN})
    for port in (3000, 5432, 11434):  # the app, PostgreSQL and Ollama stay behind it
        assert test_host.probe(port, timeout=1.5) == "dropped"


def test_a_failing_backup_stops_the_release_before_any_migration(deployed: Run, test_host: LiveHost,
                                                                  with_migration: Path) -> None:  # fmt: skip
    test_host.ssh("mkdir -p /opt/nyxcore/backups && mount -t tmpfs -o size=256k tmpfs /opt/nyxcore/backups")
    try:
        run = pyinfra(_env(test_host, NYXOPS_MIGRATIONS_DIR=str(with_migration)))
    finally:
        test_host.ssh("umount /opt/nyxcore/backups")
    assert run.code != 0
    assert "no room for a backup" in run.output and "Nothing was changed" in run.output, run.output[-3000:]
    assert "release | Migrations (guarded runner, SSH tunnel)" not in run.changed()
    assert test_host.psql("SELECT count(*) FROM nyxops.schema_migrations") == "3"
    assert test_host.psql("SELECT count(*) FROM information_schema.columns WHERE column_name = 'reviewed'") == "0"
    last = _last_deploy(test_host)
    assert last["outcome"] == "failed" and last["failed_at"] == BACKUP_OP
    assert test_host.ssh("cat /opt/nyxcore/.nyxops/deploy.lock 2>/dev/null; echo free").strip() == "free"


def test_the_first_release_after_an_upgrade_runs_its_migrations_armed(deployed: Run, test_host: LiveHost,
                                                                       tmp_path: Path) -> None:  # fmt: skip
    """The host as an older nyxops left it (the drop trigger, no overwrite trigger), and a release
    whose reviewed migration calls a function of the app's database that rewrites embeddings with
    other vectors: the census counts 382 before and after, so only the overwrite trigger refuses it,
    and only if the release installs it before the migrations run."""
    keep = [trigger_name("embedding"), trigger_name("embedding", "truncate")]
    test_host.psql("; ".join(f"DROP TRIGGER {name} ON workflow_insights" for name in keep))
    test_host.psql(
        "CREATE FUNCTION rotate_embeddings() RETURNS void LANGUAGE sql AS $$ UPDATE workflow_insights"
        " SET embedding = (SELECT embedding FROM workflow_insights ORDER BY id DESC LIMIT 1) WHERE id < 'wi_00100' $$"
    )
    folder = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", folder)
    (folder / "0004_rotate.sql").write_text("SELECT count(*) FROM workflow_insights;\nSELECT rotate_embeddings();\n")
    assert nyxops("migrate", "review", str(folder / "0004_rotate.sql"), "--by", "rita").code == 0
    distinct = "SELECT count(DISTINCT embedding::text) FROM workflow_insights"
    try:
        assert test_host.psql(distinct) == "382"
        run = pyinfra(_env(test_host, NYXOPS_MIGRATIONS_DIR=str(folder)))
        assert run.code != 0
        said = " ".join(run.output.split())  # the child's message, as wrapped to the terminal
        assert OVERWROTE in said, said[-3000:]
        assert test_host.psql(distinct) == "382"  # every vector as it was
        assert test_host.psql("SELECT count(*) FROM nyxops.schema_migrations") == "3"
        names = test_host.psql(
            "SELECT string_agg(tgname, ' ' ORDER BY tgname) FROM pg_trigger WHERE tgname LIKE 'nyxops%'"
        )
        assert names.split() == sorted(keep)
    finally:
        test_host.psql("DROP FUNCTION IF EXISTS rotate_embeddings()")
    assert _last_deploy(test_host)["outcome"] == "failed"


def test_a_release_with_a_migration_takes_a_backup_first(deployed: Run, test_host: LiveHost,
                                                         with_migration: Path) -> None:  # fmt: skip
    test_host.psql("INSERT INTO \"User\" (id, email) VALUES ('before-0004', 'before@nyxcore.test')")
    commit = host_sh("commit").strip()
    run = pyinfra(_env(test_host, NYXOPS_MIGRATIONS_DIR=str(with_migration)))
    assert run.code == 0, run.output[-4000:]
    assert BACKUP_OP in run.changed() and SWITCH_OP in run.changed()
    last = _last_deploy(test_host)
    backup = str(last["backup"])
    assert backup.startswith("/opt/nyxcore/backups/") and backup.endswith("-before-0004_insight_reviewed.dump")
    assert last["migrations"] == [{"name": MIGRATION, "reviewed_by": "rita (release review)"}]
    assert last["commit"] == commit and last["outcome"] == "ok" and last["who"] == "test-operator"
    assert last["verify"] == "not run" and last["image"] == f"nyxcore-app:{commit}"
    listed = nyxops("db", "backups", "--json", env=test_host.operator_env())
    assert listed.code == 0 and Path(backup).name in [b["name"] for b in json.loads(listed.stdout)]
    assert test_host.psql("SELECT count(*) FROM information_schema.columns WHERE column_name = 'reviewed'") == "1"
    assert _running_image(test_host) == _image(test_host, f"nyxcore-app:{commit}")


def test_rollback_refuses_a_release_older_than_a_migration_unless_forced(deployed: Run, test_host: LiveHost) -> None:
    env = test_host.operator_env()
    history = nyxops("rollback", "--list", env=env)
    assert history.code == 0, history.output
    shown = [line.split()[0] for line in history.stdout.splitlines()]  # newest first, 12 characters
    recorded = [json.loads(line)["commit"] for line in test_host.ssh("cat /opt/nyxcore/.nyxops/releases.jsonl")
                .splitlines()]  # fmt: skip
    assert shown == [c[:12] for c in reversed(recorded)]
    previous = next(c for c in reversed(recorded) if c != recorded[-1])
    live = _running_image(test_host)
    refused = nyxops("rollback", env=env)
    assert refused.code == 1 and f"went live before migration(s) {MIGRATION}" in refused.stderr, refused.output
    assert "the schema is not rolled back" in refused.stderr and _running_image(test_host) == live
    images_before = test_host.ssh("docker images -q nyxcore-app | sort -u")
    forced = nyxops("rollback", "--force", env=env, timeout=300)
    assert forced.code == 0, forced.output
    assert _running_image(test_host) == _image(test_host, f"nyxcore-app:{previous}") != live
    assert test_host.ssh("docker images -q nyxcore-app | sort -u") == images_before  # no build: the image was kept
    assert _https(test_host).status_code == 200
    entry = _audit(test_host)[-1]
    assert entry["event"] == "rollback" and entry["outcome"] == "ok" and entry["forced"] is True
    assert str(entry["commit"]).startswith(previous)


def test_restore_brings_back_the_database_as_the_backup_holds_it(deployed: Run, test_host: LiveHost) -> None:
    env = test_host.operator_env()
    kept = json.loads(nyxops("db", "backups", "--json", env=env).stdout)
    before_0004 = next(b["name"] for b in kept if b["name"].endswith("before-0004_insight_reviewed.dump"))
    test_host.psql("INSERT INTO \"User\" (id, email) VALUES ('after-backup', 'after@nyxcore.test')")
    no = nyxops("db", "restore", before_0004, env=env)
    assert no.code == 2 and "--yes" in no.stderr
    restored = nyxops("db", "restore", before_0004[:20], "--yes", env=env, timeout=300)
    assert restored.code == 0, restored.output
    assert test_host.psql("SELECT count(*) FROM information_schema.columns WHERE column_name = 'reviewed'") == "0"
    assert test_host.psql("SELECT count(*) FROM nyxops.schema_migrations") == "3"
    assert test_host.psql("SELECT string_agg(id, ',' ORDER BY id) FROM \"User\" WHERE id IN ('before-0004', "
                          "'after-backup')") == "before-0004"  # fmt: skip
    assert test_host.psql("SELECT count(embedding) FROM workflow_insights") == "382"
    assert test_host.psql("SELECT evtenabled FROM pg_event_trigger WHERE evtname = 'nyxops_protect'") == "A"
    safety = json.loads(nyxops("db", "backups", "--json", env=env).stdout)[0]["name"]
    assert safety.endswith("-before-restore.dump")  # what the restore replaced, kept
    assert _audit(test_host)[-1]["event"] == "restore"


def test_a_release_that_fails_its_health_check_leaves_the_old_one_serving(deployed: Run,
                                                                          test_host: LiveHost) -> None:  # fmt: skip
    container, image = test_host.container("app"), _running_image(test_host)
    current = _image(test_host, "nyxcore-app:current")
    host_sh("commit", "UNHEALTHY", "this release answers 503")
    try:
        started = time.monotonic()
        run = pyinfra(_env(test_host))
        assert run.code != 0
        assert "the new release failed its health check" in run.output, run.output[-3000:]
        assert "the previous release kept serving" in run.output
        assert "nyxcore stand-in listening on 3000" in run.output  # the new container's last log lines
        assert time.monotonic() - started < 150
        assert test_host.container("app") == container and _running_image(test_host) == image  # never restarted
        assert _image(test_host, "nyxcore-app:current") == current
        assert _https(test_host).status_code == 200
        assert "candidate" not in test_host.ssh("docker ps -a --format '{{.Names}}'")
        assert _last_deploy(test_host)["failed_at"] == SWITCH_OP
    finally:
        host_sh("remove", "UNHEALTHY")
    mended = pyinfra(_env(test_host))
    assert mended.code == 0, mended.output[-3000:]
    assert SWITCH_OP in mended.changed() and test_host.container("app") != container


def _hooks(tmp_path: Path, pre: str) -> Path:
    folder = tmp_path / "hooks"
    folder.mkdir()
    for name, body in (("pre-deploy", pre), ("post-deploy", "")):
        hook = folder / name
        hook.write_text(f"#!/bin/sh\nenv | sort > {folder}/{name}.env\n{body}\n")
        hook.chmod(0o755)
    return folder


def _background(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "pyinfra"), "-y", "inventory.py", "deploys/prod.py"], env=env, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def _wait_for_lock(host: LiveHost, seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        held = host.ssh("cat /opt/nyxcore/.nyxops/deploy.lock 2>/dev/null; true").strip()
        if held:
            return held
        time.sleep(0.5)
    raise AssertionError("no deploy took the lock")


def test_two_deploys_at_once_one_runs_one_is_refused_naming_the_holder(deployed: Run, test_host: LiveHost,
                                                                       tmp_path: Path) -> None:  # fmt: skip
    hooks = _hooks(tmp_path, "sleep 12")
    first = _background(test_host.env(NYXOPS_STAGES="config", NYXOPS_HOOKS_DIR=str(hooks),
                                      NYXOPS_OPERATOR="alice", NYXOPS_DEPLOY_MESSAGE="routine release"))  # fmt: skip
    try:
        holder = json.loads(_wait_for_lock(test_host))
        assert holder["who"] == "alice" and holder["command"] == "deploy" and holder["ref"] == "production"
        second = pyinfra(test_host.env(NYXOPS_STAGES="config", NYXOPS_OPERATOR="bob"))
        assert second.code != 0 and second.seconds < 60
        assert "the deploy lock on 10.231.77.2 is held" in second.output
        assert "alice on " in second.output and "deploy of production ('routine release')" in second.output
        waited = pyinfra(test_host.env(NYXOPS_STAGES="config", NYXOPS_OPERATOR="carol", NYXOPS_LOCK_WAIT="120"))
        assert waited.code == 0, waited.output[-3000:]
        output, _ = first.communicate(timeout=300)
        assert first.returncode == 0, output[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
    outcomes = [(e["who"], e["outcome"]) for e in _audit(test_host)[-8:] if e["event"] == "deploy"]
    assert outcomes[-3:] == [("bob", "refused"), ("alice", "ok"), ("carol", "ok")]  # carol waited for alice


def test_a_killed_deploy_leaves_its_lock_reported_with_its_age(deployed: Run, test_host: LiveHost,
                                                               tmp_path: Path) -> None:  # fmt: skip
    killed = _background(test_host.env(NYXOPS_STAGES="config", NYXOPS_HOOKS_DIR=str(_hooks(tmp_path, "sleep 60"))))
    _wait_for_lock(test_host)
    import os

    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    env = test_host.operator_env()
    status = nyxops("lock", "status", env=env)
    assert status.code == 1 and "held by test-operator on " in status.stdout and " s ago)" in status.stdout
    refused = pyinfra(test_host.env(NYXOPS_STAGES="config"))
    assert refused.code != 0 and "`nyxops lock release`" in refused.output
    released = nyxops("lock", "release", env=env)
    assert released.code == 0 and "released the lock of test-operator" in released.stdout
    assert nyxops("lock", "status", env=env).code == 0
    assert pyinfra(test_host.env(NYXOPS_STAGES="config")).code == 0
    events = [(e["event"], e.get("outcome")) for e in _audit(test_host)]
    refused_at = len(events) - 1 - events[::-1].index(("deploy", "refused"))
    assert ("lock-release", None) in events[refused_at:]  # released by hand after the refusal, and audited


def test_a_failing_pre_deploy_hook_stops_the_deploy_and_hooks_see_no_secret(deployed: Run, test_host: LiveHost,
                                                                           tmp_path: Path) -> None:  # fmt: skip
    hooks = _hooks(tmp_path, "echo 'release freeze until 18:00'; exit 3")
    before = test_host.state()
    run = pyinfra(test_host.env(NYXOPS_STAGES="config,release", NYXOPS_HOOKS_DIR=str(hooks)))
    assert run.code != 0 and "the pre-deploy hook stopped the deploy (exit 3)" in run.output, run.output[-3000:]
    assert "release freeze until 18:00" in run.output
    assert run.changed() == [], run.results()  # the lock's step failed on the hook: nothing after it ran
    assert test_host.state() == before
    pre = (hooks / "pre-deploy.env").read_text()
    post = (hooks / "post-deploy.env").read_text()
    assert "NYXOPS_HOOK_REF=production" in pre and "NYXOPS_HOOK_OUTCOME=failed" in post
    assert all(secret not in pre + post for secret in SECRETS.values())
    assert test_host.ssh("cat /opt/nyxcore/.nyxops/deploy.lock 2>/dev/null; echo free").strip() == "free"


def test_the_audit_log_holds_a_line_per_deploy_and_no_secret(deployed: Run, test_host: LiveHost) -> None:
    text = test_host.ssh("cat /opt/nyxcore/.nyxops/audit.jsonl")
    entries = [json.loads(line) for line in text.splitlines()]
    deploys = [e for e in entries if e["event"] == "deploy"]
    assert len(deploys) >= 10 and len({e["deploy"] for e in deploys}) == len(deploys)  # one line per deploy
    for e in deploys:
        assert {"who", "from", "ref", "commit", "image", "migrations", "backup", "verify", "duration_s",
                "outcome"} <= set(e)  # fmt: skip
    stages = [e for e in entries if e["event"] == "stage"]
    assert {e["deploy"] for e in stages} <= {e["deploy"] for e in deploys}
    assert any(e["verify"] == "passed" for e in deploys) and any(e["outcome"] == "refused" for e in deploys)
    assert all(secret not in text for secret in SECRETS.values())
    assert test_host.ssh("stat -c %a /opt/nyxcore/.nyxops/audit.jsonl").strip() == "600"
    shown = nyxops("audit", "--lines", "5", "--json", env=test_host.operator_env())
    assert shown.code == 0 and json.loads(shown.stdout) == entries[-5:]
    assert pyinfra(test_host.env(NYXOPS_STAGES="config")).changed() == [LOCK_OP, AUDIT_OP]


def test_backups_by_hand_keep_only_the_newest(deployed: Run, test_host: LiveHost) -> None:
    env = test_host.operator_env()
    for label in ("one", "two", "three"):
        made = nyxops("db", "backup", "--label", f"by-hand-{label}", "--keep", "2", env=env)
        assert made.code == 0 and f"-by-hand-{label}.dump" in made.stdout, made.output
        time.sleep(1.1)  # names carry the second
    kept = [b["name"] for b in json.loads(nyxops("db", "backups", "--json", env=env).stdout)]
    assert len(kept) == 2 and kept[0].endswith("by-hand-three.dump") and kept[1].endswith("by-hand-two.dump")
    assert test_host.ssh("stat -c %a /opt/nyxcore/backups").strip() == "700"
    assert test_host.ssh("ls -A /opt/nyxcore/backups | grep -c partial; true").strip() == "0"


def test_only_the_newest_releases_keep_their_images(deployed: Run, test_host: LiveHost) -> None:
    before = set(test_host.ssh("docker images --format '{{.Tag}}' nyxcore-app").split())
    commit = host_sh("commit").strip()
    run = pyinfra(_env(test_host, NYXOPS_KEEP_RELEASES="2"))
    assert run.code == 0 and SWITCH_OP in run.changed(), run.output[-3000:]
    recorded = [json.loads(line)["commit"] for line in test_host.ssh("cat /opt/nyxcore/.nyxops/releases.jsonl")
                .splitlines()]  # fmt: skip
    newest: list[str] = []
    for release in reversed(recorded):
        if release not in newest:
            newest.append(release)
    tags = set(test_host.ssh("docker images --format '{{.Tag}}' nyxcore-app").split())
    assert len([t for t in before if len(t) == 40]) > 2  # there was something to untag
    assert {t for t in tags if len(t) == 40} == {commit, newest[1]} and "current" in tags
    assert _running_image(test_host) == _image(test_host, f"nyxcore-app:{commit}")
