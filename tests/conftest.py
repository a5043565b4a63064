"""Fixtures: a real PostgreSQL 16 with pgvector (embedded by default), fresh seeded databases.

``NYXOPS_TEST_DATABASE_URL`` points the suite at any other server (a superuser URL: tests create
databases and event triggers). ``NYXOPS_TEST_DOCKER=1`` starts ``pgvector/pgvector:pg16`` with
testcontainers where a Docker engine exists. CI uses the embedded server from ``pgserver``.
Every test runs under the network rule (tests/network_rule.py): loopback and the test host's veth
pair, nothing else.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from nyxops.embedded import embedded_postgres, load_fixture
from tests import network_rule
from tests.helpers import REPO, with_database

network_rule.install()

TEMPLATE = "nyxops_template"


def _docker() -> Iterator[str]:
    from docker.errors import DockerException
    from testcontainers.community.postgres import PostgresContainer

    try:
        container = PostgresContainer("pgvector/pgvector:pg16", driver=None).start()
    except DockerException as exc:
        pytest.exit(
            f"NYXOPS_TEST_DOCKER=1, but no Docker engine answers ({exc}). "
            "Start Docker, or unset NYXOPS_TEST_DOCKER to test against the embedded server.",
            returncode=2,
        )
    try:
        yield container.get_connection_url()
    finally:
        container.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A superuser URL of a PostgreSQL 16 server with pgvector available."""
    if os.environ.get("NYXOPS_TEST_DATABASE_URL"):
        yield os.environ["NYXOPS_TEST_DATABASE_URL"]
    elif os.environ.get("NYXOPS_TEST_DOCKER") == "1":
        yield from _docker()
    else:
        with embedded_postgres() as url:
            yield url


@pytest.fixture(scope="session")
def template_url(pg_server: str) -> str:
    """A database seeded with the nyxcore-shaped fixture, cloned for every test."""
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    url = with_database(pg_server, TEMPLATE)
    load_fixture(url)
    return url


def _fresh_database(pg_server: str, template: str) -> Iterator[str]:
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    try:
        yield with_database(pg_server, name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db_url(pg_server: str, template_url: str) -> Iterator[str]:
    """A fresh copy of the seeded nyxcore-shaped database."""
    yield from _fresh_database(pg_server, TEMPLATE)


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    """A copy of the repository's reviewed migrations, safe to add to."""
    target = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", target)
    return target


@pytest.fixture
def env(db_url: str, migrations: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for CLI runs against the fresh database and migration copy."""
    for name in list(os.environ):
        if name.startswith(("NYXOPS_", "OPENAI_", "OLLAMA_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name, raising=False)
    values = {"DATABASE_URL": db_url, "NYXOPS_MIGRATIONS_DIR": str(migrations)}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values
