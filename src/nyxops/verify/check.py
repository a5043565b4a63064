"""What a check is given and what it returns: the API of the modules in ``checks/``.

Kept apart from the runner so that a check imports only this (through ``nyxops.verify``), and a
change to how checks are discovered, timed or reported never touches the team's own checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg

from nyxops.config import Settings
from nyxops.db import connect
from nyxops.errors import UsageError

Status = Literal["pass", "fail", "skip"]

_VECTOR_ON_PATH = """
SELECT pg_catalog.set_config('search_path',
    pg_catalog.current_setting('search_path') || ', ' || pg_catalog.quote_ident(n.nspname), false)
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'vector' AND n.nspname <> ALL (pg_catalog.current_schemas(true))
"""
"""pgvector's schema, last on the checks' path when the login's path does not reach it (Supabase
keeps it in ``extensions``): the checks call ``vector_dims`` and compare vectors, which crashed
there ("function vector_dims(public.vector) does not exist", a test). Names the path already
reached resolve as before."""


@dataclass
class CheckResult:
    name: str
    status: Status
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    retry: bool = False
    """Whether waiting can clear this failure (a service starting), so ``--wait`` tries it again."""


def passed(reason: str, **figures: Any) -> CheckResult:
    return CheckResult("", "pass", reason, figures)


def failed(reason: str, **figures: Any) -> CheckResult:
    """A failure that waiting cannot clear (a missing trigger, a lost embedding): ``--wait`` stops at it."""
    return CheckResult("", "fail", reason, figures)


def unavailable(reason: str, **figures: Any) -> CheckResult:
    """A failure that may clear by itself (a service starting, a transient error): ``--wait`` retries it."""
    return CheckResult("", "fail", reason, figures, retry=True)


def skipped(reason: str, **figures: Any) -> CheckResult:
    return CheckResult("", "skip", reason, figures)


class Remote(Protocol):
    """What host checks need from an SSH connection (``nyxops.remote.Host`` provides it)."""

    def run(self, argv: list[str], timeout: float = 60) -> str: ...


@dataclass
class Context:
    """Everything a check may reach: settings, and the endpoints (direct, or through SSH tunnels)."""

    settings: Settings
    database_url: str | None
    ollama_url: str
    app_url: str | None
    remote: Remote | None = None
    migrations_dir: Path | None = None

    @contextmanager
    def db(self) -> Iterator[psycopg.Connection]:
        if not self.database_url:
            raise UsageError("no database configured (DATABASE_URL)")
        conn = connect(self.database_url, "nyxops verify")
        try:
            conn.execute(_VECTOR_ON_PATH)
            yield conn
        finally:
            conn.close()
