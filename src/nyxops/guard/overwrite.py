"""Layer 2 for values: inside a migration, no statement may overwrite or delete a protected value.

The census counts a column's values and the ledger counts rows, so a function or trigger that
existed before the migration and rewrites ``embedding`` with other non-NULL vectors passes both,
as do rows deleted (or a table truncated) and as many inserted again. Only a row trigger sees
each row (and a TRUNCATE trigger the statement). Created inside the migration, it would hold SHARE ROW EXCLUSIVE
on the table until commit and block the app's writes for as long as the migration runs. So
``nyxops protect install`` creates it once, ``ENABLE ALWAYS``, calling a function that does
nothing (the app re-embeds rows as it always did), and each migration replaces that function's
body inside its own transaction: a catalog row, no table lock, and only the migration's own
session ever runs the refusing body. The quiet body is put back before commit.

Switching it off from inside (``DISABLE TRIGGER``, ``DROP TRIGGER``, replacing the function) is
refused statically by guard-tamper; hidden in dynamic SQL, the watch event trigger refuses it at
the DDL command that does it, so it cannot be switched off for one statement and back on after,
and the check before commit compares what is left with what was armed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from nyxops.errors import GuardTampered
from nyxops.names import QualifiedName

FUNCTION = "nyxops.keep_values()"
PREFIX = "nyxops_keep_"

QUIET = "BEGIN RETURN NULL; END"
"""The permanent body: outside a migration, rewriting a protected value is the app's business."""

_REFUSE = """
        IF TG_OP = 'TRUNCATE' THEN
            EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE %I IS NOT NULL)',
                TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0]) INTO held;
            IF held THEN
                RAISE EXCEPTION 'nyxops runtime guard: this statement truncates %.%, whose % holds protected values',
                    TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0] USING HINT = __HINT__;
            END IF;
        ELSIF TG_OP = 'DELETE' THEN
            IF OLD.{c} IS NOT NULL THEN
                RAISE EXCEPTION 'nyxops runtime guard: this statement deleted a row of %.% whose % held a value',
                    TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0] USING HINT = __HINT__;
            END IF;
        ELSIF OLD.{c} IS NOT NULL AND {compare} THEN
            RAISE EXCEPTION
                'nyxops runtime guard: this statement overwrote %.%.% in a row where it already held a value',
                TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0] USING HINT = __HINT__;
        END IF;""".replace(
    "__HINT__",
    "'A migration may fill a protected column only where it is NULL, and keeps every row that holds a value. "
    "The write came from the statement itself or from a function, trigger or rule it reached; "
    "nothing was committed.'",
)
"""One protected column's check, inside ``IF TG_RELID = … AND TG_ARGV[0] = …``: the field is
named in the body, not in a WHEN clause, so the trigger does not depend on the column and
``DROP COLUMN`` still reaches the protect event trigger with its message and hint. A row deleted
and another inserted would leave the census's count as it was: a delete is refused here too."""

_FINGERPRINT = """
SELECT coalesce((SELECT string_agg(concat_ws(':', t.oid, t.ctid, t.tgrelid, t.tgenabled, t.tgtype,
                                             encode(t.tgargs, 'hex')), ',' ORDER BY t.oid)
                 FROM pg_catalog.pg_trigger t WHERE t.tgfoid = pg_catalog.to_regprocedure('nyxops.keep_values()')), '')
    || '|' || coalesce((SELECT concat_ws(':', p.oid, p.ctid, pg_catalog.md5(p.prosrc)) FROM pg_catalog.pg_proc p
                        WHERE p.oid = pg_catalog.to_regprocedure('nyxops.keep_values()')), '')
"""
"""The triggers and the body of the function they call, as one string to compare. ``ctid`` is
there because every update of a catalog row moves it: a trigger switched off by writing
``pg_trigger`` and switched back on before commit still leaves a different ctid."""

_WATCH = """
BEGIN
    IF (__FINGERPRINT__) IS DISTINCT FROM __EXPECTED__ THEN
        RAISE EXCEPTION 'nyxops runtime guard: % switched off the check that protected values are not overwritten',
            TG_TAG
            USING HINT = 'A migration may not disable, drop or replace nyxops'' triggers or functions: '
                || 'remove the statement that does it. Nothing was committed.';
    END IF;
END
"""

_WATCH_STATE = (
    "SELECT e.evtenabled, p.prosrc FROM pg_catalog.pg_event_trigger e"
    " JOIN pg_catalog.pg_proc p ON p.oid = e.evtfoid WHERE e.evtname = 'nyxops_keep_watch'"
)

