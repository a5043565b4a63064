"""Layer 2: event triggers inside PostgreSQL, which see what no linter can (dynamic SQL, CASCADE).

Two forms. The migration guard is created inside a migration's own transaction and dropped before
it commits, so no other session ever sees it; it refuses any table or column drop the reviewed
plan did not allow, and is checked before commit (``check_migration_guard``) so a migration that
switched it off is rolled back. ``protect`` is permanent and refuses, for every client (``prisma db push``
included), drops of protected columns unless the session sets ``nyxops.allow_drop`` on purpose;
it also installs the overwrite trigger that each migration arms (guard/overwrite.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from nyxops.catalog import column_type
from nyxops.errors import GuardTampered, MigrationError
from nyxops.guard import overwrite, record, switches, unseen
from nyxops.names import QualifiedName, dotted

GUARD_BODY = """
DECLARE
    obj record;
    addr jsonb;
    allowed constant jsonb := __ALLOWED__::jsonb;
BEGIN
    IF pg_catalog.to_regclass('__RECORD__') IS NULL THEN
        RAISE EXCEPTION 'nyxops runtime guard: this statement dropped __RECORD__, nyxops'' record of '
            'what the migration drops'
            USING HINT = 'A migration must leave nyxops'' own objects alone. Take that statement out of the file '
                || 'and have it reviewed again.';
    END IF;
    FOR obj IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() LOOP
        CONTINUE WHEN obj.is_temporary;
        INSERT INTO __RECORD__ (object_type, identity, relation, subid) VALUES (obj.object_type,
            obj.object_identity, CASE WHEN obj.classid = 'pg_catalog.pg_class'::pg_catalog.regclass THEN obj.objid END,
            obj.objsubid);
        CONTINUE WHEN obj.object_type NOT IN ('table', 'table column', 'foreign table');
        addr := pg_catalog.to_jsonb(obj.address_names);
        CONTINUE WHEN allowed @> pg_catalog.jsonb_build_array(addr)
            OR allowed @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(addr->0, addr->1))
            OR allowed @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(addr->0, '*'));
        RAISE EXCEPTION 'nyxops runtime guard: % % would be dropped, and the reviewed plan does not allow it',
            obj.object_type, obj.object_identity
            USING HINT = 'The drop came from dynamic SQL or CASCADE. Rewrite the migration so the drop is a '
                || 'plain statement with an allow comment naming it, and have it reviewed.';
    END LOOP;
END
"""
"""The allow list is written into the function body for each file, never read from a setting the
migration itself could ``SET``; the body is checked again before commit."""


@dataclass(frozen=True)
class Tripwire:
    """What was installed for one file, to compare with what is there before commit."""

    function: int
    source: str
    relations: unseen.Relations
    """The catalog before the file's first statement: what the tripwire's record must account for."""


PROTECT_SQL = """
CREATE SCHEMA IF NOT EXISTS nyxops;
CREATE TABLE IF NOT EXISTS nyxops.protected (address text[] PRIMARY KEY);
CREATE OR REPLACE FUNCTION nyxops.protect_guard() RETURNS event_trigger LANGUAGE plpgsql AS $protect$
DECLARE
    obj record;
    p text[];
    ident text;
    allowed text[] := string_to_array(replace(coalesce(current_setting('nyxops.allow_drop', true), ''), ' ', ''), ',');
BEGIN
    FOR obj IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
        CONTINUE WHEN obj.object_type NOT IN ('table', 'table column');
        FOR p IN SELECT address FROM nyxops.protected LOOP
            CONTINUE WHEN NOT (obj.address_names = p OR (obj.object_type = 'table' AND obj.address_names = p[1:2]));
            ident := array_to_string(p, '.');
            CONTINUE WHEN ident = ANY(allowed);
            RAISE EXCEPTION 'nyxops protect: refusing to drop % (% is a protected column)', obj.object_identity, ident
                USING HINT = format('To drop it on purpose, run SET nyxops.allow_drop = %L in the same session, '
                    'then repeat the statement.', ident);
        END LOOP;
    END LOOP;
