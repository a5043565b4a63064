"""On the host, over SSH: root filesystem below the threshold, every compose service running and healthy.

Services are read with ``docker ps`` and compose's own labels, not ``docker compose ps``: the same
command works with Docker's compose plugin and with Debian's docker-compose 1.29, which has no JSON.
"""

import re

from nyxops.deploy.containers import SERVICE_NOT_ONE_OFF
from nyxops.errors import RemoteError
from nyxops.verify import CheckResult, Context, failed, passed, skipped, unavailable

NAME = "host"
TIMEOUT = 60


def run(ctx: Context) -> CheckResult:
    if ctx.remote is None:
        return skipped("no host configured (NYXOPS_HOST): disk and compose services not checked")
    s = ctx.settings
    try:
        used = int(ctx.remote.run(["df", "-P", "/"]).splitlines()[-1].split()[4].rstrip("%"))
    except (RemoteError, IndexError, ValueError) as exc:
        return failed(f"cannot read disk usage: {exc}")
    try:
        listing = ctx.remote.run(
            ["docker", "ps", "--all", "--filter", f"label=com.docker.compose.project={s.compose_project}",
             "--filter", SERVICE_NOT_ONE_OFF, "--format", _FORMAT],
            timeout=30,
        )  # fmt: skip
    except RemoteError as exc:
        return failed(f"compose services unknown: {exc}", disk_used_percent=used)
    services = _services(listing)
    figures = {"disk_used_percent": used, "services": services}
    problems = []
    if used > s.disk_threshold:
        problems.append(f"root filesystem {used}% used, above {s.disk_threshold}% (run the host stage to prune)")
    for name, state in services.items():
        if state not in ("running", "running (healthy)"):
            problems.append(f"service {name} is {state}")
    if not services:
        problems.append(f"no services in compose project {s.compose_project}")
    if problems:
        starting = any(state not in ("running", "running (healthy)") for state in services.values())
        full = used > s.disk_threshold
        return (unavailable if starting and not full else failed)("; ".join(problems), **figures)
    return passed(f"disk {used}% used; {len(services)} services running", **figures)


_FORMAT = '{{.Label "com.docker.compose.service"}}\t{{.State}}\t{{.Status}}'
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")


def _services(listing: str) -> dict[str, str]:
    """``service<TAB>state<TAB>status`` per container; health is in the status, ``Up 2 hours (healthy)``."""
    out = {}
    for line in listing.splitlines():
        if not line.strip():
            continue
        service, state, status = [*line.split("\t"), "", ""][:3]
        health = _HEALTH.search(status)
        out[service or "?"] = f"{state} ({health.group(1)})" if health else state
    return out
