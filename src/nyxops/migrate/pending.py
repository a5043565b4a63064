"""Which files are applied, pending, unreviewed or drifted, and the parsed, checked pending ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import psycopg

from nyxops.errors import GuardBlocked, MigrationError, ReviewError
from nyxops.guard import ledger
from nyxops.guard.check import check
from nyxops.guard.model import Finding
from nyxops.guard.policy import Policy
from nyxops.guard.registry import INDIRECT_WRITE
from nyxops.guard.rules import other_session, stored_search_path
from nyxops.guard.walk import function_name, visits
from nyxops.migrate import history, store
from nyxops.names import QualifiedName, split_identifier
from nyxops.sql import Statement, parse_file

_TRANSACTION_KEYWORDS = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE", "PREPARE"}


@dataclass
class FileState:
    version: str
    name: str
    state: str
    """applied | drifted | pending | unreviewed | changed-since-review | missing-file, or, for what an
    interrupted concurrent statement left: invalid-index | pending-detach."""
    detail: str = ""
    applied: history.Applied | None = None


@dataclass
class PendingFile:
    file: store.MigrationFile
    statements: list[Statement]
    findings: list[Finding]
    review: store.Review | None
    protected: tuple[QualifiedName, ...] = ()
    """The protected columns the file was checked against (the ledger is stricter on their tables)."""
    journaled: bool = field(init=False)

    def __post_init__(self) -> None:
        self.journaled = any(not s.transactional for s in self.statements)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @cached_property
    def written_tables(self) -> ledger.WrittenTables:
        """The tables the file names, for the run-time ledger (walked once, on first need)."""
        return ledger.WrittenTables(self.statements)

    @cached_property
    def own_functions(self) -> set[str]:
        """Names of the functions and procedures the file creates (a plan lists calls of any other)."""
        return {
            function_name(v.node.get("funcname", []))
            for s in self.statements
            if s.keyword in ("CREATE", "DO") and ("FUNCTION" in s.text.upper() or "PROCEDURE" in s.text.upper())
            for v in visits(s.node)
            if v.kind == "CreateFunctionStmt"
        }

    def indirect_allowed(self) -> list[QualifiedName]:
        """Tables the ledger may see rows lost in without the file naming them (allow comments)."""
        return [
            QualifiedName.parse(a.object)
            for stmt in self.statements
            for a in stmt.allows
            if a.rule == INDIRECT_WRITE and a.object
        ]

    def sessions_allowed(self) -> set[str]:
        """Foreign servers the file may send SQL through (``other-session`` allow comments naming one)."""
        out = set()
        for stmt in self.statements:
            for a in stmt.allows:
                if a.rule == other_session.ID and a.object:
                    try:
                        parts = split_identifier(a.object)
                    except ValueError:
                        continue  # lint's invalid-allow says so
                    out.add(".".join(parts))
        return out

    def paths_allowed(self) -> bool:
        """Whether a statement of the file that stores a search_path was allowed by a comment."""
        return any(f.allowed and f.rule == stored_search_path.ID for f in self.findings)

    def quiet_allowed(self) -> dict[str, list[QualifiedName]]:
        """Tables the file may make unlogged or detach: those of its allowed findings of these rules."""
        out: dict[str, list[QualifiedName]] = {"set-unlogged": [], "detach-partition": []}
        for f in self.findings:
            if f.allowed and f.rule in out:
                out[f.rule].extend(f.tables)
        return out

    def allowed_objects(self) -> list[QualifiedName]:
        """What the runtime guard lets this file drop: the objects its allow comments name."""
        out: list[QualifiedName] = []
        for f in self.findings:
            if f.allowed:
                out.extend(f.columns)
                out.extend(f.tables)
                if f.rule == "drop-schema":
                    out.append(QualifiedName(f.object, "*"))
        return out


def states(directory: Path, applied: dict[str, history.Applied]) -> list[FileState]:
    files = store.discover(directory)
    reviews = store.load_reviews(directory)
    out: list[FileState] = []
    on_disk = {f.version for f in files}
    for file in files:
        done = applied.get(file.version)
        review = reviews.get(file.name)
        if done is not None:
            if done.sha256 != file.sha256:
                detail = f"applied as {done.sha256[:12]}, file is now {file.sha256[:12]}"
                out.append(FileState(file.version, file.name, "drifted", detail, done))
            else:
                out.append(FileState(file.version, file.name, "applied", f"by {done.applied_by}", done))
        elif review is None:
            out.append(FileState(file.version, file.name, "unreviewed", "run nyxops migrate review"))
        elif review.sha256 != file.sha256:
            out.append(FileState(file.version, file.name, "changed-since-review", f"reviewed by {review.reviewed_by}"))
        else:
            out.append(FileState(file.version, file.name, "pending", f"reviewed by {review.reviewed_by}"))
    for version, done in applied.items():
        if version not in on_disk:
            out.append(FileState(version, done.name, "missing-file", "in the history, not in the folder", done))
    return sorted(out, key=lambda s: int(s.version))


def require_no_drift(found: list[FileState]) -> None:
    drifted = [s for s in found if s.state == "drifted"]
    if drifted:
        names = ", ".join(f"{s.name} ({s.detail})" for s in drifted)
        raise ReviewError(
            f"drift: applied files changed since they ran: {names}. Restore them from git "
            "(an applied migration is never edited; write a new one for further changes)."
        )


def load_pending(
    conn: psycopg.Connection, directory: Path, policy: Policy, *, require_review: bool = True
) -> list[PendingFile]:
    """Parse and check every pending file; refuse before anything runs when one is not fit to run."""
    found = states(directory, history.applied(conn))
    require_no_drift(found)
    reviews = store.load_reviews(directory)
    by_version = {f.version: f for f in store.discover(directory)}
    applied_versions = [int(s.version) for s in found if s.state == "applied"]
    pending: list[PendingFile] = []
    for state in found:
        if state.state in ("applied", "missing-file"):
            continue
        file = by_version[state.version]
        if applied_versions and int(file.version) < max(applied_versions):
            raise MigrationError(
                f"{file.name} is older than the newest applied migration ({max(applied_versions):04d}): "
                "give it a higher number so the order stays the order it was applied in."
            )
        review = store.require_reviewed(file, reviews) if require_review else reviews.get(file.name)
        statements = _unwrapped(parse_file(file.path))
        for stmt in statements:
            _refuse_in_a_file(file, stmt)
        pending.append(PendingFile(file, statements, check(statements, policy), review, policy.protected))
    return pending


def _unwrapped(statements: list[Statement]) -> list[Statement]:
    """The file without its plain ``BEGIN; … COMMIT;`` pairs, which the file's own transaction already is.

    ``prisma migrate`` wraps an enum's change in them, in the middle of a file (``-- AlterEnum``).
    Sent as written, COMMIT would end the file's transaction half way, before the guard's checks;
    left out, the pair's statements still run all or none, with the rest of the file. Anything
    else (ROLLBACK, SAVEPOINT, options, a pair left open or nested, a file that is journaled)
    stays, for ``_refuse_in_a_file``. The statements keep their numbers in the file.
    """
    if not any(stmt.keyword in _TRANSACTION_KEYWORDS for stmt in statements):
        return statements  # most files: no statement read past its first word
    pair: list[int] = []
    opened: int | None = None
    for position, stmt in enumerate(statements):
        if stmt.keyword not in _TRANSACTION_KEYWORDS or stmt.kind != "TransactionStmt":
            if not stmt.transactional:
                return statements
            continue
        kind, plain = stmt.body.get("kind"), not stmt.body.get("options") and not stmt.body.get("chain")
        if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START") and plain and opened is None:
            opened = position
        elif kind == "TRANS_STMT_COMMIT" and plain and opened is not None:
            pair += [opened, position]
            opened = None
        else:
            return statements
    if opened is not None:
        return statements
    return [stmt for position, stmt in enumerate(statements) if position not in pair]


def _refuse_in_a_file(file: store.MigrationFile, stmt: Statement) -> None:
    """Statements that cannot work in a file nyxops runs: transaction control, COPY through the client.

    Called for every statement of every pending file, so the position is worked out only to refuse.
    """
    if stmt.keyword in _TRANSACTION_KEYWORDS and stmt.kind == "TransactionStmt":
        raise MigrationError(
            f"{_where(file, stmt)}: {stmt.text.split()[0].upper()} in a migration file. "
            "nyxops runs each file in its own transaction: remove BEGIN/COMMIT from the file."
        )
    if stmt.keyword == "COPY" and stmt.kind == "CopyStmt" and not stmt.body.get("filename"):
        direction = "FROM STDIN" if stmt.body.get("is_from") else "TO STDOUT"
        raise MigrationError(
            f"{_where(file, stmt)}: COPY … {direction} in a migration file: "
            "its data would have to come through the client, "
            "which a migration file cannot carry. Use INSERT … VALUES or COPY from a file on the database server, "
            "or load the data outside the migration."
        )


def _where(file: store.MigrationFile, stmt: Statement) -> str:
    return f"{file.path}:{stmt.line}:{stmt.column}"


def require_unblocked(pending: list[PendingFile]) -> None:
    lines = []
    for pf in pending:
        for f in pf.blocking:
            lines.append(f"  {pf.file.path}:{f.line}:{f.column} [{f.rule}] {f.object}: {f.message}")
    if lines:
        raise GuardBlocked(
            "the guard blocks these statements, nothing was applied:\n" + "\n".join(lines) + "\n"
            "If a drop is intended, add `-- nyxops:allow <rule> <object>` above it and have the file reviewed again "
            "(nyxops lint shows each one; protected columns cannot be allowed)."
        )
