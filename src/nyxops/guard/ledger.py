"""Layer 2, part two: what the transaction really did, read from PostgreSQL before commit.

The event trigger sees drops; it cannot see rows. A migration can delete or overwrite rows of a
table it never writes: through a function, a trigger, a rule, a foreign key's ``ON DELETE
CASCADE``, or SQL built at run time. PostgreSQL counts, per transaction, the rows each table lost
or had rewritten (``pg_stat_xact_user_tables``), and a truncate or rewrite gives a table a new
``relfilenode``. A table touched like that, which no statement of the file writes (UPDATE,
DELETE, TRUNCATE, MERGE, INSERT, COPY FROM, ALTER TABLE, CLUSTER, VACUUM, REFRESH; a read, a lock
or an index does not count) and which the file did not create, refuses the file unless an allow
comment names it (``-- nyxops:allow indirect-write public.audit_log``).

PostgreSQL counts the rows of a partitioned or inherited table on its partitions and children:
``DELETE FROM events WHERE …`` shows up as rows deleted in ``events_2019``. A partition or child
counts as written when the file writes one of its ancestors without ``ONLY``; a table counts as
written when the file writes a view that reads it (an ``UPDATE`` of an updatable view lands
there), unless it holds a protected column.

What would switch a guard off after the file is gone is refused too, always: a setting stored for
later sessions, ``protect``'s event trigger dropped or disabled, a new event trigger, rows written
in nyxops' own tables (guard/switches.py), a function whose body would do it when run later
(``trigger_watch.tampering``).

Three changes lose no row that day and are refused whether or not the file names the table
(``quiet_losses``): a table made unlogged (``relpersistence``: the next crash empties it) and a
partition or child detached from its parent (``pg_inherits``: every query of the parent misses its
rows), unless an allowed finding of their rule names it; and a trigger or rule the file armed, on
any table, through which the app's own writes overwrite a protected column from commit on
(guard/trigger_watch.py), which no allow comment lets through.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import psycopg

from nyxops import catalog
from nyxops.guard import record, switches, trigger_watch
from nyxops.guard.scope import DEFAULT_PATH, Scope
from nyxops.guard.walk import visits
from nyxops.names import QualifiedName
from nyxops.sql import Node, Statement

ALLOW_RULE = "indirect-write"
_TABLES = """
SELECT c.oid::bigint, n.nspname, c.relname, c.relfilenode::bigint, c.relpersistence
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'nyxops')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
"""
_ROWS = """
SELECT relid::bigint, schemaname, relname, n_tup_del, n_tup_upd
FROM pg_catalog.pg_stat_xact_user_tables
WHERE (n_tup_del > 0 OR n_tup_upd > 0) AND schemaname <> 'nyxops' AND schemaname NOT LIKE 'pg\\_temp%'
"""


_ANCESTORS = """
WITH RECURSIVE up (child, parent) AS (
    SELECT inhrelid, inhparent FROM pg_catalog.pg_inherits WHERE inhrelid = ANY(%s::oid[])
    UNION SELECT up.child, i.inhparent FROM up JOIN pg_catalog.pg_inherits i ON i.inhrelid = up.parent
)
SELECT up.child::bigint, n.nspname, c.relname
FROM up JOIN pg_catalog.pg_class c ON c.oid = up.parent JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
"""
_VIEWS = """
WITH RECURSIVE reads (relid, view) AS (
    SELECT d.refobjid, r.ev_class FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_catalog.pg_rewrite'::regclass
    JOIN pg_catalog.pg_class v ON v.oid = r.ev_class AND v.relkind = 'v'
    WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND r.ev_class <> d.refobjid
)
, over (base, view) AS (
    SELECT relid, view FROM reads WHERE relid = ANY(%s::oid[])
    UNION SELECT over.base, reads.view FROM over JOIN reads ON reads.relid = over.view
)
SELECT over.base::bigint, n.nspname, c.relname
FROM over JOIN pg_catalog.pg_class c ON c.oid = over.view JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
"""
"""Views reading each table, and views reading those (a view's _RETURN rule depends on what it
reads; rules on tables are not views and are not followed)."""


@dataclass
class Entry:
    table: QualifiedName
    deleted: int = 0
    updated: int = 0
    rewritten: bool = False
    unlogged: bool = False
    """Logged before the file, unlogged now: emptied after a crash, empty on replicas and in physical backups."""
    detached_from: tuple[QualifiedName, ...] = ()
    """The parents it was a partition or an inheritance child of before the file, and is no more."""
    ancestors: tuple[QualifiedName, ...] = ()
    """The tables it is a partition or an inheritance child of, nearest first."""
    views: tuple[QualifiedName, ...] = ()
    """The views that read it: a write through an updatable view lands in its table."""
    armed: tuple[trigger_watch.Armed, ...] = ()
    """Triggers and rules the file armed on it that overwrite a protected column on the app's writes."""

    def describe(self) -> str:
        parts = []
        if self.deleted:
            parts.append(f"{self.deleted} rows deleted")
        if self.updated:
            parts.append(f"{self.updated} rows updated")
        if self.rewritten:
            parts.append("truncated or rewritten")
        if self.unlogged:
            parts.append("made unlogged (the next crash empties it)")
        if self.detached_from:
            parents = ", ".join(map(str, self.detached_from))
            parts.append(f"detached from {parents} (every query of it misses these rows)")
        parts.extend(map(str, self.armed))
        return f"{self.table}: " + ", ".join(parts)


