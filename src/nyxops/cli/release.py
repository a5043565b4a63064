"""``nyxops lock|audit|db|rollback``: the release tools on NYXOPS_HOST, over release/actions."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from nyxops.cli.base import app, finish, json_option, out, run, settings_for

lock_wait_option = click.option(
    "--lock-wait", type=click.FloatRange(0, 86400), default=0, show_default=True, metavar="SECONDS",
    help="wait this long for a deploy that holds the lock, instead of failing at once",
)  # fmt: skip


def _json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


@app.group("lock")
def lock_group() -> None:
    """The host's deploy lock: one deploy (or rollback, or restore) at a time."""


@lock_group.command("status")
@json_option
def lock_status(as_json: bool) -> None:
    """Who holds the deploy lock, since when; exit 1 while it is held."""
    from nyxops.release.actions import lock_status as status

    held = run(lambda: status(settings_for(None)))
    if as_json:
        _json(asdict(held) if held else None)
    else:
        out().print(f"held by {held.describe()}" if held else "free")
    finish(1 if held else 0)


@lock_group.command("acquire")
@click.option("--message", "-m", required=True, help="why (shown to whoever is refused)")
def lock_acquire(message: str) -> None:
    """Hold the lock by hand (maintenance): deploys are refused until `nyxops lock release`."""
    from nyxops.release.actions import lock_acquire as acquire

    holder = run(lambda: acquire(settings_for(None), message))
    out().print(f"lock held by {holder.describe()}; release it with `nyxops lock release`")


@lock_group.command("release")
def lock_release() -> None:
    """Release the lock whoever holds it: for a lock left by a killed deploy. Audited."""
    from nyxops.release.actions import lock_release as release

    gone = run(lambda: release(settings_for(None)))
    out().print(f"released the lock of {gone.describe()}" if gone else "the lock was free: nothing to release")


@app.command("audit")
@click.option("--lines", "count", type=click.IntRange(1, 10_000), default=20, show_default=True)
@json_option
def audit_command(count: int, as_json: bool) -> None:
    """The host's audit log: the last deploys, stages, backups, restores, rollbacks and lock releases."""
    from nyxops.cli.render_ops import audit_table
    from nyxops.release.actions import audit_lines

    entries = run(lambda: audit_lines(settings_for(None), count))
    if as_json:
        _json(entries)
    else:
        audit_table(entries, out())


@app.group("db")
def db_group() -> None:
    """Backups of the host's database (pg_dump -Fc on the host), and restores from them."""


@db_group.command("backup")
@click.option("--label", default="manual", show_default=True, help="part of the file name")
@click.option("--keep", type=click.IntRange(1, 1000), help="keep this many (default NYXOPS_BACKUP_KEEP)")
def db_backup(label: str, keep: int | None) -> None:
    """Take a backup now (free space checked first); the newest N are kept."""
    from nyxops.release.actions import take_backup

    made = run(lambda: take_backup(settings_for(None), label, keep))
    out().print(f"backup {made.path} ({made.bytes:,} bytes)" if made else "the database has no table: no backup")


@db_group.command("backups")
@json_option
def db_backups(as_json: bool) -> None:
    """The backups kept on the host, newest first."""
    from nyxops.release.actions import list_backups

    kept = run(lambda: list_backups(settings_for(None)))
    if as_json:
        _json([asdict(b) for b in kept])
        return
    for b in kept:
        out().print(f"{b.name}  {b.bytes:>14,} bytes")
    if not kept:
        out().print("no backups on the host yet")


@db_group.command("restore")
@click.argument("name")
@click.option("--yes", is_flag=True, help="yes, replace the database's contents with this backup's")
@click.option("--no-backup", is_flag=True, help="skip the backup of the current contents taken first")
@lock_wait_option
def db_restore(name: str, yes: bool, no_backup: bool, lock_wait: float) -> None:
    """Replace the database's contents with backup NAME (or a unique prefix), in one transaction.

    A backup of what it replaces is taken first; the deploy lock is held throughout.
    """
    from nyxops.release.actions import restore_backup

    if not yes:
        raise click.UsageError("a restore replaces the whole database: add --yes (see `nyxops db backups`)")
    restored, before = run(lambda: restore_backup(settings_for(None), name, not no_backup, lock_wait))
    out().print(f"restored {restored.name}" + (f"; what it replaced is in {before}" if before else ""))


@app.command("rollback")
@click.argument("release", required=False)
@click.option("--force", is_flag=True, help="even when the release predates a migration applied since")
@click.option("--list", "listing", is_flag=True, help="show the releases kept on the host and stop")
@lock_wait_option
def rollback_command(release: str | None, force: bool, listing: bool, lock_wait: float) -> None:
    """Run an earlier release again (default: the one before the running one), without a rebuild.

    The new container must pass its health check before it replaces the running one. The schema is
    not rolled back: a release older than a migration applied since is refused unless --force.
    """
    from nyxops.release.actions import release_history, rollback

    settings = settings_for(None)
    if listing:
        for r in reversed(run(lambda: release_history(settings))):
            out().print(f"{r.commit[:12]}  {r.at}  {r.how:<8}  by {r.by}  migrations: {len(r.migrations)}")
        return
    done = run(lambda: rollback(settings, release, force, lock_wait))
    out().print(f"rolled back to {done.image}:{done.commit[:12]}; its health check passed. The schema was not changed.")