_TAGS = (
    "ALTER TABLE",
    "CREATE TRIGGER",
    "ALTER TRIGGER",
    "DROP TRIGGER",
    "CREATE FUNCTION",
    "ALTER FUNCTION",
    "DROP FUNCTION",
    "ALTER ROUTINE",
    "DROP ROUTINE",
    "ALTER SCHEMA",
    "DROP SCHEMA",
    "DROP EXTENSION",
    "DROP OWNED",
)
"""Every DDL command that can disable, drop or replace a trigger or the function it calls."""


@dataclass(frozen=True)
class Armed:
    """What one migration's transaction armed, to compare with what is there before commit."""

    fingerprint: str
    watch: str
    """The watch's body as installed (it holds the fingerprint, so it cannot be part of it)."""


@dataclass(frozen=True)
class _Trigger:
    relid: int
    name: str
    table: QualifiedName
    column: str
    always: bool
    equality: str | None
    """The schema of the type's ``=`` (pgvector's is in ``public``), ``""`` when it has none
    (json: compared as text); None when the column is gone."""


_TRIGGERS = (
    "SELECT t.tgrelid::bigint, t.tgname, n.nspname, c.relname, t.tgenabled = 'A', t.tgargs"
    " FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE t.tgfoid = pg_catalog.to_regprocedure('nyxops.keep_values()') ORDER BY 1, 2"
)
_EQUALITY = (
    "SELECT coalesce((SELECT o.oprnamespace::regnamespace::text FROM pg_catalog.pg_operator o WHERE o.oprname = '='"
    " AND o.oprleft = a.atttypid AND o.oprright = a.atttypid LIMIT 1), '')"
    " FROM pg_catalog.pg_attribute a WHERE a.attrelid = %s AND a.attname = %s AND a.attnum > 0 AND NOT a.attisdropped"
)


def _triggers(conn: psycopg.Connection) -> list[_Trigger]:
    out = []
    for relid, name, schema, table, always, args in conn.execute(_TRIGGERS).fetchall():
        column = bytes(args).split(b"\x00")[0].decode()
        row = conn.execute(_EQUALITY, (relid, column)).fetchone()
        equality = str(row[0]) if row else None
        out.append(_Trigger(int(relid), str(name), QualifiedName(schema, table), column, bool(always), equality))
    return out


def trigger_name(column: str, event: str = "") -> str:
    """``nyxops_keep_<column>`` (rows updated or deleted), ``nyxops_keep_truncate_<column>``.

    A name past PostgreSQL's 63 bytes keeps a hash of the whole column name, so two long columns
    of one table never share a trigger (the column is the trigger's argument too).
    """
    name = PREFIX + (f"{event}_" if event else "") + column
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha256(column.encode()).hexdigest()[:8]
    return name.encode()[:54].decode(errors="ignore") + "_" + digest


_ROW = "AFTER UPDATE OR DELETE ON {} FOR EACH ROW"
"""AFTER: the row as written, after every BEFORE trigger had its say."""
_TRUNCATE = "BEFORE TRUNCATE ON {} FOR EACH STATEMENT"
"""BEFORE: the rows are still there to be counted."""


def install(conn: psycopg.Connection, columns: Iterable[QualifiedName]) -> list[QualifiedName]:
    """In the caller's transaction: the quiet function and the triggers of each protected column that exists.

    A column whose table does not exist yet gets its triggers on the next ``protect install`` (the
    deploy runs it after the migrations); triggers of columns no longer protected are dropped.
    """
    _replace(conn, "keep_values", "trigger", QUIET)
    wanted: dict[tuple[int, str], tuple[QualifiedName, str]] = {}
    for col in columns:
        row = conn.execute(
            "SELECT a.attrelid::bigint FROM pg_catalog.pg_attribute a"
            " WHERE a.attrelid = pg_catalog.to_regclass(%s) AND a.attname = %s AND NOT a.attisdropped",
            (sql.Identifier(col.schema, col.table).as_string(conn), col.column),
        ).fetchone()
        if row is not None and col.column:
            wanted[(int(row[0]), trigger_name(col.column))] = (col, _ROW)
            wanted[(int(row[0]), trigger_name(col.column, "truncate"))] = (col, _TRUNCATE)
    for trigger in _triggers(conn):
        if (trigger.relid, trigger.name) not in wanted:
            conn.execute(sql.SQL("DROP TRIGGER {} ON {}").format(sql.Identifier(trigger.name), trigger.table.sql()))
    for (_, name), (col, when) in wanted.items():
        table = sql.Identifier(col.schema, col.table)
        create = "CREATE OR REPLACE TRIGGER {} " + when + " EXECUTE FUNCTION nyxops.keep_values({})"
        conn.execute(sql.SQL(create).format(sql.Identifier(name), table, sql.Literal(col.column)))
        conn.execute(sql.SQL("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}").format(table, sql.Identifier(name)))
    return list(dict.fromkeys(col for col, _ in wanted.values()))