END
$protect$;
"""


def _run(conn: psycopg.Connection, script: str) -> None:
    try:
        conn.execute(script)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MigrationError(
            f"PostgreSQL refused to create an event trigger ({exc.diag.message_primary}): "
            "event triggers need a superuser. Run nyxops as the database owner's superuser role."
        ) from None


def install_migration_guard(conn: psycopg.Connection, allowed: Iterable[QualifiedName]) -> Tripwire:
    """Inside the caller's transaction: the guard, its allow list built into its body, fired ALWAYS.

    ``ENABLE ALWAYS``: an ordinary event trigger does not fire under ``session_replication_role =
    replica``, which a migration could set; this one fires whatever the role.
    """
    if unseen.event_triggers_setting(conn) == "off":
        raise GuardTampered(
            "nyxops runtime guard: event triggers are switched off in this session (event_triggers = off, from "
            "DATABASE_URL's options, PGOPTIONS, or stored for this role or database), so no guard of nyxops would "
            "fire. Nothing was run. Take the setting away (ALTER ROLE … RESET event_triggers; ALTER DATABASE … RESET "
            "event_triggers) and run again."
        )
    entries = [[a.schema, a.table] + ([a.column] if a.column else []) for a in allowed]
    body = GUARD_BODY.replace("__RECORD__", record.RECORD)
    body = body.replace("__ALLOWED__", sql.Literal(json.dumps(entries)).as_string(conn))
    conn.execute("CREATE SCHEMA IF NOT EXISTS nyxops")
    conn.execute(record.CREATE)  # what the trigger saw dropped, for the ledger (gone at commit, invisible to others)
    create = sql.SQL(
        f"CREATE OR REPLACE FUNCTION {record.FUNCTION}() RETURNS event_trigger LANGUAGE plpgsql"
        " SET search_path = pg_catalog, pg_temp AS {}"
    ).format(sql.Literal(body))
    _run(conn, create.as_string(conn))
    _run(conn, f"CREATE EVENT TRIGGER {record.TRIGGER} ON sql_drop EXECUTE FUNCTION {record.FUNCTION}()")
    conn.execute(f"ALTER EVENT TRIGGER {record.TRIGGER} ENABLE ALWAYS")
    row = conn.execute("SELECT %s::regprocedure::oid::bigint", (f"{record.FUNCTION}()",)).fetchone()
    assert row is not None
    return Tripwire(int(row[0]), body, unseen.relations(conn))


def check_migration_guard(conn: psycopg.Connection, installed: Tripwire) -> None:
    """Before commit: the guard is still there, still ALWAYS, still running the body installed, and
    everything dropped since it was installed is in its record (``unseen``).

    A migration that dropped, disabled, replaced or switched it off has run part of its statements
    unguarded: the caller's transaction is rolled back by the error.
    """
    row = conn.execute(
        "SELECT e.evtenabled, e.evtfoid::bigint, p.prosrc FROM pg_catalog.pg_event_trigger e"
        " LEFT JOIN pg_catalog.pg_proc p ON p.oid = e.evtfoid WHERE e.evtname = %s",
        (record.TRIGGER,),
    ).fetchone()
    if row is None:
        problem = "was dropped"
    elif row[0] != "A":
        problem = "was disabled" if row[0] == "D" else f"was changed to fire only as {row[0]!r}"
    elif int(row[1]) != installed.function or row[2] != installed.source:
        problem = "was replaced by another function"
    elif unseen.event_triggers_setting(conn) == "off":
        problem = "was switched off with every other (event_triggers = off)"
    else:
        missed = unseen.unseen_drops(conn, installed.relations)
        if not missed:
            return
        raise GuardTampered(
            f"nyxops runtime guard: the migration dropped {'; '.join(missed)} without its event trigger seeing it "
            "(event triggers switched off with event_triggers = off, a system catalog written, DISCARD TEMP or ALL "
            "built at run time, or another session while it ran: a program or dblink the file was allowed, or "
            "someone else). Nothing of the migration was "
            "committed; a drop made by another session is committed there: check the table. A migration may not get "
            "around the guard: remove the statement that does it."
        )
    raise GuardTampered(
        f"nyxops runtime guard: its event trigger {problem} during the migration. Nothing was committed. "
        "A migration may not switch the guard off: remove the statement that does it."
    )


def remove_migration_guard(conn: psycopg.Connection) -> None:
    conn.execute(f"DROP EVENT TRIGGER IF EXISTS {record.TRIGGER}")


def protect_install(
    conn: psycopg.Connection, columns: Iterable[QualifiedName], *, lock_timeout: str = "5s"
) -> list[QualifiedName]:
    """The drop trigger for every protected column, and the overwrite triggers (guard/overwrite.py)
    for each one that exists; returns those.

    Creating a row trigger takes its table's SHARE ROW EXCLUSIVE lock for a moment. Waiting for it
    behind a long transaction would queue every write of the app behind this one, so the wait is
    cut at ``lock_timeout`` and nothing is changed.
    """
    columns = list(columns)
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
            _run(conn, PROTECT_SQL)
            conn.execute("DELETE FROM nyxops.protected")
            for col in columns:
                conn.execute("INSERT INTO nyxops.protected VALUES (%s)", ([col.schema, col.table, col.column],))
            conn.execute("DROP EVENT TRIGGER IF EXISTS nyxops_protect")
            _run(conn, "CREATE EVENT TRIGGER nyxops_protect ON sql_drop EXECUTE FUNCTION nyxops.protect_guard()")
            conn.execute("ALTER EVENT TRIGGER nyxops_protect ENABLE ALWAYS")  # session_replication_role cannot mute it
            return overwrite.install(conn, columns)
    except psycopg.errors.LockNotAvailable:
        raise MigrationError(
            f"protect install waited {lock_timeout} for a lock on a protected table (another transaction holds it) "
            "and changed nothing. Run it again when that transaction ends, or raise NYXOPS_LOCK_TIMEOUT."
        ) from None


@dataclass(frozen=True)
class Protection:
    installed: bool
    """The drop trigger is there and fires always."""
    columns: list[str]
    """What it protects from drops."""
    overwrite: list[str]
    """The columns whose overwrite trigger is there and fires always."""
    unguarded: list[str]
    """Configured columns that exist and have no overwrite trigger: ``protect install`` adds it."""
    switched_off: list[str]
    """Settings stored for a role or database that switch the guards off in their sessions
    (``event_triggers = off``, ``nyxops.allow_drop``, ``session_replication_role``)."""


def protect_status(conn: psycopg.Connection, configured: Iterable[QualifiedName] = ()) -> Protection:
    """Whether the permanent triggers are installed and enabled, and what they protect."""
    row = conn.execute("SELECT evtenabled FROM pg_event_trigger WHERE evtname = 'nyxops_protect'").fetchone()
    installed = bool(row and row[0] == "A")
    columns: list[str] = []
    if installed:
        columns = [dotted(r[0]) for r in conn.execute("SELECT address FROM nyxops.protected ORDER BY 1")]
    guarded = overwrite.guarded_columns(conn)
    unguarded = [str(c) for c in configured if str(c) not in guarded and column_type(conn, c) is not None]
    stored = [str(setting) for setting in switches.read(conn).switching()]
    return Protection(installed, columns, guarded, unguarded, stored)


def protect_remove(conn: psycopg.Connection) -> None:
    with conn.transaction():
        overwrite.remove(conn)
        conn.execute("DROP EVENT TRIGGER IF EXISTS nyxops_protect")
        conn.execute("DROP FUNCTION IF EXISTS nyxops.protect_guard()")
        conn.execute("DROP TABLE IF EXISTS nyxops.protected")
