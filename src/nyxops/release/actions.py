"""The release actions an operator runs by hand (``nyxops lock|audit|db|rollback``), over one SSH connection.

Each opens the host, takes the deploy lock where it changes something (a restore or a rollback
never runs beside a deploy), does the work with the same code the deploy runs, writes its audit
line whatever the outcome, and releases the lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from nyxops.config import Settings
from nyxops.deploy.containers import find_container
from nyxops.errors import NyxopsError, RollbackRefused
from nyxops.release import audit, backup, lock
from nyxops.release.layout import Layout
from nyxops.release.shell import FabricShell
from nyxops.release.switch import AppSpec, Release, releases, rollback_target, switch

T = TypeVar("T")
NO_PRUNING = 1_000_000
"""The safety backup before a restore prunes nothing: the backup being restored may be the oldest kept."""


def layout(settings: Settings) -> Layout:
    return Layout(settings.app_dir, settings.compose_project, settings.backup_dir)


@contextmanager
def connected(settings: Settings) -> Iterator[FabricShell]:
    from nyxops.remote import Host

    host = Host(settings).open()
    try:
        yield FabricShell(host)
    finally:
        host.close()


def _secrets(settings: Settings) -> list[str]:
    values = [settings.remote_database_url, settings.database_url, settings.openai_api_key]
    return [v.get_secret_value() for v in values if v is not None]


def locked(settings: Settings, command: str, message: str, wait: float, work: Callable[[FabricShell], T],
           record: Callable[[T], dict[str, Any]]) -> T:  # fmt: skip
    """``work`` under the deploy lock, its audit line written whether it worked or not."""
    with connected(settings) as shell:
        where = layout(settings)
        holder = lock.Holder(command, message=message)
        lock.acquire(shell, where, holder, wait=wait)
        line: dict[str, Any] = {"event": command, "who": holder.who, "from": holder.where, "message": message}
        try:
            done = work(shell)
        except NyxopsError as exc:
            audit.append(shell, where, [{**line, "outcome": "failed", "error": str(exc)[-500:]}], _secrets(settings))
            raise
        finally:
            lock.release(shell, where, holder.id)
        audit.append(shell, where, [{**line, **record(done), "outcome": "ok"}], _secrets(settings))
        return done


def lock_status(settings: Settings) -> lock.Holder | None:
    with connected(settings) as shell:
        return lock.status(shell, layout(settings))


def lock_acquire(settings: Settings, message: str) -> lock.Holder:
    """Hold the lock by hand (maintenance): deploys are refused until ``nyxops lock release``."""
    with connected(settings) as shell:
        holder = lock.Holder("maintenance", message=message)
        lock.acquire(shell, layout(settings), holder)
        audit.append(shell, layout(settings), [{"event": "lock-acquire", "who": holder.who, "from": holder.where,
                                                "message": message}])  # fmt: skip
        return holder


def lock_release(settings: Settings) -> lock.Holder | None:
    """Release the lock whoever holds it (a killed deploy's): deliberate, and audited."""
    with connected(settings) as shell:
        gone = lock.release(shell, layout(settings))
        if gone is not None:
            me = lock.Holder("lock-release")
            audit.append(shell, layout(settings), [{"event": "lock-release", "who": me.who, "from": me.where,
                                                    "released": gone.describe()}])  # fmt: skip
        return gone


def audit_lines(settings: Settings, count: int) -> list[dict[str, Any]]:
    with connected(settings) as shell:
        return audit.last(shell, layout(settings), count)


def take_backup(settings: Settings, label: str, keep: int | None) -> backup.Backup | None:
    with connected(settings) as shell:
        made = backup.take(shell, layout(settings), label, keep or settings.backup_keep)
        me = lock.Holder("backup")
        audit.append(shell, layout(settings), [{"event": "backup", "who": me.who, "from": me.where,
                                                "backup": made.path if made else None, "outcome": "ok"}])  # fmt: skip
        return made


def list_backups(settings: Settings) -> list[backup.Backup]:
    with connected(settings) as shell:
        return backup.listing(shell, layout(settings))


def restore_backup(settings: Settings, name: str, safety: bool, wait: float) -> tuple[backup.Backup, str | None]:
    """Restore ``name`` (a backup's name or a unique prefix), after a backup of what it replaces."""

    def work(shell: FabricShell) -> tuple[backup.Backup, str | None]:
        where = layout(settings)
        chosen = backup.find(shell, where, name)
        before = backup.take(shell, where, "before-restore", keep=NO_PRUNING) if safety else None
        backup.restore(shell, where, chosen)
        # The app's connections held prepared statements and caches of the tables it had: a restart
        # starts it on the restored ones (a second or two; the proxy answers 502 meanwhile).
        shell.sh(f'{find_container(where.project, "app")}; [ -n "$c" ] && docker restart "$c" >/dev/null; true')
        return chosen, before.path if before else None

    return locked(settings, "restore", f"restore {name}", wait, work,
                  lambda done: {"restored": done[0].path, "backup": done[1]})  # fmt: skip


def release_history(settings: Settings) -> list[Release]:
    with connected(settings) as shell:
        return releases(shell, layout(settings))


def rollback(settings: Settings, wanted: str | None, force: bool, wait: float) -> Release:
    def work(shell: FabricShell) -> Release:
        where = layout(settings)
        history = releases(shell, where)
        if not history or not history[-1].compose:
            raise RollbackRefused(f"no release recorded on {shell.name} by this nyxops: deploy once first")
        last = history[-1]
        spec = AppSpec(where, last.compose, last.file, last.image, settings.health_timeout, settings.keep_releases)
        target = rollback_target(shell, spec, wanted, force)
        return switch(shell, spec, target.commit, how="rollback")

    return locked(settings, "rollback", f"rollback to {wanted or 'the previous release'}", wait, work,
                  lambda done: {"commit": done.commit, "image": f"{done.image}:{done.commit}",
                                "forced": force})  # fmt: skip
