"""SQL sent through postgres_fdw to this very database: a session of its own, past every guard.

Shown on a real PostgreSQL 18 (its contrib has postgres_fdw; the suite's PostgreSQL 16 has only
pgvector): with ``protect`` installed, ``UPDATE shadow.workflow_insights SET embedding = NULL``
through a loopback foreign table linted clean, and ``migrate apply`` said applied while every
protected value was nulled. Now the static layer refuses the server's creation, and the run-time
layer refuses any file that used such a connection unless an allow comment names the server.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest

from tests.helpers import add_migration, nyxops, scalar, snapshot

Database = tuple[str, Path, dict[str, str]]
VALUES = "SELECT count(embedding) FROM workflow_insights"


def _loopback(url: str) -> str:
    """CREATE SERVER … postgres_fdw pointing back at the database of ``url`` (over its Unix socket)."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    host, port, name = query["host"][0], query["port"][0], parsed.path.lstrip("/")
    return (
        f"CREATE SERVER loop FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname '{name}', host '{host}', port '{port}');\n"
        "CREATE USER MAPPING FOR CURRENT_USER SERVER loop OPTIONS (user 'postgres');\n"
    )


@pytest.fixture
def looped(pg18: Database) -> Database:
    """The database with a loopback server and its foreign tables in schema shadow, set up by hand
    before nyxops looks (as a server an earlier team created), and protect installed."""
    url, folder, env = pg18
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgres_fdw")
        for statement in _loopback(url).split(";\n")[:-1]:
            conn.execute(statement)
        conn.execute("CREATE SCHEMA shadow")
        conn.execute("IMPORT FOREIGN SCHEMA public LIMIT TO (workflow_insights) FROM SERVER loop INTO shadow")
    assert nyxops("protect", "install", env=env).code == 0
    return url, folder, env


def test_a_write_through_a_loopback_server_is_refused_with_every_value_intact(looped: Database) -> None:
    url, folder, env = looped
    add_migration(folder, "0002_reset.sql", "UPDATE shadow.workflow_insights SET embedding = NULL WHERE id > 0;\n")
    assert nyxops("lint", str(folder / "0002_reset.sql"), env=env).code == 0  # no name the static layer can know
    before = snapshot(url)
    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    [statement] = [s for s in plan["statements"] if s["file"] == "0002_reset.sql"]
    assert "apply would refuse the file, which sent SQL through foreign server loop (postgres_fdw)" in str(
        statement["refused"]
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "sent SQL through foreign server loop (postgres_fdw)" in result.output
    assert "-- nyxops:allow other-session loop" in result.output
    assert scalar(url, VALUES) == 50
    assert snapshot(url) == before


def test_a_server_dropped_by_the_same_file_does_not_hide_its_connection(looped: Database) -> None:
    url, folder, env = looped
    sql = (
        "UPDATE shadow.workflow_insights SET embedding = NULL WHERE id > 0;\n"
        "-- nyxops:allow drop-table shadow.workflow_insights\nDROP FOREIGN TABLE shadow.workflow_insights;\n"
        "DROP USER MAPPING FOR CURRENT_USER SERVER loop;\nDROP SERVER loop;\n"
    )
    add_migration(folder, "0002_reset.sql", sql)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "sent SQL through foreign server a server the file dropped since" in result.output
    assert scalar(url, VALUES) == 50


def test_a_read_of_a_server_the_file_names_in_an_allow_comment_applies(looped: Database) -> None:
    url, folder, env = looped
    sql = (
        "-- the archive is read once, ticket 40\n-- nyxops:allow other-session loop\n"
        "INSERT INTO notes SELECT id + 100, content FROM shadow.workflow_insights WHERE id <= 3;\n"
    )
    add_migration(folder, "0002_copy.sql", sql)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(url, "SELECT count(*) FROM notes WHERE id > 100") == 3
    add_migration(folder, "0003_after.sql", "CREATE TABLE side (id int);\n")  # a later file starts with none open
    assert nyxops("migrate", "apply", env=env).code == 0


def test_creating_such_a_server_in_a_migration_is_refused_before_anything_runs(pg18: Database) -> None:
    url, folder, env = pg18
    add_migration(folder, "0002_loop.sql", "CREATE EXTENSION postgres_fdw;\n" + _loopback(url))
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "other-session" in result.output
    assert scalar(url, "SELECT count(*) FROM pg_extension WHERE extname = 'postgres_fdw'") == 0


def test_an_extension_too_old_to_list_its_connections_is_said_not_a_crash(pg18: Database) -> None:
    """postgres_fdw 1.0 (a database upgraded from PostgreSQL 13, the extension never updated) has
    no function that lists connections: apply says the check is missing, and applies."""
    url, folder, env = pg18
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgres_fdw VERSION '1.0'")
    add_migration(folder, "0002_side.sql", "CREATE TABLE side (id int);\n")
    add_migration(folder, "0003_more.sql", "CREATE TABLE more (id int);\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert result.output.count("postgres_fdw is installed, but this role cannot list its connections") == 1
    assert "ALTER EXTENSION postgres_fdw UPDATE" in result.output
