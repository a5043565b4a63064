"""On the host, over SSH: root filesystem below the threshold, every compose service running and healthy."""

import json

from nyxops.errors import RemoteError
from nyxops.verify import CheckResult, Context, failed, passed, skipped

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
            ["docker", "compose", "-p", s.compose_project, "ps", "--all", "--format", "json"], timeout=30
        )
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
        return failed("; ".join(problems), **figures)
    return passed(f"disk {used}% used; {len(services)} services running", **figures)


def _services(listing: str) -> dict[str, str]:
    """``docker compose ps --format json``: one JSON array (old) or one object per line (new)."""
    text = listing.strip()
    items = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
    out = {}
    for item in items:
        state = item.get("State", "?")
        health = item.get("Health", "")
        out[item.get("Service", item.get("Name", "?"))] = f"{state} ({health})" if health else state
    return out
