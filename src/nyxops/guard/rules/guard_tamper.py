"""Statements that would switch the guard off from inside the migration.

``SET session_replication_role = replica`` silences ordinary event triggers, ``SET
event_triggers = off`` (PostgreSQL 17 and later) silences every one, ``ENABLE ALWAYS`` or not, and
``nyxops.allow_drop`` lets ``protect``'s drop guard pass a protected column (set for a role, a
database or the server with ``ALTER ROLE|DATABASE|SYSTEM``, either outlives the migration and
disarms the guard for every later session, the app's and ``prisma db push``'s); altering, disabling
or dropping an event trigger, or replacing one of nyxops' own functions, removes the run-time
check; so does disabling, replacing or dropping nyxops' row triggers (``nyxops_keep_…``, which
refuse overwrites of protected values), or disabling every trigger of a protected table; writing
nyxops' own tables rewrites its history (``nyxops_dropped``, the migration's temporary table,
holds what its event trigger saw dropped). ``allow_system_table_mods`` lets a superuser put
functions and operators in pg_catalog, ahead of PostgreSQL's own in the ``search_path =
pg_catalog, pg_temp`` nyxops reads with (db.own_reads). Replacing postgres_fdw's functions
that list and close the session's connections with code other than postgres_fdw's own hides from
the run-time layer what the file sends through foreign tables (guard/foreign.py, which also
refuses a file that took them out of the extension: the extension's own update scripts do that,
so lint does not). A trigger or rule on nyxops' own tables runs on nyxops' own writes, after
every check of the file. Writing a system catalog
(``UPDATE pg_event_trigger SET evtenabled = 'D'``, ``DELETE FROM pg_attribute …``) switches a
trigger off or drops a column without any event trigger seeing it; ``DISCARD TEMP`` (or ``ALL``)
drops the tripwire's record with every temporary table. ``PREPARE`` and ``DEALLOCATE``
of psycopg's names (``_pg3_…``) replace the statements nyxops' reads run (db.own_reads). None of
this has a place in a reviewed migration, so no allow comment allows it.
"""

from collections.abc import Iterator

