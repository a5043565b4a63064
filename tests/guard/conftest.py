"""Fixtures of the guard's tests: a PostgreSQL 18 server (for what only 17 and later, or only its
contrib, can show), one for the whole session, and a fresh database on it for each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.helpers import add_migration, nyxops, with_database
from tests.pg18 import postgres18

SEED = """CREATE TABLE workflow_insights (id int PRIMARY KEY, content text NOT NULL, embedding real[]);
INSERT INTO workflow_insights SELECT i, 'insight ' || i, ARRAY[i, i + 1]::real[] FROM generate_series(1, 50) i;
CREATE TABLE notes (id int PRIMARY KEY, body text);
INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 20) i;
"""


@pytest.fixture(scope="session")
def server18() -> Iterator[str]:
    with postgres18() as url:
        yield url


@pytest.fixture
def pg18(server18: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """A fresh database on PostgreSQL 18, its first migration applied; the URL, folder and environment."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server18, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server18, name)
    folder = tmp_path / "migrations"
    folder.mkdir()
    add_migration(folder, "0001_tables.sql", SEED)
    env = {"DATABASE_URL": url, "NYXOPS_MIGRATIONS_DIR": str(folder)}
    for key in list(os.environ):  # as the suite's own env fixture: no setting of the developer's leaks in
        if key.startswith(("NYXOPS_", "OPENAI_", "OLLAMA_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    try:
        yield url, folder, env
    finally:
        with psycopg.connect(server18, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
