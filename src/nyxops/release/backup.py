"""Backups of the app's database on the host: ``pg_dump -Fc`` before every migration, and by hand.

Free space is checked against the database's own size before the dump starts (a dump that fills
the disk takes the database down with it), the file is written under a temporary name and renamed
only when pg_dump succeeded, and only the newest ``keep`` are kept. A restore takes a backup of
what it replaces first, and runs as one transaction that commits only when pg_restore finished.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime

from nyxops.deploy.containers import count_tables, find_container, psql
from nyxops.errors import BackupFailed, UsageError
from nyxops.release.layout import Layout
from nyxops.release.shell import Shell

USER = DATABASE = "nyxcore"
PROTECT_TRIGGER = "nyxops_protect"


@dataclass
class Backup:
    name: str
    path: str
    bytes: int
    at: str


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def _db(layout: Layout) -> str:
    return (
        f"{find_container(layout.project, 'db', 'db')}; "
        '[ -n "$db" ] || { echo "nyxops-backup:error no running database container" ; exit 0; }; '
    )


def take(shell: Shell, layout: Layout, label: str, keep: int) -> Backup | None:
    """A new dump named ``<UTC time>-<label>.dump``; None when the database holds no table yet."""
    if keep < 1:
        raise UsageError("keep at least 1 backup (NYXOPS_BACKUP_KEEP)")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")[:80] or "manual"
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{safe}.dump"
    folder = shlex.quote(layout.backups)
    final, partial = shlex.quote(f"{layout.backups}/{name}"), shlex.quote(f"{layout.backups}/.{name}.partial")
    size_query = shlex.join(psql("SELECT pg_database_size(current_database())", USER, DATABASE))
    script = (
        _db(layout) + f"mkdir -p {folder} && chmod 700 {folder} || exit 1; "
        f'tables=$(docker exec "$db" {shlex.join(count_tables(USER, DATABASE))}) || exit 1; '
        '[ "$tables" -gt 0 ] || { echo "nyxops-backup:empty"; exit 0; }; '
        f'size=$(docker exec "$db" {size_query}) || exit 1; '
        f"free=$(df -B1 --output=avail {folder} | tail -n1 | tr -d ' '); "
        'if [ "$free" -lt "$size" ]; then echo "nyxops-backup:nospace $size $free"; exit 0; fi; '
        f'docker exec "$db" pg_dump -Fc -U {USER} -d {DATABASE} >{partial} 2>{partial}.err '
        f'|| {{ echo "nyxops-backup:error pg_dump failed: $(tail -c 400 {partial}.err)"; rm -f {partial} {partial}.err;'
        " exit 0; }; "
        f"rm -f {partial}.err; chmod 600 {partial} && mv {partial} {final} || exit 1; "
        f'ls -1t {folder}/*.dump 2>/dev/null | tail -n +{keep + 1} | while read -r old; do rm -f "$old"; done; '
        f'echo "nyxops-backup:done $(stat -c %s {final})"'
    )
    ran = shell.sh(script, timeout=3600)
    answer = (ran.lines("nyxops-backup:") or [f"error {ran.stderr.strip()[-400:] or 'no answer'}"])[0]
    kind, _, rest = answer.partition(" ")
    if kind == "empty":
        return None
    if kind == "nospace":
        size, free = (int(x) for x in rest.split())
        raise BackupFailed(
            f"no room for a backup on {shell.name}: the database is {_mib(size)}, {layout.backups} has {_mib(free)}"
            " free. Nothing was changed. Free disk space (old backups, `docker image prune`), or point"
            " NYXOPS_BACKUP_DIR at a larger disk, and run again."
        )
    if kind != "done":
        raise BackupFailed(f"the backup on {shell.name} failed: {rest or answer}. Nothing after it ran.")
    return Backup(name, f"{layout.backups}/{name}", int(rest), name[:16])


def listing(shell: Shell, layout: Layout) -> list[Backup]:
    """The backups kept on the host, newest first."""
    folder = shlex.quote(layout.backups)
    ran = shell.sh(f"find {folder} -maxdepth 1 -name '*.dump' -printf '%f %s\\n' 2>/dev/null || true", timeout=30)
    kept = []
    for text in ran.stdout.splitlines():
        name, _, size = text.rpartition(" ")
        if name and size.isdigit():
            kept.append(Backup(name, f"{layout.backups}/{name}", int(size), name[:16]))
    return sorted(kept, key=lambda b: b.name, reverse=True)


def find(shell: Shell, layout: Layout, wanted: str) -> Backup:
    kept = listing(shell, layout)
    matches = [b for b in kept if b.name == wanted] or [b for b in kept if b.name.startswith(wanted)]
    if len(matches) != 1:
        names = ", ".join(b.name for b in kept[:5]) or "none"
        how = "matches several" if matches else "is not among them"
        raise UsageError(f"{wanted!r} {how}; backups on {shell.name} (newest first): {names}. See `nyxops db backups`.")
    return matches[0]


def restore(shell: Shell, layout: Layout, backup: Backup) -> None:
    """Replace the database's contents with ``backup``'s, in one transaction.

    pg_restore writes SQL that psql runs between our own BEGIN and a COMMIT sent only when pg_restore
    exited 0; a dump that breaks off leaves the transaction open, and psql's exit rolls it back. The
    protect trigger is dropped first inside that transaction (it would refuse the restore's own drops;
    the dump brings it back as it was).
    """
    dump = shlex.quote(backup.path)
    psql = f'docker exec -i "$db" psql -XqAt -v ON_ERROR_STOP=1 -U {USER} -d {DATABASE}'
    script = (
        _db(layout) + f"[ -f {dump} ] || {{ echo 'nyxops-backup:error no such backup'; exit 0; }}; "
        "st=$(mktemp) && err=$(mktemp) || exit 1; "
        f"{{ echo 'BEGIN;'; echo 'DROP EVENT TRIGGER IF EXISTS {PROTECT_TRIGGER};'; "
        f'if docker exec -i "$db" pg_restore --clean --if-exists --no-owner -f - <{dump} 2>>"$err";'
        ' then echo "COMMIT;"; else echo failed >"$st"; fi; }'
        f' | {psql} >/dev/null 2>>"$err"; rc=$?; '
        'if [ "$rc" -ne 0 ] || [ -s "$st" ]; then'
        ' echo "nyxops-backup:error $(grep -v NOTICE "$err" | tail -c 400 | tr "\\n" " ")";'
        ' else echo nyxops-backup:done; fi; rm -f "$st" "$err"'
    )
    ran = shell.sh(script, timeout=3600)
    answer = (ran.lines("nyxops-backup:") or [f"error {ran.stderr.strip()[-400:] or 'no answer'}"])[0]
    if answer != "done":
        raise BackupFailed(
            f"the restore of {backup.name} on {shell.name} failed and was rolled back: "
            f"{answer.removeprefix('error ')}. The database is as it was."
        )
