"""The health-gated app switch, the kept releases, and rollback to one of them without a rebuild.

Why a candidate first: compose recreates a service container in place, so a new image that fails
its health check would take the app down. The new image is started beside the old one
(``compose run``: same networks, env file and healthcheck, no published port, marked one-off so no
lookup of the service's container ever finds it) and must pass the image's own health command
within the timeout; only then is ``current`` moved and the service recreated. A candidate that
fails leaves the old container serving and the deploy fails with the candidate's last log lines.

The schema is never rolled back: a release records the migrations applied when it went live, and
a rollback to a release that predates one that was applied since is refused unless forced.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import asdict, dataclass, field

from nyxops.deploy.containers import compose_argv, find_container, psql
from nyxops.errors import RollbackRefused, SwitchFailed
from nyxops.release.audit import append_lines
from nyxops.release.layout import Layout
from nyxops.release.lock import now_utc, operator_name
from nyxops.release.shell import Shell

COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class AppSpec:
    """What the switch needs to know of the stack: where compose runs, and the app's image repository."""

    layout: Layout
    compose: list[str]
    file: str
    image: str
    timeout: int = 120
    keep: int = 5

    def compose_sh(self, *args: str) -> str:
        argv = [*compose_argv(self.compose, self.layout.project, self.file, []), *args]
        return f"cd {shlex.quote(self.layout.app_dir)} && {shlex.join(argv)}"

    @property
    def candidate(self) -> str:
        return f"{self.layout.project}-app-candidate"


@dataclass
class Release:
    commit: str
    image_id: str = ""
    at: str = field(default_factory=now_utc)
    by: str = field(default_factory=operator_name)
    how: str = "deploy"
    migrations: list[str] = field(default_factory=list)
    compose: list[str] = field(default_factory=list)
    file: str = ""
    image: str = ""


def releases(shell: Shell, layout: Layout) -> list[Release]:
    """Every release that went live on the host, oldest first (``releases.jsonl``)."""
    ran = shell.sh(f"cat {shlex.quote(layout.releases)} 2>/dev/null || true", timeout=30)
    found = []
    for text in ran.stdout.splitlines():
        try:
            raw = json.loads(text)
            found.append(Release(**{k: raw[k] for k in Release.__dataclass_fields__ if k in raw}))
        except (ValueError, TypeError, KeyError):
            continue
    return found


def applied_migrations(shell: Shell, layout: Layout) -> list[str]:
    """The migrations the host's database has applied (nyxops' history), by file name."""
    query = shlex.join(psql("SELECT name FROM nyxops.schema_migrations ORDER BY version"))
    ran = shell.sh(
        f'{find_container(layout.project, "db", "db")}; [ -n "$db" ] && docker exec "$db" {query} 2>/dev/null || true',
        timeout=60,
    )
    return [line.strip() for line in ran.stdout.splitlines() if line.strip()]


def _health(shell: Shell, container: str, timeout: int, dockers_own: bool = False) -> str:
    """Run the container's own health command every 2 s until it passes: healthy, exited, or timeout.

    With ``dockers_own`` (the service container after the switch), wait instead until Docker itself
    reports it healthy, as ``depends_on: service_healthy``, ``docker ps`` and verify read it.
    """
    c = shlex.quote(container)
    inspect = shell.sh(f"docker inspect -f '{{{{json .Config.Healthcheck}}}}' {c}", timeout=30)
    try:
        test = (json.loads(inspect.stdout.strip() or "null") or {}).get("Test") or ["NONE"]
    except ValueError:
        test = ["NONE"]
    if test[0] == "CMD":
        probe = f"docker exec {c} {shlex.join(test[1:])}"
    elif test[0] == "CMD-SHELL":
        probe = f"docker exec {c} /bin/sh -c {shlex.quote(test[1])}"
    else:  # no health command: running for 10 s is the best there is
        probe = '[ "$(( $(date +%s) - start ))" -ge 10 ]'
    first = ""
    if dockers_own and test[0] != "NONE":
        first = f"h=$(docker inspect -f '{{{{.State.Health.Status}}}}' {c}); "
        first += 'if [ "$h" = unhealthy ]; then echo nyxops-health:unhealthy; exit 0; fi;'
        probe = '[ "$h" = healthy ]'
    ran = shell.sh(
        f"start=$(date +%s); while :; do s=$(docker inspect -f '{{{{.State.Status}}}}' {c} 2>/dev/null || echo gone);"
        ' case "$s" in exited|dead|gone) echo "nyxops-health:$s"; exit 0 ;; esac;'
        f" {first} if {probe} >/dev/null 2>&1; then echo nyxops-health:healthy; exit 0; fi;"
        f' if [ "$(( $(date +%s) - start ))" -ge {int(timeout)} ]; then echo nyxops-health:timeout; exit 0; fi;'
        " sleep 2; done",
        timeout=timeout + 60,
    )
    return (ran.lines("nyxops-health:") or ["unknown"])[0]


