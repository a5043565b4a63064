"""Nothing pending, unreviewed or drifted; the protect trigger installed."""

from nyxops.guard.runtime import protect_status
from nyxops.migrate import history
from nyxops.migrate.pending import states
from nyxops.migrate.reconcile import invalid_indexes
from nyxops.verify import CheckResult, Context, failed, passed

NAME = "migrations"
TIMEOUT = 15


def run(ctx: Context) -> CheckResult:
    with ctx.db() as conn:
        found = states(ctx.migrations_dir or ctx.settings.migrations_dir, history.applied(conn))
        installed, protected = protect_status(conn)
        invalid = invalid_indexes(conn)
    bad = [f"{s.name}: {s.state}" for s in found if s.state != "applied"]
    bad += [
        f"INVALID index {index}: a concurrent build failed (REINDEX it, or resume its migration)" for index in invalid
    ]
    figures = {"applied": sum(s.state == "applied" for s in found), "protected": protected}
    if not installed:
        bad.append("protect trigger not installed (nyxops protect install)")
    if bad:
        return failed("; ".join(bad), **figures)
    return passed(f"{figures['applied']} applied, none pending; protect installed", **figures)
