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
    """Rows of a table the file never writes were deleted, overwritten or truncated; rolled back."""


class OtherSession(MigrationError):
    """The file sent SQL to a session of its own (postgres_fdw) that no allow comment names; rolled back."""


class ValuesRewritten(MigrationError):
    """A protected column was computed again by a table rewrite (a type change's USING); rolled back."""


class ResumeRefused(MigrationError):
    """A journaled file's remaining statements need what its done ones made in a session now gone."""


class QuietLoss(MigrationError):
    """A table was made unlogged, a partition detached, or a search_path stored, without an allowed statement,
    or a permanent object tied to a temporary one; rolled back."""


class DatabaseUnreachable(NyxopsError):
    """PostgreSQL cannot be reached with the given URL."""


class ProviderError(NyxopsError):
    """An embedding or chat provider failed for good (after retries)."""


class DimensionMismatch(ProviderError):
    """A provider returned vectors of the wrong size for the column."""


class WritesSilenced(ProviderError):
    """A batch's write reported success and stored nothing: a rule, trigger or policy on the table.

    A provider error in kind (the run stops, what was written stays, a re-run continues), raised
    at the first such batch so that no more vectors are paid for that the table will not keep."""


class RemoteError(NyxopsError):
    """An SSH connection or tunnel to the host failed."""


class DatabaseRefused(NyxopsError):
    """PostgreSQL refused something nyxops asked outside a migration's own statements (a missing grant)."""

    exit_code = 2


def from_database(exc: Exception) -> NyxopsError:
    """A database error no caller expected, as a sentence: what PostgreSQL said, and what to do.

    ``permission denied for schema nyxops`` (a role that may not create nyxops' history) names
    the grant that is missing, instead of a traceback.
    """
    diag = getattr(exc, "diag", None)
    primary = (getattr(diag, "message_primary", None) or str(exc)).strip()
    sqlstate = getattr(diag, "sqlstate", None) or getattr(exc, "sqlstate", None)
    if sqlstate == "42501":  # insufficient_privilege
        what = primary.removeprefix("permission denied for ")
        if what.startswith("schema "):
            schema = what.removeprefix("schema ")
            grant = f"GRANT USAGE, CREATE ON SCHEMA {schema} TO <the role nyxops connects as>"
        elif what.startswith("database "):
            grant = f"GRANT CREATE ON DATABASE {what.removeprefix('database ')} TO <the role nyxops connects as>"
        else:
            grant = "GRANT the missing privilege, or run nyxops as the owner of the objects"
        return DatabaseRefused(
            f"PostgreSQL refused: {primary}. nyxops keeps its history in the schema nyxops and needs to create and "
            f"write it: {grant}; or run nyxops as the database owner. Nothing was changed."
        )
    return DatabaseRefused(f"PostgreSQL said: {primary} (SQLSTATE {sqlstate or 'unknown'}). Nothing was changed.")


class DeployLocked(NyxopsError):
    """Another deploy (or rollback, or restore) holds the host's deploy lock."""


class BackupFailed(NyxopsError):
    """A backup could not be taken (or restored); for a release, nothing after it ran."""


class SwitchFailed(NyxopsError):
    """The new app container failed its health check; the old one kept serving."""


class RollbackRefused(NyxopsError):
    """A rollback was refused (unknown release, image gone, or a schema the release predates)."""
