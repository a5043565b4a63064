"""Non-transactional statements checked against the catalog before they run again.

``CREATE INDEX CONCURRENTLY`` and its journal mark are two round trips: the server often finishes
the index after the client died, and a plain re-run then fails for good (``relation … already
exists``). A build that fails (a lock timeout while another session holds an old snapshot, a
kill, a cancel) leaves an INVALID index, which ``IF NOT EXISTS`` would then skip, recording a
useless index as applied. So, before a journaled statement of this kind runs again:

- the index exists and is valid: the statement is done; it is journaled, not re-run;
- the index exists and is INVALID: it is dropped concurrently, then built again;
- ``DROP INDEX CONCURRENTLY`` of an index that is gone: done.

``DETACH PARTITION … CONCURRENTLY`` is two transactions too: a run killed or cancelled between
them leaves the partition "pending detach", and running the statement again fails until someone
runs ``… FINALIZE``. So a pending detach is finalized, and a partition already detached is done.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from nyxops import catalog
from nyxops.names import QualifiedName
from nyxops.sql import Statement

_INDEX = """
SELECT i.indisvalid FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = %s AND n.nspname = %s
"""
INVALID_INDEXES = """
SELECT n.nspname || '.' || c.relname, t.relname FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1
"""


@dataclass(frozen=True)
class Decision:
    done: bool
    """True when the catalog shows the statement's work is there: journal it, do not run it."""
    note: str = ""


def _index_target(stmt: Statement, conn: psycopg.Connection) -> tuple[str, str] | None:
    """(schema, index name) a CREATE/DROP INDEX CONCURRENTLY works on, when it names one."""
    body = stmt.body
    if stmt.kind == "IndexStmt" and body.get("idxname"):
        rel = body.get("relation", {})
        return rel.get("schemaname") or _schema_of(conn, rel.get("relname", "")), body["idxname"]
    if stmt.kind == "DropStmt" and body.get("removeType") == "OBJECT_INDEX":
        objects = body.get("objects", [])
        if len(objects) == 1 and "List" in objects[0]:
            names = [i["String"]["sval"] for i in objects[0]["List"]["items"] if "String" in i]
            return (names[0] if len(names) == 2 else _schema_of(conn, names[-1])), names[-1]
    return None


def _schema_of(conn: psycopg.Connection, name: str) -> str:
    """The schema of the relation an unqualified name means on the file's ``search_path``; for one
    that does not exist, the schema it would be created in.

    An index goes in its table's schema, which need not be the first on the path: looked for there,
    the INVALID index a failed build left in ``public`` was not found under ``search_path = app,
    public``, ``IF NOT EXISTS`` skipped it, and apply recorded the useless index as built (a test)."""
    row = conn.execute(
        "SELECT coalesce((SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
        " ON n.oid = c.relnamespace WHERE c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident(%s))),"
        " pg_catalog.current_schema(), 'public')",
        (name,),
    ).fetchone()
    return str(row[0]) if row else "public"


def on_rerun(stmt: Statement) -> str:
    """What ``before_rerun`` will do about what this statement may have left half done, for the operator."""
    if stmt.kind == "IndexStmt":
        return "a failed concurrent index build left behind is dropped and built again"
    if stmt.kind == "AlterTableStmt":
        return "a partition it left pending detach is detached for good, with FINALIZE"
    return ""


def before_rerun(conn: psycopg.Connection, stmt: Statement, *, resuming: bool) -> Decision:
    """What the catalog says about a non-transactional statement about to run (again).

    A valid index, or a dropped one, counts as this file's work only when the file is being
    resumed; on a first run PostgreSQL decides (an index of the same name is then someone else's).
    An INVALID index is useless whoever left it, and is rebuilt either way.
    """
    if stmt.kind == "AlterTableStmt":
        return _detach(conn, stmt, resuming=resuming)
    target = _index_target(stmt, conn)
    if target is None:
        return Decision(False)
    schema, name = target
    row = conn.execute(_INDEX, (name, schema)).fetchone()
    if stmt.kind == "DropStmt":
        gone = row is None and resuming
        return Decision(gone, f"index {schema}.{name} is already gone" if gone else "")
    if row is None:
        return Decision(False)
    if row[0]:
        if not resuming:
            return Decision(False)
        return Decision(True, f"index {schema}.{name} exists and is valid: the build finished before the crash")
    conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name)))
    return Decision(False, f"index {schema}.{name} was left INVALID by a failed build: dropped, building it again")


def _detach(conn: psycopg.Connection, stmt: Statement, *, resuming: bool) -> Decision:
    """``ALTER TABLE parent DETACH PARTITION child CONCURRENTLY`` about to run (again)."""
    cmds = [c.get("AlterTableCmd", {}) for c in stmt.body.get("cmds", [])]
    detach = [c for c in cmds if c.get("subtype") == "AT_DetachPartition"]
    if len(cmds) != 1 or len(detach) != 1:
        return Decision(False)
    parent, child = stmt.body["relation"], detach[0].get("def", {}).get("PartitionCmd", {}).get("name", {})
    parent_name = QualifiedName(parent.get("schemaname") or _schema_of(conn, parent["relname"]), parent["relname"])
    child_name = QualifiedName(
        child.get("schemaname") or _schema_of(conn, child.get("relname", "")), child.get("relname", "")
    )
    pair = [i for i in catalog.inherits(conn) if (i.child, i.parent) == (child_name, parent_name)]
    shown = f"{child_name} from {parent_name}"
    if not pair:
        return Decision(resuming, f"partition {shown} is already detached" if resuming else "")
    if not pair[0].detach_pending:
        return Decision(False)
    finalize = sql.SQL("ALTER TABLE {} DETACH PARTITION {} FINALIZE")
    parent_id = sql.Identifier(parent_name.schema, parent_name.table)
    conn.execute(finalize.format(parent_id, sql.Identifier(child_name.schema, child_name.table)))
    return Decision(True, f"the detach of {shown} was left pending by an interrupted run: finished it (FINALIZE)")


def pending_detaches(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(partition, parent) of every detach left pending (an interrupted ``DETACH … CONCURRENTLY``)."""
    return [(str(i.child), str(i.parent)) for i in catalog.inherits(conn) if i.detach_pending]


def invalid_indexes(conn: psycopg.Connection) -> list[str]:
    """Every INVALID index in the database (a failed concurrent build): ``schema.index (on table)``."""
    return [f"{r[0]} (on {r[1]})" for r in conn.execute(INVALID_INDEXES)]
