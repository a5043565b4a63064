"""Lint results of files already linted, kept between runs (ruff's ``.ruff_cache`` habit).

A migration history only grows: a pre-commit hook or a CI job lints hundreds of files of which
one is new. A file's result depends on its bytes, the protected columns and nyxops' own guard,
so that is the key: the SHA-256 of the file's bytes, in a cache file named by a hash of the
guard's source, the parser's build and the policy. Any change to the code or the configuration
starts a new cache file. A fully cached run imports neither the parser nor the rules.

Only ``nyxops lint`` reads it; ``migrate apply`` and ``plan`` always check again. A cache that
cannot be read or written is ignored: the result is the same, only slower.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nyxops.errors import SqlParseError
from nyxops.guard.model import Finding
from nyxops.names import QualifiedName

if TYPE_CHECKING:
    from nyxops.guard.lint import FileResult
    from nyxops.guard.policy import Policy

_FORMAT = "lint-v2"
_KEEP = 20_000
"""Entries a cache file keeps at most; past that, only the ones this run used."""


def _salt(policy: Policy) -> str:
    """The guard's source, the parser's build, the policy: what a file's result depends on."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(_FORMAT.encode())
    sources = sorted((package / "guard").rglob("*.py")) + [package / n for n in ("sql.py", "names.py", "defaults.py")]
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    spec = importlib.util.find_spec("pglast")  # found, not imported
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        for built in sorted(Path(folder).glob("parser*.so")):
            stat = built.stat()
            digest.update(f"{built.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(repr(policy.protected).encode())
    return digest.hexdigest()[:24]


class LintCache:
    def __init__(self, directory: Path, policy: Policy) -> None:
        self.directory = directory
        self.path = directory / f"{_FORMAT}-{_salt(policy)}.json"
        self.entries: dict[str, dict[str, Any]] = {}
        self.used: set[str] = set()
        self.changed = False
        try:
            loaded = json.loads(self.path.read_bytes())
            if isinstance(loaded, dict):
                self.entries = loaded
        except (OSError, ValueError):
            pass  # no cache yet, or one that cannot be read: start afresh

    @staticmethod
    def key(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def get(self, key: str, path: Path, data: bytes) -> FileResult | None:
        """The result of a file with these bytes; its lines (for the text report) are read from them."""
        payload = self.entries.get(key)
        if payload is None:
            return None
        try:
            result = _result(payload, path)
            if result.findings:  # a file with a result and no error is UTF-8 without BOM or NUL
                result.lines = data.decode("utf-8").splitlines()
        except (KeyError, TypeError, ValueError):
            return None  # an entry of another shape: checked again, and replaced
        self.used.add(key)
        return result

    def put(self, key: str, result: FileResult) -> None:
        self.entries[key] = _payload(result)
        self.used.add(key)
        self.changed = True

    def save(self) -> None:
        """Written whole, through a temporary file: a run that is killed leaves the old cache."""
        if not self.changed:
            return
        entries = self.entries
        if len(entries) > _KEEP:
            entries = {k: v for k, v in entries.items() if k in self.used}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            ignore = self.directory / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# written by nyxops lint\n*\n")
            for old in self.directory.glob("lint-*.json"):
                if old != self.path:  # another version of the guard, or another policy
                    old.unlink(missing_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".lint-", suffix=".tmp")
            with os.fdopen(fd, "w") as out:
                json.dump(entries, out, separators=(",", ":"))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only checkout: the next run checks again


def _names(items: tuple[QualifiedName, ...]) -> list[list[str | None]]:
    return [[q.schema, q.table, q.column] for q in items]


_NAMES = ("tables", "columns")
"""Finding fields holding QualifiedNames, written as [schema, table, column] lists."""


def _payload(result: FileResult) -> dict[str, Any]:
    """Every field of each Finding (read from the dataclass, so a new field is never left out)."""
    if result.error is not None:
        return {"error": [result.error.line, result.error.column, result.error.reason]}
    findings = []
    for f in result.findings:
        entry = {field.name: getattr(f, field.name) for field in dataclasses.fields(Finding)}
        for name in _NAMES:
            entry[name] = _names(entry[name])
        findings.append(entry)
    return {"statements": result.statements, "findings": findings}


def _result(payload: dict[str, Any], path: Path) -> FileResult:
    from nyxops.guard.lint import FileResult

    if "error" in payload:
        line, column, reason = payload["error"]
        return FileResult(path, error=SqlParseError(str(path), int(line), int(column), str(reason)))
    findings = []
    for f in payload["findings"]:
        fields = dict(f)
        for name in _NAMES:
            fields[name] = tuple(QualifiedName(*q) for q in f[name])
        fields["unit"] = tuple(f["unit"]) if f["unit"] else None
        findings.append(Finding(**fields))
    return FileResult(path, int(payload["statements"]), findings)
