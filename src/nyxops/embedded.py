"""An embedded PostgreSQL 16 with pgvector (the ``pgserver`` package), and the nyxcore-shaped fixture.

One place for what the demo, the test suite and the benchmarks all start the same way.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

import psycopg

from nyxops.errors import UsageError


@contextmanager
def embedded_postgres(prefix: str = "nyxpg-", *, keep: bool = False) -> Iterator[str]:
    """A throwaway server's superuser URL; stopped and removed afterwards unless ``keep``.

    The data folder is short and under /tmp: the server's unix socket lives in it (107-byte limit).
    """
    try:
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime folder when imported; as root or in CI without
            # XDG_RUNTIME_DIR it warns and falls back to /tmp/runtime-<uid>, which serves: not the operator's concern
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            import pgserver
    except ImportError:
        raise UsageError("the embedded PostgreSQL needs the pgserver package: pip install -e '.[test]'") from None
    data = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    # cleanup_mode None: a kept server must outlive this process (pgserver stops it at exit otherwise)
    server = pgserver.get_server(data, cleanup_mode=None if keep else "stop")  # type: ignore[attr-defined]
    try:
        yield str(server.get_uri())
    finally:
        if not keep:
            server.cleanup()
            shutil.rmtree(data, ignore_errors=True)


def load_fixture(url: str) -> None:
    """The nyxcore-shaped schema with its seed data (382 workflow insights with embeddings)."""
    fixture = resources.files("nyxops").joinpath("fixtures/nyxcore_schema.sql").read_text()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(fixture.encode())
