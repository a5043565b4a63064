"""Shared test helpers: the CLI as a user runs it, snapshots of a database, new migration files."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg

from nyxops.migrate import store
from nyxops.names import with_database

__all__ = ["with_database"]

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def nyxops(*args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None) -> Result:
    """Run ``python -m nyxops`` in a child process, as an operator would."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("COLUMNS", "200")
    proc = subprocess.run(
        [sys.executable, "-m", "nyxops", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd or REPO,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def add_migration(directory: Path, name: str, text: str, *, review: bool = True) -> Path:
    path = directory / name
    path.write_text(text)
    if review:
        store.review(directory, [path], "test reviewer")
    return path


def snapshot(url: str) -> str:
    """A fingerprint of the schema and the data of every user table (nyxops' own history aside)."""
    with psycopg.connect(url) as conn:
        schema = conn.execute(
            "SELECT table_schema, table_name, column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'nyxops')"
            " ORDER BY 1, 2, 3"
        ).fetchall()
        extra = conn.execute(
            "SELECT 'trigger', evtname FROM pg_event_trigger UNION ALL"
            " SELECT 'policy', policyname FROM pg_policies UNION ALL"
            " SELECT 'index', indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2"
        ).fetchall()
        digest = hashlib.sha256(repr((schema, extra)).encode())
        tables = conn.execute(
            "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            rows = conn.execute(f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t").fetchone()
            digest.update(f"{table}={rows}".encode())
        return digest.hexdigest()


def scalar(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
        return row[0] if row else None