def _logs(shell: Shell, container: str, lines: int = 20) -> str:
    ran = shell.sh(f"docker logs --tail {lines} {shlex.quote(container)} 2>&1 || true", timeout=30)
    return ran.stdout.strip()


def _running_app(shell: Shell, spec: AppSpec) -> str:
    """The service's app container ("" when none runs)."""
    ran = shell.sh(f'{find_container(spec.layout.project, "app")}; echo "nyxops-app:$c"', timeout=30)
    return (ran.lines("nyxops-app:") or [""])[0]


def _image_id(shell: Shell, ref: str) -> str:
    ran = shell.sh(f"docker image inspect -f '{{{{.Id}}}}' {shlex.quote(ref)} 2>/dev/null || true", timeout=30)
    return ran.stdout.strip()


def _tag(shell: Shell, source: str, target: str) -> None:
    ran = shell.sh(f"docker tag {shlex.quote(source)} {shlex.quote(target)}", timeout=60)
    if ran.code != 0:
        raise SwitchFailed(f"docker tag {source} {target} failed on {shell.name}: {ran.stderr.strip()[-300:]}")


def _recreate(shell: Shell, spec: AppSpec) -> str:
    ran = shell.sh(spec.compose_sh("up", "-d", "--no-deps", "--force-recreate", "app") + " 2>&1", timeout=300)
    if ran.code != 0:
        raise SwitchFailed(f"compose could not start the app on {shell.name}: {ran.stdout.strip()[-600:]}")
    return _running_app(shell, spec)


def switch(shell: Shell, spec: AppSpec, commit: str, how: str = "deploy") -> Release:
    """Make ``image:commit`` the running app, only once it has passed its health check."""
    if not COMMIT.match(commit):
        raise SwitchFailed(f"{commit!r} is not a commit id")
    target, current = f"{spec.image}:{commit}", f"{spec.image}:current"
    target_id = _image_id(shell, target)
    if not target_id:
        raise SwitchFailed(f"no image {target} on {shell.name}: build it first (the release stage does)")
    previous_id = _image_id(shell, current)
    old = _running_app(shell, spec)
    _tag(shell, target, current)
    if old:  # the old container serves until the candidate has passed
        try:
            _candidate(shell, spec)
        except SwitchFailed:
            if previous_id:
                _tag(shell, previous_id, current)
            raise
    try:
        new = _recreate(shell, spec)
        state = _health(shell, new, spec.timeout, dockers_own=True) if new else "gone"
        if state != "healthy":
            raise SwitchFailed(
                f"the app on {shell.name} did not pass its health check after the switch ({state}); "
                + ("the previous release was started again" if previous_id else "there is no previous release")
                + f". Its last log lines:\n{_logs(shell, new) if new else '(no container)'}"
            )
    except SwitchFailed:
        if previous_id:
            _tag(shell, previous_id, current)
            _recreate(shell, spec)
        raise
    release = Release(commit, target_id, how=how, migrations=applied_migrations(shell, spec.layout),
                      compose=spec.compose, file=spec.file, image=spec.image)  # fmt: skip
    _record(shell, spec, release)
    return release