@dataclass
class Ledger:
    entries: list[Entry] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    """Objects the event trigger saw dropped (``sql_drop``), as ``type identity``."""
    after: Snapshot | None = None
    """The state it was read in: the snapshot before the next step (plan reads one statement at a time)."""
    switched_off: list[str] = field(default_factory=list)
    """What it did that would switch a guard off after it is gone (switches.py, ``trigger_watch.tampering``):
    always refused."""
    paths: list[str] = field(default_factory=list)
    """A search_path stored for later sessions (``switches.stored_paths``): refused unless allowed."""

    def lines(self) -> list[str]:
        dropped = [f"dropped {d}" for d in self.dropped]
        return [e.describe() for e in self.entries] + dropped + self.switched_off + self.paths


@dataclass
class Snapshot:
    """The tables before the file, with their storage; new tables are the file's own."""

    files: dict[int, tuple[QualifiedName, int, str]]
    """Per table oid: its name, relfilenode and relpersistence."""
    rows: dict[int, tuple[int, int]]
    dropped: int = 0
    inherits: dict[tuple[int, int], tuple[QualifiedName, QualifiedName]] = field(default_factory=dict)
    """(child oid, parent oid) -> their names: the partitions and inheritance children of tables."""
    watched: trigger_watch.Watched = field(default_factory=trigger_watch.Watched)
    """Every trigger and rule, with what decides what they write."""
    switches: switches.State = field(default_factory=switches.State)
    """Settings stored for later sessions, event triggers, nyxops' own tables: what could switch a guard off."""


_EXISTING = "SELECT oid::bigint FROM pg_catalog.pg_class WHERE oid = ANY(%s::oid[])"


def snapshot(conn: psycopg.Connection) -> Snapshot:
    return _state(conn, record.so_far(conn) if record.exists(conn) else 0)


def _state(conn: psycopg.Connection, dropped: int) -> Snapshot:
    files = {int(r[0]): (QualifiedName(r[1], r[2]), int(r[3]), str(r[4])) for r in conn.execute(_TABLES)}
    rows = {int(r[0]): (int(r[3]), int(r[4])) for r in conn.execute(_ROWS)}
    return Snapshot(files, rows, dropped, _inherits(conn), trigger_watch.read(conn), switches.read(conn))


def _inherits(conn: psycopg.Connection) -> dict[tuple[int, int], tuple[QualifiedName, QualifiedName]]:
    """Whole partitions and children only: a pending detach is the static rule's and status's to report."""
    return {(i.child_oid, i.parent_oid): (i.child, i.parent) for i in catalog.inherits(conn) if not i.detach_pending}


