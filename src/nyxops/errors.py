"""Every error nyxops raises on purpose, in one place (alembic's ``util/exc.py`` habit).

Lower layers raise these; the CLI prints ``str(error)`` without a traceback (``--debug`` shows it).
Messages are written for an operator at 2 a.m.: what happened, and what to do next.
"""

from __future__ import annotations


class NyxopsError(Exception):
    """Base of all expected failures. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(NyxopsError):
    """Bad flags, bad configuration, a file that cannot be read."""

    exit_code = 2


class ConfigError(UsageError):
    """The configuration (environment, nyxops.toml, host data) is invalid."""


class SqlParseError(UsageError):
    """A SQL file is not valid PostgreSQL, or holds a psql meta-command."""

    def __init__(self, path: str, line: int, column: int, message: str) -> None:
        self.path, self.line, self.column, self.reason = path, line, column, message
        super().__init__(f"{path}:{line}:{column}: {message}. Nothing was executed; fix the file and run again.")

    def __reduce__(self) -> tuple[type[SqlParseError], tuple[str, int, int, str]]:
        """Picklable with its own arguments (lint sends results back from worker processes)."""
        return (SqlParseError, (self.path, self.line, self.column, self.reason))


class MigrationError(NyxopsError):
    """A migration cannot be planned or applied; the database was left as it was."""


class ReviewError(MigrationError):
    """A file is not reviewed, or changed after its review or after it was applied."""


class GuardBlocked(MigrationError):
    """The static guard found destructive statements that were not allowed."""


class LockHeld(MigrationError):
    """Another runner holds the migration lock."""


class CensusDecreased(MigrationError):
    """A protected column lost values during a migration; it was rolled back."""


class GuardTampered(MigrationError):
    """The migration dropped, disabled or replaced the runtime guard; it was rolled back."""


class IndirectWrite(MigrationError):
    """Rows of a table the file never names were deleted, overwritten or truncated; rolled back."""


class DatabaseUnreachable(NyxopsError):
    """PostgreSQL cannot be reached with the given URL."""


class ProviderError(NyxopsError):
    """An embedding or chat provider failed for good (after retries)."""


class DimensionMismatch(ProviderError):
    """A provider returned vectors of the wrong size for the column."""


class RemoteError(NyxopsError):
    """An SSH connection or tunnel to the host failed."""
