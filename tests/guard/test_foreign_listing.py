"""postgres_fdw's own list of connections, which the run-time layer trusts, replaced by the migration.

guard/foreign.py refuses a file that sent SQL through a postgres_fdw connection, and learns of such
connections from ``postgres_fdw_get_connections()``. A superuser migration replaced that function
(``CREATE OR REPLACE … LANGUAGE sql``, which keeps it a member of the extension) with one that
lists nothing, then nulled every protected value through a loopback foreign table: lint clean,
apply saying applied. Shown on a real PostgreSQL 18, as test_foreign_sessions.py.
"""

from __future__ import annotations

import json

import psycopg

from tests.guard.test_foreign_sessions import VALUES, Database, looped  # noqa: F401  (a fixture)
from tests.helpers import add_migration, nyxops, scalar, snapshot

_SIGNATURE = (
    "(check_conn boolean DEFAULT false, OUT server_name text, OUT user_name text, OUT valid boolean, "
    "OUT used_in_xact boolean, OUT closed boolean, OUT remote_backend_pid integer) RETURNS SETOF record "
    "LANGUAGE sql AS $$ SELECT NULL::text, NULL::text, true, false, false, 0 WHERE false $$"
)
_SILENT = f"CREATE OR REPLACE FUNCTION public.postgres_fdw_get_connections{_SIGNATURE};\n"
_BUILT = (  # the same, its name built at run time: lint can only warn (dynamic-sql)
    "DO $do$ BEGIN EXECUTE 'CREATE OR REPLACE FUNCTION public.' || quote_ident(lower('POSTGRES_FDW_GET_CONNECTIONS'))"
    f" || '{_SIGNATURE}'; END $do$;\n"
)
_RESET = "UPDATE shadow.workflow_insights SET embedding = NULL WHERE id > 0;\n"


def _refused(url: str, env: dict[str, str], expected: str) -> None:
    before = snapshot(url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert expected in result.output, result.output
    assert scalar(url, VALUES) == 50
    assert snapshot(url) == before
    with psycopg.connect(url) as conn:  # the extension's own function, in C, as before the file
        lang = "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.proname = %s"
        assert conn.execute(lang, ("postgres_fdw_get_connections",)).fetchone() == ("c",)


def test_replacing_the_connection_list_is_refused_before_anything_runs(looped: Database) -> None:  # noqa: F811
    url, folder, env = looped
    add_migration(folder, "0002_hide.sql", _SILENT + _RESET)
    lint = nyxops("lint", str(folder / "0002_hide.sql"), env=env)
    assert lint.code == 1 and "[guard-tamper]" in lint.output, lint.output
    assert "replaces postgres_fdw's list of the file's connections" in lint.output
    _refused(url, env, "[guard-tamper]")


def test_replacing_it_by_sql_built_at_run_time_is_refused_with_every_value_intact(looped: Database) -> None:  # noqa: F811
    url, folder, env = looped
    add_migration(folder, "0002_hide.sql", _BUILT + _RESET)
    assert nyxops("lint", str(folder / "0002_hide.sql"), env=env).code == 0  # a warning only
    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    refused = [s["refused"] for s in plan["statements"] if s["file"] == "0002_hide.sql" and s["refused"]]
    assert "replaced postgres_fdw's function public.postgres_fdw_get_connections" in str(refused), refused
    _refused(url, env, "replaced or took out of postgres_fdw its function public.postgres_fdw_get_connections")


def test_taking_it_out_of_the_extension_is_refused_at_run_time(looped: Database) -> None:  # noqa: F811
    """What postgres_fdw's own update scripts do, so lint passes it; no longer the extension's, the
    function could be anything by commit."""
    url, folder, env = looped
    out = "ALTER EXTENSION postgres_fdw DROP FUNCTION postgres_fdw_get_connections(boolean);\n"
    add_migration(folder, "0002_hide.sql", out + _RESET)
    assert nyxops("lint", str(folder / "0002_hide.sql"), env=env).code == 0
    _refused(url, env, "replaced or took out of postgres_fdw its function public.postgres_fdw_get_connections")


def test_the_real_function_renamed_away_still_lists_the_connection(looped: Database) -> None:  # noqa: F811
    """Renamed, with a silent one of its old name put in its place: nyxops finds postgres_fdw's own
    function by what it is, not by its name, and calls it under the new one."""
    url, folder, env = looped
    rename = "ALTER FUNCTION postgres_fdw_get_connections(boolean) RENAME TO kept_aside;\n"
    add_migration(folder, "0002_hide.sql", rename + _BUILT + _RESET)
    _refused(url, env, "sent SQL through foreign server loop (postgres_fdw)")


def test_a_list_replaced_before_nyxops_looks_is_said_not_trusted(looped: Database) -> None:  # noqa: F811
    """Replaced outside any migration (by hand, before this deploy), nothing can list the file's
    connections: said, as for an extension too old to list them (the README's limits)."""
    url, folder, env = looped
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_SILENT)
    add_migration(folder, "0002_table.sql", "CREATE TABLE side (id int);\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert result.output.count("postgres_fdw is installed, but this role cannot list its connections") == 1
    assert "drop and create the extension where one of them was replaced" in result.output
