"""``nyxops migrate status`` and ``baseline``: what the database has, against what the folder holds."""

from __future__ import annotations

from pathlib import Path

from nyxops.config import Settings
from nyxops.db import connect
from nyxops.errors import MigrationError, UsageError
from nyxops.migrate import history, reconcile, store
from nyxops.migrate.lock import migration_lock
from nyxops.migrate.pending import FileState, states


def status(settings: Settings, directory: Path | None = None) -> list[FileState]:
    """Each file's state, then any INVALID index (a failed concurrent build is not "all is well")."""
    conn = connect(settings.require_database_url(), "nyxops migrate status")
    try:
        found = states(directory or settings.migrations_dir, history.applied(conn))
        for index in reconcile.invalid_indexes(conn):
            detail = "a concurrent build failed; migrate apply rebuilds it when its file resumes, or REINDEX it"
            found.append(FileState("", index, "invalid-index", detail))
        return found
    finally:
        conn.close()


def baseline(settings: Settings, version: str, directory: Path | None = None) -> list[str]:
    """Mark an existing database as being at ``version``: files up to it are recorded as applied."""
    directory = directory or settings.migrations_dir
    files = store.discover(directory)
    if not version.isdigit():
        raise UsageError(f"baseline takes a version number such as 0002, not {version!r}")
    upto = [f for f in files if int(f.version) <= int(version)]
    if not any(int(f.version) == int(version) for f in files):
        raise UsageError(f"no migration with version {version} in {directory}")
    conn = connect(settings.require_database_url(), "nyxops migrate baseline")
    try:
        with migration_lock(conn):
            history.ensure(conn)
            done = history.applied(conn)
            if done:
                raise MigrationError(
                    f"the database already has a migration history ({len(done)} applied, newest "
                    f"{max(done)}); baseline is for a database nyxops has never migrated."
                )
            reviews = store.load_reviews(directory)
            with conn.transaction():
                for f in upto:
                    reviewer = reviews[f.name].reviewed_by if f.name in reviews else "baseline"
                    history.record(conn, f.version, f.name, f.sha256, reviewer, f"baseline by {store.operator()}", 0, 0)
            return [f.name for f in upto]
    finally:
        conn.close()