def read(conn: psycopg.Connection, before: Snapshot, protected: Iterable[QualifiedName] = ()) -> Ledger:
    """What happened since ``before`` to the tables that existed then, and the triggers and rules
    armed since on any table that overwrite a ``protected`` column. The state read for it is the
    ledger's ``after``: plan starts the next statement from it instead of reading it all again."""
    now = _state(conn, before.dropped)
    entries: dict[int, Entry] = {}
    for oid, (deleted, updated) in now.rows.items():
        if oid not in before.files:
            continue
        old_deleted, old_updated = before.rows.get(oid, (0, 0))
        if deleted > old_deleted or updated > old_updated:
            entries[oid] = Entry(before.files[oid][0], deleted - old_deleted, updated - old_updated)
    for oid, (_name, filenode, persistence) in now.files.items():
        if oid not in before.files:
            continue
        name, old_filenode, old_persistence = before.files[oid]
        if old_filenode != filenode:
            entries.setdefault(oid, Entry(name)).rewritten = True
        if old_persistence == "p" and persistence == "u":
            entries.setdefault(oid, Entry(name)).unlogged = True
    _detached(conn, before, now, entries)
    for arm in trigger_watch.armed(conn, before.watched, now.watched, protected):
        entry = entries.setdefault(arm.table_oid, Entry(arm.table))
        entry.armed = (*entry.armed, arm)
    if entries:
        for oid, schema, name in conn.execute(_ANCESTORS, (list(entries),)):
            entry = entries[int(oid)]
            entry.ancestors = (*entry.ancestors, QualifiedName(schema, name))
        for oid, schema, name in conn.execute(_VIEWS, (list(entries),)):
            entry = entries[int(oid)]
            entry.views = (*entry.views, QualifiedName(schema, name))
    dropped = []
    if record.exists(conn):
        for n, object_type, identity in record.since(conn, before.dropped):
            dropped.append(f"{object_type} {identity}")
            now.dropped = max(now.dropped, n)
    off = switches.turned_off(before.switches, now.switches) + trigger_watch.tampering(
        conn, before.watched, now.watched
    )
    paths = switches.stored_paths(before.switches, now.switches)
    return Ledger(sorted(entries.values(), key=lambda e: str(e.table)), dropped, now, off, paths)


def _detached(conn: psycopg.Connection, before: Snapshot, now: Snapshot, entries: dict[int, Entry]) -> None:
    """Pairs gone since ``before`` whose child still exists (a dropped one is the tripwire's)."""
    gone = set(before.inherits) - set(now.inherits)
    if not gone:
        return
    existing = {int(r[0]) for r in conn.execute(_EXISTING, ([child for child, _ in gone],))}
    for child, parent in sorted(gone):
        if child in existing:
            child_name, parent_name = before.inherits[(child, parent)]
            entry = entries.setdefault(child, Entry(child_name))
            entry.detached_from = (*entry.detached_from, parent_name)


class WrittenTables:
    """The tables a file writes anywhere (bodies included), read once per file and only when asked.

    The ledger is checked after every transaction, and a journaled file has one per statement; the
    file's trees are walked the first time a touched table's name appears in its text, not each time.

    A table only read (``SELECT count(*) FROM audit.events``, a LOCK, an index) explains nothing:
    a call after it of a function that emptied the table committed while any mention counted (a
    test). A name written bare is the table of that name in a schema the file's search_path
    reaches: every schema a path the file sets names (``SET search_path``, ``set_config`` with
    literals, in a body or a function's own ``SET`` too: guard/scope.py reads them) and the
    schemas the session's path reaches when the ledger is checked (dynamic SQL may have set it).
    ``UPDATE events`` in a file that never leaves ``public`` does not explain the rows a function
    deleted in ``audit.events`` (a test: apply committed that before).
    """

    def __init__(self, statements: Sequence[Statement]) -> None:
        self.statements = statements
        self.text = statements[0].source.text if statements else ""
        self._names: set[tuple[str | None, str]] | None = None
        self._with_descendants: set[tuple[str | None, str]] = set()
        self._paths: set[str] = set(DEFAULT_PATH)

    def mentions(self, name: str) -> bool:
        """Whether the name is anywhere in the file's text (if not, no statement can write the table)."""
        return re.search(re.escape(name), self.text, re.I) is not None

    def names(self) -> set[tuple[str | None, str]]:
        """Every table the file writes, as (schema or None, name)."""
        if self._names is None:
            found: set[tuple[str | None, str]] = set()
            scope = Scope()
            for stmt in self.statements:
                for visit in visits(stmt.node, stmt.text):
                    scope.see(visit.kind, visit.node)  # bodies too: a function's own SET search_path
                    self._paths.update(scope.search_path)
                    for rel in _written(visit.kind, visit.node):
                        found.add((rel.get("schemaname"), rel["relname"]))
                        if rel.get("inh"):  # libpg_query leaves false out: absent is ONLY
                            self._with_descendants.add((rel.get("schemaname"), rel["relname"]))
            self._names = found
        return self._names

    def names_with_descendants(self) -> set[tuple[str | None, str]]:
        """The tables written without ``ONLY``: what is done to them reaches their partitions and children."""
        self.names()
        return self._with_descendants

    def explains(self, entry: Entry, *, through_views: bool = True, reach: Iterable[str] = ()) -> bool:
        """Whether the file writes the table, one of its ancestors without ONLY, or (``through_views``)
        a view that reads it; ``reach``: the schemas the session's path reaches now."""
        schemas = frozenset(reach)
        if self._says(entry.table, self.names, schemas):
            return True
        if any(self._says(parent, self.names_with_descendants, schemas) for parent in entry.ancestors):
            return True
        return through_views and any(self._says(view, self.names, schemas) for view in entry.views)

    def _says(
        self, table: QualifiedName, names: Callable[[], set[tuple[str | None, str]]], reach: frozenset[str]
    ) -> bool:
        if not self.mentions(table.table):  # the cheap look first: the trees are walked only if it may
            return False
        found = names()
        if (table.schema, table.table) in found:
            return True
        return (None, table.table) in found and (table.schema in self._paths or table.schema in reach)


