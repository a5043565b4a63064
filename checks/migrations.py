"""Nothing pending, unreviewed or drifted; the protect triggers installed (drops and overwrites), and
no setting stored for a role or database that switches them off in its sessions."""

from nyxops.guard.runtime import protect_status
from nyxops.migrate import history
from nyxops.migrate.pending import states
from nyxops.migrate.reconcile import invalid_indexes, pending_detaches
from nyxops.names import QualifiedName
from nyxops.verify import CheckResult, Context, failed, passed

NAME = "migrations"
TIMEOUT = 15


def run(ctx: Context) -> CheckResult:
    with ctx.db() as conn:
        found = states(ctx.migrations_dir or ctx.settings.migrations_dir, history.applied(conn))
        configured = [QualifiedName.parse(c, parts=(2, 3)) for c in ctx.settings.protected_columns]
        protection = protect_status(conn, configured)
        invalid = invalid_indexes(conn)
        detaching = pending_detaches(conn)
    bad = [f"{s.name}: {s.state}" for s in found if s.state != "applied"]
    bad += [
        f"INVALID index {index}: a concurrent build failed (REINDEX it, or resume its migration)" for index in invalid
    ]
    bad += [
        f"partition {child} is pending detach from {parent}: a DETACH … CONCURRENTLY was interrupted (resume its "
        f"migration, or ALTER TABLE {parent} DETACH PARTITION {child} FINALIZE)"
        for child, parent in detaching
    ]
    figures = {
        "applied": sum(s.state == "applied" for s in found),
        "protected": protection.columns,
        "overwrite_refused": protection.overwrite,
    }
    if not protection.installed:
        bad.append("protect trigger not installed (nyxops protect install)")
    elif protection.unguarded:
        bad.append(f"no overwrite trigger for {', '.join(protection.unguarded)} (nyxops protect install)")
    bad += [
        f"{stored}: nyxops' guards are off in those sessions (ALTER … RESET it)" for stored in protection.switched_off
    ]
    if bad:
        return failed("; ".join(bad), **figures)
    return passed(f"{figures['applied']} applied, none pending; protect installed", **figures)