from nyxops.defaults import PREPARED_PREFIX
from nyxops.guard import record
from nyxops.guard.model import Hit, dropped_objects, name_list
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "guard-tamper"
MESSAGE = "This would switch off or rewrite nyxops' own guard, which a migration may never do."
HELP = "Remove the statement: nyxops' guard, its triggers and its tables are not a migration's to change."
NODES = (
    "VariableSetStmt",
    "AlterRoleSetStmt",
    "AlterDatabaseSetStmt",
    "AlterSystemStmt",
    "FuncCall",
    "AlterEventTrigStmt",
    "DropStmt",
    "CreateFunctionStmt",
    "AlterFunctionStmt",
    "CreateEventTrigStmt",
    "InsertStmt",
    "UpdateStmt",
    "DeleteStmt",
    "TruncateStmt",
    "MergeStmt",
    "CopyStmt",
    "RenameStmt",
    "AlterTableStmt",
    "CreateTrigStmt",
    "RuleStmt",
    "PrepareStmt",
    "DeallocateStmt",
    "DiscardStmt",
)
FAIL = [
    "SET session_replication_role = replica",
    "SET LOCAL session_replication_role TO 'replica'",
    "SELECT set_config('session_replication_role', 'replica', true)",
    "ALTER ROLE app SET session_replication_role = replica",
    "ALTER SYSTEM SET session_replication_role = replica",
    "ALTER DATABASE nyxcore SET nyxops.allow_drop = 'public.workflow_insights.embedding'",
    "ALTER SYSTEM SET nyxops.allow_drop TO 'public.workflow_insights.embedding'",
    "SET nyxops.allow_drop = 'public.workflow_insights.embedding'",
    'SET "NYXOPS"."Allow_Drop" = \'public.workflow_insights.embedding\'',
    "SELECT set_config('Session_Replication_Role', 'replica', true)",
    "SELECT pg_catalog.set_config('nyxops.allow_drop', 'public.workflow_insights.embedding', false)",
    "SET event_triggers = off",
    "SET allow_system_table_mods = on",
    "ALTER ROLE app SET Allow_System_Table_Mods TO true",
    "SET LOCAL Event_Triggers TO false",
    "ALTER ROLE app SET event_triggers = off",
    "ALTER DATABASE nyxcore SET event_triggers TO 'off'",
    "SELECT set_config('event_triggers', 'off', true)",
    "CREATE FUNCTION e() RETURNS void LANGUAGE plpgsql AS $$ BEGIN SET LOCAL event_triggers = off; END $$",
    "DELETE FROM pg_temp.nyxops_dropped",
    "TRUNCATE nyxops_dropped",
    "ALTER EVENT TRIGGER nyxops_migration_guard DISABLE",
    "DROP EVENT TRIGGER IF EXISTS nyxops_protect",
    "CREATE OR REPLACE FUNCTION nyxops.migration_guard() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$",
    "DELETE FROM nyxops.schema_migrations WHERE version = '0003'",
    "UPDATE nyxops.protected SET address = '{}' WHERE true",
    "ALTER SCHEMA nyxops RENAME TO x",
    "DROP SCHEMA nyxops CASCADE",
    "UPDATE pg_catalog.pg_event_trigger SET evtenabled = 'D' WHERE evtname = 'nyxops_migration_guard'",
    "UPDATE pg_event_trigger SET evtenabled = 'D' WHERE evtname = 'nyxops_protect'",
    "DELETE FROM pg_attribute WHERE attrelid = 'workflow_insights'::regclass AND attname = 'embedding'",
    "INSERT INTO pg_catalog.pg_depend SELECT * FROM pg_depend WHERE objid = 1",
    "WITH x AS (UPDATE pg_class SET relkind = 'v' WHERE oid = 1 RETURNING 1) SELECT 1",
    "COPY pg_catalog.pg_trigger FROM STDIN",
    "ALTER TABLE workflow_insights DISABLE TRIGGER ALL",
    "ALTER TABLE public.workflow_insights DISABLE TRIGGER USER",
    "ALTER TABLE app.anything DISABLE TRIGGER nyxops_keep_embedding",
    "ALTER TABLE workflow_insights ENABLE TRIGGER nyxops_keep_embedding",
    "ALTER TABLE workflow_insights ENABLE TRIGGER USER",
    "DROP TRIGGER IF EXISTS nyxops_keep_embedding ON workflow_insights",
    "ALTER TRIGGER nyxops_keep_embedding ON workflow_insights RENAME TO x",
    "CREATE OR REPLACE TRIGGER nyxops_keep_embedding AFTER UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()",
    "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS"
    " $$ BEGIN ALTER EVENT TRIGGER nyxops_protect DISABLE; RETURN NEW; END $$",
    "CREATE FUNCTION g() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DROP EVENT TRIGGER nyxops_protect'; END $$",
    "CREATE FUNCTION h() RETURNS void LANGUAGE sql AS $$ SELECT set_config('nyxops.allow_drop', 'x', true) $$",
    "CREATE OR REPLACE FUNCTION public.postgres_fdw_get_connections(OUT server_name text, OUT valid boolean)"
    " RETURNS SETOF record LANGUAGE sql AS $$ SELECT NULL::text, true WHERE false $$",
    "CREATE FUNCTION Postgres_FDW_Disconnect_All() RETURNS bool LANGUAGE sql AS 'SELECT true'",
    "CREATE FUNCTION postgres_fdw_disconnect_all() RETURNS bool AS '$libdir/other' LANGUAGE C",
    "CREATE TRIGGER late AFTER INSERT ON nyxops.census_log FOR EACH ROW EXECUTE FUNCTION late()",
    "CREATE RULE late AS ON INSERT TO nyxops.schema_migrations DO ALSO SELECT 1",
    "DEALLOCATE _pg3_4",
    "PREPARE _PG3_4 AS SELECT 1 WHERE false",
    "CREATE FUNCTION blind() RETURNS void LANGUAGE sql AS $$ DEALLOCATE PREPARE _pg3_4 $$",
    "DISCARD TEMP",
    "DISCARD ALL",
    "DO $$ BEGIN DISCARD TEMPORARY; END $$",
    "DROP TABLE IF EXISTS nyxops_dropped",
    "DROP TABLE app.t, pg_temp.nyxops_dropped",
]
PASS = [
    "SET lock_timeout = '5s'",
    "ALTER EXTENSION postgres_fdw UPDATE",
    "CREATE FUNCTION postgres_fdw_disconnect_all() RETURNS bool AS 'MODULE_PATHNAME' LANGUAGE C STRICT",
    "CREATE RULE late AS ON INSERT TO app.schema_migrations DO ALSO SELECT 1",
    "CREATE OR REPLACE FUNCTION postgres_fdw_get_connections(OUT server_name text, OUT valid boolean)"
    " RETURNS SETOF record AS '$libdir/postgres_fdw', 'postgres_fdw_get_connections' LANGUAGE c",
    "CREATE FUNCTION postgres_fdw_get_connections_report() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "SELECT set_config('statement_timeout', '0', true)",
    "ALTER SYSTEM SET work_mem = '64MB'",
    "ALTER ROLE app SET work_mem = '64MB'",
    "ALTER DATABASE nyxcore SET nyxops_app.mode = 'x'",
    "DELETE FROM app.nyxops_dropped WHERE id = 1",
    "CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
    "UPDATE app.pg_settings_copy SET value = '1' WHERE name = 'x'",
    "INSERT INTO audit SELECT relname FROM pg_class WHERE oid = 1",
    "COPY pg_catalog.pg_class TO STDOUT",
    "ALTER TABLE events DISABLE TRIGGER ALL",
    "ALTER TABLE workflow_insights DISABLE TRIGGER app_touch",
    "DROP TRIGGER app_touch ON workflow_insights",
    "CREATE TRIGGER app_touch AFTER UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION f()",
    "PREPARE recent AS SELECT * FROM workflow_insights WHERE id = $1",
    "DEALLOCATE ALL",
    'DEALLOCATE "_PG3_4"',
    "DISCARD PLANS",
    "DISCARD SEQUENCES",
    "DROP TABLE app.nyxops_dropped",
]
SETTINGS = {
    "session_replication_role": "silences triggers",
    "nyxops.allow_drop": "lets protected columns be dropped",
    "event_triggers": "switches every event trigger off, nyxops' guards with them (PostgreSQL 17 and later)",
    "allow_system_table_mods": "lets the file put functions and operators in pg_catalog, where nyxops' own reads"
    " find them",
}
"""Settings no migration may change (names in lower case: PostgreSQL ignores their case). The
ledger reads their stored values too, for what dynamic SQL stores with ``ALTER DATABASE|ROLE``."""
_OWN_TRIGGER = "nyxops_"
_SWITCHES = {"AT_DisableTrig", "AT_EnableTrig", "AT_EnableReplicaTrig"}
"""Each leaves a trigger other than ALWAYS (ENABLE TRIGGER makes an ALWAYS one fire on origin only)."""
_ALL = {"AT_DisableTrigAll", "AT_DisableTrigUser", "AT_EnableTrigAll", "AT_EnableTrigUser"}