def _candidate(shell: Shell, spec: AppSpec) -> None:
    """The new image beside the old one; raises SwitchFailed (old one untouched) unless it is healthy."""
    name = shlex.quote(spec.candidate)
    shell.sh(f"docker rm -f {name} >/dev/null 2>&1; true", timeout=60)
    run = spec.compose_sh("run", "-d", "--no-deps", "--name", spec.candidate, "app")
    started = shell.sh(run + " 2>&1", timeout=300)
    try:
        if started.code != 0:
            raise SwitchFailed(f"the new app container could not be started: {started.stdout.strip()[-600:]}")
        state = _health(shell, spec.candidate, spec.timeout)
        if state != "healthy":
            raise SwitchFailed(
                f"the new release failed its health check on {shell.name} ({state} after up to {spec.timeout} s);"
                f" the previous release kept serving. The new container's last log lines:\n"
                f"{_logs(shell, spec.candidate)}"
            )
    finally:
        shell.sh(f"docker rm -f {name} >/dev/null 2>&1; true", timeout=60)


def _record(shell: Shell, spec: AppSpec, release: Release) -> None:
    """Append the release, then untag the app images of releases beyond the newest ``keep``."""
    layout = spec.layout
    append_lines(shell, layout, layout.releases, [json.dumps(asdict(release))])
    kept: list[str] = []
    for r in reversed(releases(shell, layout)):
        if r.commit not in kept:
            kept.append(r.commit)
    keep = set(kept[: spec.keep])
    tags = shell.sh(f"docker images --format '{{{{.Tag}}}}' {shlex.quote(spec.image)}", timeout=30).stdout.split()
    for tag in tags:
        if COMMIT.match(tag) and tag not in keep:
            shell.sh(f"docker rmi {shlex.quote(f'{spec.image}:{tag}')} >/dev/null 2>&1; true", timeout=120)


def rollback_target(shell: Shell, spec: AppSpec, wanted: str | None, force: bool) -> Release:
    """The release to go back to (default: the one before the running one), checked against the schema."""
    history = releases(shell, spec.layout)
    if not history:
        raise RollbackRefused(f"no release recorded on {shell.name} yet: nothing to roll back to")
    live = history[-1].commit
    earlier: list[Release] = []
    for r in reversed(history):
        if r.commit != live and r.commit not in [e.commit for e in earlier]:
            earlier.append(r)
    earlier = earlier[: max(spec.keep - 1, 1)]
    if wanted:
        if live.startswith(wanted):
            raise RollbackRefused(f"{wanted} is the release running now ({live[:12]}): nothing to do")
        matches = [r for r in earlier if r.commit.startswith(wanted)]
        if len(matches) != 1:
            kept = ", ".join(f"{r.commit[:12]} ({r.at})" for r in earlier) or "none"
            raise RollbackRefused(f"{wanted!r} is not one kept release; releases you can go back to: {kept}")
        target = matches[0]
    elif earlier:
        target = earlier[0]
    else:
        raise RollbackRefused(f"only one release ({live[:12]}) was ever recorded on {shell.name}: nothing earlier")
    if not _image_id(shell, f"{spec.image}:{target.commit}"):
        raise RollbackRefused(
            f"the image of {target.commit[:12]} is no longer on {shell.name} (pruned): deploy that ref instead"
        )
    newer = [m for m in applied_migrations(shell, spec.layout) if m not in target.migrations]
    if newer and not force:
        raise RollbackRefused(
            f"release {target.commit[:12]} went live before migration(s) {', '.join(newer)}, which it has never run"
            " against; the schema is not rolled back. Nothing was changed. If that release works with the"
            " current schema, run again with --force."
        )
    return target
