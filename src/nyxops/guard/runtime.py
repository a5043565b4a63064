"""Layer 2: event triggers inside PostgreSQL, which see what no linter can (dynamic SQL, CASCADE).

Two forms. The migration guard is created inside a migration's own transaction and dropped before
it commits, so no other session ever sees it; it refuses any table or column drop the reviewed
plan did not allow. ``protect`` is permanent and refuses, for every client (``prisma db push``
included), drops of protected columns unless the session sets ``nyxops.allow_drop`` on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import psycopg

from nyxops.errors import MigrationError
from nyxops.names import QualifiedName, dotted

GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION nyxops.migration_guard() RETURNS event_trigger LANGUAGE plpgsql AS $guard$
DECLARE
    obj record;
    addr jsonb;
    allowed jsonb := coalesce(nullif(current_setting('nyxops.plan_allow', true), ''), '[]')::jsonb;
BEGIN
    FOR obj IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
        CONTINUE WHEN obj.is_temporary OR obj.object_type NOT IN ('table', 'table column', 'foreign table');
        addr := to_jsonb(obj.address_names);
        CONTINUE WHEN allowed @> jsonb_build_array(addr)
            OR allowed @> jsonb_build_array(jsonb_build_array(addr->0, addr->1))
            OR allowed @> jsonb_build_array(jsonb_build_array(addr->0, '*'));
        RAISE EXCEPTION 'nyxops runtime guard: % % would be dropped, and the reviewed plan does not allow it',
            obj.object_type, obj.object_identity
            USING HINT = 'The drop came from dynamic SQL or CASCADE. Rewrite the migration so the drop is a '
                || 'plain statement with an allow comment naming it, and have it reviewed.';
    END LOOP;
END
$guard$
"""

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


def install_migration_guard(conn: psycopg.Connection, allowed: Iterable[QualifiedName]) -> None:
    """Inside the caller's transaction: the guard and its allow list (``SET LOCAL``)."""
    entries = [[a.schema, a.table] + ([a.column] if a.column else []) for a in allowed]
    conn.execute("SELECT set_config('nyxops.plan_allow', %s, true)", (json.dumps(entries),))
    conn.execute("CREATE SCHEMA IF NOT EXISTS nyxops")
    _run(conn, GUARD_FUNCTION)
    _run(conn, "CREATE EVENT TRIGGER nyxops_migration_guard ON sql_drop EXECUTE FUNCTION nyxops.migration_guard()")


def remove_migration_guard(conn: psycopg.Connection) -> None:
    conn.execute("DROP EVENT TRIGGER IF EXISTS nyxops_migration_guard")


def protect_install(conn: psycopg.Connection, columns: Iterable[QualifiedName]) -> None:
    with conn.transaction():
        _run(conn, PROTECT_SQL)
        conn.execute("DELETE FROM nyxops.protected")
        for col in columns:
            conn.execute("INSERT INTO nyxops.protected VALUES (%s)", ([col.schema, col.table, col.column],))
        conn.execute("DROP EVENT TRIGGER IF EXISTS nyxops_protect")
        _run(conn, "CREATE EVENT TRIGGER nyxops_protect ON sql_drop EXECUTE FUNCTION nyxops.protect_guard()")


def protect_status(conn: psycopg.Connection) -> tuple[bool, list[str]]:
    """Whether the permanent trigger is installed and enabled, and what it protects."""
    row = conn.execute("SELECT evtenabled FROM pg_event_trigger WHERE evtname = 'nyxops_protect'").fetchone()
    installed = bool(row and row[0] != "D")
    columns: list[str] = []
    if installed:
        columns = [dotted(r[0]) for r in conn.execute("SELECT address FROM nyxops.protected ORDER BY 1")]
    return installed, columns


def protect_remove(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("DROP EVENT TRIGGER IF EXISTS nyxops_protect")
        conn.execute("DROP FUNCTION IF EXISTS nyxops.protect_guard()")
        conn.execute("DROP TABLE IF EXISTS nyxops.protected")