_LISTS_SESSIONS = {"postgres_fdw_get_connections", "postgres_fdw_disconnect_all"}
"""postgres_fdw's functions with which the run-time layer lists and closes the file's connections."""


def _postgres_fdw_code(body: Node) -> bool:
    """A function in C from postgres_fdw's library, as its extension scripts create them."""
    options = {o["DefElem"]["defname"]: o["DefElem"].get("arg") for o in body.get("options", []) if "DefElem" in o}
    language = (options.get("language") or {}).get("String", {}).get("sval")
    library = name_list((options.get("as") or {}).get("List", {}).get("items", []))[:1]
    return language == "c" and library in (["MODULE_PATHNAME"], ["$libdir/postgres_fdw"])


def _nyxops(names: list[str]) -> bool:
    return len(names) >= 2 and names[-2] == "nyxops"


def _record(names: list[str]) -> bool:
    """The tripwire's temporary table: unqualified (temporary tables are looked up first) or pg_temp."""
    return names[-1:] == [record.TABLE] and names[:-1] in ([], ["pg_temp"])


def _catalog(rel: Node, ctx: Scope) -> bool:
    """A system catalog: in pg_catalog, or unqualified ``pg_…``, which PostgreSQL looks up in
    pg_catalog before the schemas of the search_path. Only a TEMP table of that name, which it
    looks up first, is found before it: one the file created is the file's own."""
    schema, name = rel.get("schemaname"), str(rel.get("relname", ""))
    if schema is not None:
        return bool(schema == "pg_catalog")
    return name.startswith("pg_") and name not in ctx.temp


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    kind = ctx.kind
    if kind in ("VariableSetStmt", "AlterRoleSetStmt", "AlterDatabaseSetStmt", "AlterSystemStmt"):
        setstmt = body.get("setstmt", body)
        setting = str(setstmt.get("name", "")).lower()
        if setting in SETTINGS:
            yield Hit(setting, setstmt.get("location"), detail=f"{setting} {SETTINGS[setting]}")
    elif kind == "FuncCall":
        args = body.get("args", [])
        if name_list(body.get("funcname", []))[-1:] == ["set_config"] and args:
            first = args[0].get("A_Const", {}).get("sval", {}).get("sval")
            first = first.lower() if isinstance(first, str) else None
            if first is None or first in SETTINGS:  # a name built at run time may be one of them
                setting = first or "a setting named at run time"
                yield Hit(setting, body.get("location"), detail=f"set_config of {setting}")
    elif kind in ("AlterEventTrigStmt", "CreateEventTrigStmt"):
        yield Hit(body.get("trigname", "?"), detail=kind.removesuffix("Stmt"))
    elif kind == "DropStmt":
        for obj in dropped_objects(body):
            name = obj["String"]["sval"] if isinstance(obj, dict) and "String" in obj else None
            names = name_list(obj) if isinstance(obj, list) else []
            if body.get("removeType") == "OBJECT_TRIGGER":
                if names[-1:] and names[-1].startswith(_OWN_TRIGGER):
                    yield Hit(names[-1], detail="drops a trigger of nyxops")
            elif body.get("removeType") == "OBJECT_TABLE" and _record(names):
                yield Hit(record.RECORD, detail="drops the tripwire's record of what the migration dropped")
            elif body.get("removeType") == "OBJECT_EVENT_TRIGGER" or (
                body.get("removeType") == "OBJECT_SCHEMA" and name == "nyxops"
            ):
                yield Hit(name or "?", detail="DROP " + body["removeType"].removeprefix("OBJECT_").replace("_", " "))
            elif (
                isinstance(obj, dict)
                and "ObjectWithArgs" in obj
                and _nyxops(name_list(obj["ObjectWithArgs"].get("objname", [])))
            ):
                yield Hit("nyxops function", detail="drops a function of nyxops")
    elif kind == "CreateFunctionStmt":
        names = name_list(body.get("funcname", []))
        if _nyxops(names):
            yield Hit(".".join(names), detail="replaces a function of nyxops")
        elif names[-1:] and names[-1] in _LISTS_SESSIONS and not _postgres_fdw_code(body):
            yield Hit(".".join(names), detail="replaces postgres_fdw's list of the file's connections")
    elif kind == "AlterFunctionStmt":
        if _nyxops(name_list(body.get("func", {}).get("objname", []))):
            yield Hit(".".join(name_list(body["func"]["objname"])), detail="alters a function of nyxops")
    elif kind == "RenameStmt":
        obj = body.get("object", {})
        if body.get("renameType") == "OBJECT_SCHEMA" and body.get("subname") == "nyxops":
            yield Hit("nyxops", detail="renames nyxops' schema")
        elif "ObjectWithArgs" in obj and _nyxops(name_list(obj["ObjectWithArgs"].get("objname", []))):
            yield Hit("nyxops function", detail="renames a function of nyxops")
        elif body.get("renameType") == "OBJECT_TRIGGER" and str(body.get("subname", "")).startswith(_OWN_TRIGGER):
            yield Hit(str(body["subname"]), detail="renames a trigger of nyxops")
        elif body.get("relation", {}).get("schemaname") == "nyxops":
            yield Hit(f"nyxops.{body['relation'].get('relname')}", detail="renames nyxops' own table")
    elif kind in ("CreateTrigStmt", "RuleStmt") and body.get("relation", {}).get("schemaname") == "nyxops":
        what = "a trigger" if kind == "CreateTrigStmt" else "a rule"
        yield Hit(f"nyxops.{body['relation'].get('relname')}", detail=f"puts {what} on nyxops' own table")
    elif kind in ("AlterTableStmt", "CreateTrigStmt"):
        yield from _triggers(body, ctx)
    elif kind == "DiscardStmt" and body.get("target") in ("DISCARD_TEMP", "DISCARD_ALL"):
        yield Hit(record.RECORD, detail="drops every temporary table, the tripwire's record among them")
    elif kind in ("PrepareStmt", "DeallocateStmt") and str(body.get("name", "")).startswith(PREPARED_PREFIX):
        yield Hit(str(body["name"]), body.get("location"), detail="replaces a statement nyxops' client prepared")
    elif kind in ("InsertStmt", "UpdateStmt", "DeleteStmt", "TruncateStmt", "MergeStmt", "CopyStmt"):
        if kind == "CopyStmt" and not body.get("is_from"):
            return  # COPY … TO reads
        rels = [body["relation"]] if "relation" in body else [r.get("RangeVar", {}) for r in body.get("relations", [])]
        for rel in rels:
            if rel.get("schemaname") == "nyxops" or (
                rel.get("relname") == record.TABLE and rel.get("schemaname") in (None, "pg_temp")
            ):
                table = f"{rel.get('schemaname') or 'pg_temp'}.{rel.get('relname')}"
                yield Hit(table, rel.get("location"), detail="writes nyxops' own table")
            elif _catalog(rel, ctx):
                yield Hit(f"pg_catalog.{rel.get('relname')}", rel.get("location"), detail="writes a system catalog")


def _triggers(body: Node, ctx: Scope) -> Iterator[Hit]:
    """nyxops' own row triggers switched or replaced; every trigger of a protected table switched."""
    if ctx.kind == "CreateTrigStmt":
        if str(body.get("trigname", "")).startswith(_OWN_TRIGGER):
            yield Hit(str(body["trigname"]), detail="replaces a trigger of nyxops")
        return
    guarded = {(c.schema, c.table) for c in ctx.protected}
    tables = ctx.tables(body.get("relation", {}))
    for cmd in body.get("cmds", []):
        sub = cmd.get("AlterTableCmd", {})
        subtype, name = sub.get("subtype"), str(sub.get("name", ""))
        if subtype in _SWITCHES and name.startswith(_OWN_TRIGGER):
            yield Hit(name, detail="switches a trigger of nyxops")
        elif subtype in _ALL and any((t.schema, t.table) in guarded for t in tables):
            yield Hit(str(tables[0]), detail="switches every trigger of a table with a protected column")