def guarded_columns(conn: psycopg.Connection) -> list[str]:
    """The columns whose overwrite trigger is installed and fires always, as ``schema.table.column``."""
    found: dict[str, int] = {}
    for t in _triggers(conn):
        if t.always and t.equality is not None:
            key = str(QualifiedName(t.table.schema, t.table.table, t.column))
            found[key] = found.get(key, 0) + 1
    return sorted(k for k, n in found.items() if n == 2)  # both: rows updated or deleted, and TRUNCATE


def remove(conn: psycopg.Connection) -> None:
    conn.execute("DROP FUNCTION IF EXISTS nyxops.keep_values() CASCADE")


def installed(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT pg_catalog.to_regprocedure(%s) IS NOT NULL", (FUNCTION,)).fetchone()
    return bool(row and row[0])


def arm(conn: psycopg.Connection) -> Armed | None:
    """Inside the migration's transaction: the refusing body, and the watch. None when not installed."""
    if not installed(conn):
        return None
    _replace(conn, "keep_values", "trigger", _armed_body(conn))
    fingerprint = _fingerprint(conn)
    watch = _WATCH.replace("__FINGERPRINT__", _FINGERPRINT).replace(
        "__EXPECTED__", sql.Literal(fingerprint).as_string(conn)
    )
    _replace(conn, "keep_watch", "event_trigger", watch)
    tags = sql.SQL(", ").join(sql.Literal(t) for t in _TAGS)
    conn.execute(
        sql.SQL(
            "CREATE EVENT TRIGGER nyxops_keep_watch ON ddl_command_end WHEN TAG IN ({})"
            " EXECUTE FUNCTION nyxops.keep_watch()"
        ).format(tags)
    )
    conn.execute("ALTER EVENT TRIGGER nyxops_keep_watch ENABLE ALWAYS")
    return Armed(fingerprint, watch)


def _armed_body(conn: psycopg.Connection) -> str:
    """One check per protected column that exists, chosen by the table and the trigger's argument."""
    branches = []
    for t in {(t.relid, t.column): t for t in _triggers(conn)}.values():
        if t.equality is None:
            continue
        c = sql.Identifier(t.column).as_string(conn)
        if t.equality:  # the body runs with search_path = pg_catalog: the operator is named with its schema
            compare = f"(NEW.{c} IS NULL OR NOT (NEW.{c} OPERATOR({t.equality}.=) OLD.{c}))"
        else:
            compare = f"NEW.{c}::text IS DISTINCT FROM OLD.{c}::text"
        test = f"TG_RELID = {t.relid}::oid AND TG_ARGV[0] = {sql.Literal(t.column).as_string(conn)}"
        branches.append(f"    IF {test} THEN{_REFUSE.format(c=c, compare=compare)}\n    END IF;")
    return "DECLARE\n    held boolean;\nBEGIN\n" + "\n".join(branches) + "\n    RETURN NULL;\nEND"


def _fingerprint(conn: psycopg.Connection) -> str:
    row = conn.execute(_FINGERPRINT).fetchone()
    assert row is not None
    return str(row[0])


def _replace(conn: psycopg.Connection, name: str, returns: str, body: str) -> None:
    create = (
        "CREATE OR REPLACE FUNCTION nyxops.{}() RETURNS {} LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS {}"
    )
    conn.execute(sql.SQL(create).format(sql.Identifier(name), sql.SQL(returns), sql.Literal(body)))


def check(conn: psycopg.Connection, armed: Armed) -> None:
    """Before commit: the triggers, the refusing body and the watch as armed.

    A migration that changed any of them ran part of its statements unguarded: the error rolls
    the caller's transaction back.
    """
    watch = conn.execute(_WATCH_STATE).fetchone()
    if _fingerprint(conn) != armed.fingerprint or watch is None or tuple(watch) != ("A", armed.watch):
        raise GuardTampered(
            "nyxops runtime guard: the check that protected values are not overwritten was disabled, dropped or "
            "replaced during the migration. Nothing was committed. A migration may not switch the guard off: "
            "remove the statement that does it."
        )


def disarm(conn: psycopg.Connection) -> None:
    """The quiet body back, the watch gone: what commits is what ``protect install`` left."""
    conn.execute("DROP EVENT TRIGGER nyxops_keep_watch")
    conn.execute("DROP FUNCTION nyxops.keep_watch()")
    _replace(conn, "keep_values", "trigger", QUIET)
