"""``nyxops migrate status`` and ``baseline``: what the database has, against what the folder holds."""

from __future__ import annotations

from pathlib import Path

import psycopg

from nyxops.catalog import column_type
from nyxops.config import Settings
from nyxops.db import connect, relation_exists
from nyxops.errors import MigrationError, UsageError
from nyxops.migrate import history, reconcile, store
from nyxops.migrate.lock import migration_lock
from nyxops.migrate.pending import FileState, states
from nyxops.migrate.states import INVALID_INDEX, PENDING_DETACH
from nyxops.names import QualifiedName
from nyxops.sql import parse_file


def status(settings: Settings, directory: Path | None = None) -> list[FileState]:
    """Each file's state, then any INVALID index or partition pending detach (an interrupted
    concurrent statement is not "all is well")."""
    conn = connect(settings.require_database_url(), "nyxops migrate status")
    try:
        found = states(directory or settings.migrations_dir, history.applied(conn))
        for index in reconcile.invalid_indexes(conn):
            detail = "a concurrent build failed; migrate apply rebuilds it when its file resumes, or REINDEX it"
            found.append(FileState("", index, INVALID_INDEX, detail))
        for child, parent in reconcile.pending_detaches(conn):
            detail = (
                f"from {parent}: a DETACH … CONCURRENTLY was interrupted; migrate apply finishes it when its file "
                f"resumes, or run ALTER TABLE {parent} DETACH PARTITION {child} FINALIZE"
            )
            found.append(FileState("", child, PENDING_DETACH, detail))
        return found
    finally:
        conn.close()


def expected_objects(files: list[store.MigrationFile]) -> list[QualifiedName]:
    """Tables and columns the files create (CREATE TABLE, ADD COLUMN), as the database must already have them."""
    out: list[QualifiedName] = []
    for f in files:
        for stmt in parse_file(f.path):
            if stmt.keyword not in ("CREATE", "ALTER") or stmt.kind not in ("CreateStmt", "AlterTableStmt"):
                continue
            rel = stmt.body.get("relation", {})
            if rel.get("relpersistence") == "t":
                continue
            table = QualifiedName(rel.get("schemaname") or "public", rel.get("relname", "?"))
            if stmt.kind == "CreateStmt":
                out.append(table)
                elements = stmt.body.get("tableElts", [])
                out += [
                    QualifiedName(table.schema, table.table, e["ColumnDef"]["colname"])
                    for e in elements
                    if "ColumnDef" in e
                ]
            for cmd in stmt.body.get("cmds", []):
                command = cmd.get("AlterTableCmd", {})
                if command.get("subtype") == "AT_AddColumn" and "ColumnDef" in command.get("def", {}):
                    out.append(QualifiedName(table.schema, table.table, command["def"]["ColumnDef"]["colname"]))
    return out


def _missing(conn: psycopg.Connection, expected: list[QualifiedName]) -> list[str]:
    missing = []
    for obj in expected:
        if obj.column is None:
            if not relation_exists(conn, obj.sql()):
                missing.append(f"table {obj}")
        elif column_type(conn, obj) is None and relation_exists(conn, obj.table_name.sql()):
            missing.append(f"column {obj}")
    return missing


def baseline(settings: Settings, version: str, directory: Path | None = None, *, force: bool = False) -> list[str]:
    """Mark an existing database as being at ``version``: files up to it are recorded as applied.

    Checked first: the tables and columns those files create exist. A baseline at the wrong
    version would make nyxops skip files the database never ran; ``force`` writes it anyway.
    """
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
            missing = _missing(conn, expected_objects(upto))
            if missing and not force:
                shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
                raise MigrationError(
                    f"the database does not look like it is at {version}: the files up to it create {shown}, which "
                    "it lacks. Pick the version the database really has, or pass --force if you know better."
                )
            reviews = store.load_reviews(directory)
            with conn.transaction():
                for f in upto:
                    reviewer = reviews[f.name].reviewed_by if f.name in reviews else "baseline"
                    history.record(conn, f.version, f.name, f.sha256, reviewer, f"baseline by {store.operator()}", 0, 0)
            return [f.name for f in upto]
    finally:
        conn.close()