_WRITES = frozenset(
    {"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "AlterTableStmt", "ClusterStmt", "RefreshMatViewStmt"}
)
"""Statements whose ``relation`` is a table they write, or rewrite (ALTER TABLE, CLUSTER, REFRESH)."""


def _written(kind: str, node: Node) -> list[Node]:
    """The tables (RangeVars) a statement of this kind writes; none for a read (a FROM, a LOCK, an
    index, a comment): a file that only reads ``audit.events`` and calls a function that empties it
    has not said so (a test: it committed while a read counted as naming the table)."""
    if kind in _WRITES or (kind == "CopyStmt" and node.get("is_from")):
        rels = [node.get("relation")]
    elif kind == "TruncateStmt":
        rels = [r.get("RangeVar") for r in node.get("relations", [])]
    elif kind == "VacuumStmt":  # VACUUM FULL rewrites
        rels = [r.get("VacuumRelation", {}).get("relation") for r in node.get("rels", [])]
    else:
        return []
    return [r for r in rels if isinstance(r, dict) and r.get("relname")]


@dataclass(frozen=True)
class Quiet:
    """A table made unlogged or detached, which no allowed finding of ``rule`` names."""

    rule: str
    table: QualifiedName
    what: str

    def __str__(self) -> str:
        return f"{self.table} {self.what}"


def quiet_losses(ledger: Ledger, allowed: Mapping[str, Iterable[QualifiedName]]) -> list[Quiet]:
    """Each table made unlogged or detached that no allowed finding of that rule names, and each
    trigger or rule armed to overwrite a protected column (which nothing allows).

    Checked whether or not the file names the table: the static rules read only what is written,
    and ``EXECUTE 'ALTER TABLE ' || t || ' SET UNLOGGED'`` is written nowhere.
    """
    ok = {rule: {(a.schema, a.table) for a in tables} for rule, tables in allowed.items()}
    out: list[Quiet] = []
    for entry in ledger.entries:
        key = (entry.table.schema, entry.table.table)
        if entry.unlogged and key not in ok.get("set-unlogged", set()):
            out.append(Quiet("set-unlogged", entry.table, "made unlogged (the next crash empties it)"))
        if entry.detached_from and key not in ok.get("detach-partition", set()):
            parents = ", ".join(map(str, entry.detached_from))
            out.append(
                Quiet("detach-partition", entry.table, f"detached from {parents} (every query of it misses these rows)")
            )
        out.extend(Quiet("write-protected", entry.table, str(arm)) for arm in entry.armed)
    return out


def unexplained(
    ledger: Ledger,
    written: WrittenTables,
    allowed: Iterable[QualifiedName],
    protected: Iterable[QualifiedName] = (),
    reach: Iterable[str] = (),
) -> list[Entry]:
    """Entries for tables the file neither writes nor allows: what it did without saying so
    (``reach``: the schemas the file's session path reaches now, ``db.own_reads`` yields them).

    A view the file writes does not explain rows changed in a table with a protected column: the
    static layer checks a write of the protected column only where the table itself is named, so
    ``UPDATE a_view SET embedding = …`` must not pass as a write of the view.
    """
    allowed_set = {(a.schema, a.table) for a in allowed}
    guarded = {(p.schema, p.table) for p in protected}
    out = []
    for entry in ledger.entries:
        table = entry.table
        if not (entry.deleted or entry.updated or entry.rewritten):
            continue  # detached or made unlogged, no row touched: quiet_losses' to judge
        if (table.schema, table.table) in allowed_set:
            continue
        if written.explains(entry, through_views=(table.schema, table.table) not in guarded, reach=reach):
            continue
        out.append(entry)
    return out
