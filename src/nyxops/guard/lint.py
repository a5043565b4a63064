"""``nyxops lint``: the static layer alone, on files or folders, no database."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

from nyxops.defaults import PROTECTED_COLUMNS
from nyxops.errors import SqlParseError, UsageError
from nyxops.guard.model import Finding
from nyxops.guard.policy import Policy

if TYPE_CHECKING:
    from nyxops.sql import Statement


@dataclass
class FileResult:
    path: Path
    statements: int = 0
    findings: list[Finding] = field(default_factory=list)
    error: SqlParseError | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]


@dataclass
class LintReport:
    files: list[FileResult]

    @property
    def exit_code(self) -> int:
        if any(f.error for f in self.files):
            return 2
        return 1 if any(f.blocking for f in self.files) else 0


def sql_files(paths: Iterable[Path], exclude: Iterable[str] = ()) -> Iterator[Path]:
    """The .sql files (any case: ``.SQL`` too) of files and folders, without the excluded patterns."""
    patterns = list(exclude)

    def kept(p: Path) -> bool:
        return not any(fnmatch(p.name, pat) or fnmatch(str(p), pat) for pat in patterns)

    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() == ".sql" and p.is_file() and kept(p))
        elif path.is_file():
            if kept(path):
                yield path
        else:
            raise UsageError(_not_lintable(path))


def _not_lintable(path: Path) -> str:
    if path.is_symlink():
        return f"{path}: a symbolic link to {os.readlink(path)}, which does not exist (or leads back to itself)"
    if path.exists():
        return f"{path}: neither a file nor a folder (a named pipe, socket or device); give .sql files or their folders"
    return f"{path}: no such file or folder"


def changed_since(ref: str, files: list[Path]) -> list[Path]:
    """Of ``files``, those added or changed since the git ``ref`` (committed, staged, or not yet added).

    History cannot be edited to add allow comments: a team linting an old project adopts nyxops
    for what it writes from now on.
    """
    import subprocess

    def git(*args: str) -> list[str]:
        try:
            done = subprocess.run(["git", *args], capture_output=True, text=True, check=False, timeout=60)
        except FileNotFoundError:
            raise UsageError("--changed-since needs git, which is not installed") from None
        if done.returncode != 0:
            raise UsageError(f"--changed-since {ref}: git says: {done.stderr.strip() or 'failed'}")
        return [line for line in done.stdout.splitlines() if line]

    top = Path(git("rev-parse", "--show-toplevel")[0])
    git("rev-parse", "--verify", "--quiet", ref + "^{commit}")
    names = git("diff", "--name-only", "--diff-filter=ACMR", ref, "--", ".") + git(
        "ls-files", "--others", "--exclude-standard"
    )
    changed = {(top / name).resolve() for name in names} | {(Path.cwd() / name).resolve() for name in names}
    return [f for f in files if f.resolve() in changed]


def lint_file(path: Path, policy: Policy, data: bytes | None = None) -> FileResult:
    """``data``: the file's bytes when the caller has read them already (the cache hashed them)."""
    from nyxops.sql import parse_file

    return _checked(path, lambda: parse_file(path, data), policy)


def _checked(path: Path, read: Callable[[], list[Statement]], policy: Policy) -> FileResult:
    """Read (parse) and check one source; a parse error is the result's error, not an exception.

    The parser and the rules are imported here, on the first file that needs them: a run whose
    files are all in the cache never loads them.
    """
    from nyxops.guard.check import check

    result = FileResult(path)
    try:
        statements = read()
        result.statements = len(statements)
        result.findings = check(statements, policy)
    except SqlParseError as exc:
        result.error = exc
        result.findings = []
        return result
    if result.findings and statements:
        result.lines = statements[0].source.text.splitlines()
    return result


def lint_text(text: str, name: str, policy: Policy) -> LintReport:
    """SQL given as text (``nyxops lint -`` reads standard input: ``prisma migrate diff --script | nyxops lint -``)."""

    from nyxops.sql import decode, parse

    data = text.encode("utf-8", errors="surrogateescape")
    return LintReport([_checked(Path(name), lambda: parse(decode(data, name), name), policy)])


def lint(
    paths: Iterable[Path],
    policy: Policy | None = None,
    *,
    exclude: Iterable[str] = (),
    since: str | None = None,
    cache: Path | None = None,
) -> LintReport:
    """Lint files and folders; with ``cache`` (a folder), files linted before are not checked again."""
    policy = policy or Policy()
    files = list(sql_files(paths, exclude))
    if not files:
        raise UsageError("no .sql files found in the given paths")
    if since is not None:
        files = changed_since(since, files)
        if not files:
            return LintReport([])
    if cache is None:
        return LintReport(_lint_all(files, policy))
    from nyxops.guard.cache import LintCache

    store = LintCache(cache, policy)
    results: dict[Path, FileResult] = {}
    keys: dict[Path, str] = {}
    read: dict[Path, bytes] = {}
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue  # lint_file says what is wrong with it
        keys[path] = key = store.key(data)
        hit = store.get(key, path, data)
        if hit is not None:
            results[path] = hit
        else:
            read[path] = data
    missing = [p for p in files if p not in results]
    for result in _lint_all(missing, policy, read):
        results[result.path] = result
        if result.path in keys:
            store.put(keys[result.path], result)
    store.save()
    return LintReport([results[p] for p in files])


def _lint_all(files: list[Path], policy: Policy, read: dict[Path, bytes] | None = None) -> list[FileResult]:
    """Every file, on every core when there are enough of them (``workers``).

    ``read``: bytes already read, checked as they were hashed (a file edited in between is not
    read again, so the cache entry is that of the text checked)."""
    from nyxops.guard.workers import run_shared

    if not files:
        return []
    import nyxops.guard.check  # noqa: F401  (before any fork: the workers inherit the parser and the rules)

    read = read or {}
    return run_shared(files, [_size(p, read) for p in files], lambda p: lint_file(p, policy, read.get(p)))


def _size(path: Path, read: dict[Path, bytes]) -> int:
    if path in read:
        return len(read[path])
    try:
        return path.stat().st_size
    except OSError:
        return 0  # lint_file says what is wrong with it


def configured_policy() -> Policy:
    """The protected columns as configured, for a lint run.

    When nothing configures nyxops (no ``NYXOPS_*`` variable in any case, as pydantic-settings
    reads them, and no config file), the settings are their defaults, so lint takes the defaults
    without importing pydantic-settings: that import alone was a third of lint's time.
    """
    config_file = os.environ.get("NYXOPS_CONFIG", "nyxops.toml")
    if not os.path.exists(config_file) and not any(k.upper().startswith("NYXOPS_") for k in os.environ):
        return Policy.from_names(PROTECTED_COLUMNS)
    from nyxops.config import load_settings

    return Policy.from_names(load_settings().protected_columns)
