"""The run-time layer around one of apply's transactions: armed before the file's statements,
checked after them, before commit; each refusal rolls the transaction back (alembic's habit of
thin commands: apply.py runs the files, this says whether one may commit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from nyxops.errors import GuardTampered, IndirectWrite, OtherSession, QuietLoss, ValuesRewritten
from nyxops.guard import foreign, ledger, overwrite, rewritten, runtime, temp_ties
from nyxops.migrate.pending import PendingFile


@dataclass
class Guarded:
    """The run-time layer around one transaction: the tripwires, and the ledger's starting point."""

    tripwire: runtime.Tripwire
    armed: overwrite.Armed | None
    """The overwrite trigger as armed; None when ``protect install`` never installed it."""
    before: ledger.Snapshot
    columns: rewritten.State
    """Each protected column's catalog row and table file as the file found them."""
    fdw: foreign.Listing
    """postgres_fdw's own functions that list its connections, as the file found them."""

    @classmethod
    def start(cls, conn: psycopg.Connection, pf: PendingFile) -> Guarded:
        tripwire = runtime.install_migration_guard(conn, pf.allowed_objects())
        fdw = foreign.forget(conn)
        return cls(tripwire, overwrite.arm(conn), ledger.snapshot(conn), rewritten.read(conn, pf.protected), fdw)

    def finish(self, conn: psycopg.Connection, pf: PendingFile, undone: str, reach: Sequence[str]) -> list[str]:
        """Before commit: the guards intact, and no rows lost where the file did not say; else roll back.
        ``reach``: the schemas the file's session path reaches (``db.own_reads`` yields them)."""
        runtime.check_migration_guard(conn, self.tripwire)
        replaced, servers = foreign.since(conn, self.fdw, pf.sessions_allowed())
        if replaced:
            raise GuardTampered(
                f"{pf.file.name} replaced or took out of postgres_fdw its function {', '.join(replaced)}, with which "
                "nyxops lists what a file sends through foreign tables (a session of its own, where no guard of the "
                f"migration looks). {undone} A migration may not do that: remove the statement that does it."
            )
        if servers:
            raise OtherSession(
                f"{pf.file.name} sent SQL through foreign server {', '.join(servers)} (postgres_fdw): a session of its "
                "own ran it there, where no guard of the migration looks, and the server may be this very database. "
                f"{undone} The foreign session's transaction was aborted with it. If it is intended (a read of another "
                f"database), name each server in an allow comment (-- nyxops:allow other-session {servers[0]}) and "
                "have the file reviewed again."
            )
        ties = temp_ties.tied(conn)
        if ties:
            raise QuietLoss(
                f"{pf.file.name} tied permanent objects to temporary ones: {'; '.join(ties)}. PostgreSQL drops them "
                "with the temporary ones when nyxops' session ends, after the commit, where no guard looks (a column "
                f"with every value in it, a whole table). {undone} Create the type or function in a schema of the app "
                "(CREATE DOMAIN app.words …), or drop what uses the temporary one before the file ends."
            )
        recomputed = rewritten.recomputed(conn, self.columns)
        if recomputed:
            column = recomputed[0]
            raise ValuesRewritten(
                f"{pf.file.name} rewrote table {column.schema}.{column.table} and its protected column {column} with "
                "it (ALTER COLUMN … TYPE … USING, built at run time): every value may have changed while every count "
                f"stayed the same. {undone} A migration may not compute a protected column's values again. If the file "
                "only changed something else of that column (SET NOT NULL) and rewrote the table for another reason "
                "(a column added with a volatile default), apply those two in separate files."
            )
        if self.armed is not None:
            overwrite.check(conn, self.armed)
        seen = ledger.read(conn, self.before, pf.protected)
        if seen.switched_off:
            raise GuardTampered(
                f"{pf.file.name} switched off or rewrote nyxops' guards or records: {'; '.join(seen.switched_off)}. "
                f"{undone} A migration may not do that: remove the statement that does it."
            )
        if seen.paths and not pf.paths_allowed():
            raise QuietLoss(
                f"{pf.file.name} {'; '.join(seen.paths)}: from its next connection the app's unqualified names may "
                f"mean other tables. {undone} If it is intended, write it as a statement of its own (ALTER DATABASE "
                "… SET search_path) with an allow comment above it (-- nyxops:allow stored-search-path <role or "
                "database>) and have the file reviewed again."
            )
        quiet = ledger.quiet_losses(seen, pf.quiet_allowed())
        if quiet:
            if quiet[0].rule == "write-protected":
                way = (
                    "Protected values cannot be allowed away: drop that trigger or rule in the file, or have it leave "
                    "the protected column as it is (a backfill writes only where it IS NULL; NEW.col := OLD.col keeps "
                    "it), and have the file reviewed again."
                )
            else:
                way = (
                    "If it is intended, write it as a statement of its own (ALTER TABLE …) with an allow comment "
                    f"above it (-- nyxops:allow {quiet[0].rule} {quiet[0].table}) and have the file reviewed again."
                )
            lost = "; ".join(map(str, quiet))
            raise QuietLoss(f"{pf.file.name} lost no row today, but: {lost}. {undone} {way}")
        hidden = ledger.unexplained(seen, pf.written_tables, pf.indirect_allowed(), pf.protected, reach)
        if hidden:
            tables = "; ".join(e.describe() for e in hidden)
            raise IndirectWrite(
                f"{pf.file.name} changed rows of tables no statement of it writes ({tables}): a trigger, a rule, "
                f"a foreign key's cascade, a function or dynamic SQL did it. {undone} If it is intended, name each "
                f"table in an allow comment (-- nyxops:allow indirect-write {hidden[0].table}) and have the file "
                "reviewed again."
            )
        runtime.remove_migration_guard(conn)
        if self.armed is not None:
            overwrite.disarm(conn)
        return seen.lines()
