"""SQL sent to another session (``dblink``, ``pg_cron``, ``pg_background``): outside every guard.

The run-time layer lives in the migration's own transaction: its event trigger, its ledger and
its census see only what this session does, and its rollback undoes only that. A
``dblink_exec('dbname=nyxcore', 'DROP TABLE workflow_insights')`` runs in a session of its own,
commits there at once, and stays done when the migration is refused. A job handed to pg_cron
runs later, in another session too. Only ``nyxops protect`` (a permanent event trigger) still
refuses the drop of a protected column there.

A foreign server of ``postgres_fdw`` or ``dblink_fdw`` is the same door kept open: what is read or
written through its foreign tables runs in a session of its own there, and the server may be this
very database (``OPTIONS (dbname 'nyxcore')``): an UPDATE of its ``workflow_insights`` nulls the
protected column past every run-time check (guard/foreign.py says how apply still refuses a file
that used such a connection unless this rule's allow comment names the server). A subscription
(``CREATE SUBSCRIPTION``) is one more: its apply worker replays another server's inserts, updates,
deletes and truncations into this database's tables, from now on, in a session of its own.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit, name_list
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "other-session"
MESSAGE = "This runs SQL in another session: no guard of the migration sees it, and no rollback undoes it."
HELP = "Write the SQL in the migration itself; if it must run elsewhere, allow it with a comment naming the function."
NODES = ("FuncCall", "CreateForeignServerStmt", "CreateSubscriptionStmt")
FAIL = [
    "SELECT dblink_exec('dbname=nyxcore', 'DROP TABLE workflow_insights')",
    "SELECT * FROM dblink('dbname=nyxcore', 'DELETE FROM t RETURNING id') AS d(id int)",
    "SELECT public.dblink_send_query('conn', 'TRUNCATE t')",
    "SELECT cron.schedule('0 3 * * *', 'DELETE FROM workflow_insights')",
    "SELECT cron.schedule_in_database('purge', '* * * * *', 'VACUUM', 'nyxcore')",
    "SELECT pg_background_launch('ALTER TABLE workflow_insights DROP COLUMN embedding')",
    "DO $$BEGIN PERFORM dblink_exec('dbname=nyxcore', 'DRO' || 'P TABLE t'); END$$",
    "CREATE SERVER loop FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'nyxcore')",
    "CREATE SERVER IF NOT EXISTS elsewhere FOREIGN DATA WRAPPER dblink_fdw OPTIONS (host 'db2')",
    "CREATE SUBSCRIPTION mirror CONNECTION 'host=db2 dbname=nyxcore' PUBLICATION everything",
]
PASS = [
    "SELECT dblink_connect('dbname=nyxcore')",
    "SELECT schedule('0 3 * * *')",
    "SELECT cron.unschedule('purge')",
    "CREATE EXTENSION IF NOT EXISTS dblink",
    "CREATE EXTENSION postgres_fdw",
    "CREATE SERVER files FOREIGN DATA WRAPPER file_fdw",
]
_ANYWHERE = {"dblink", "dblink_exec", "dblink_send_query", "pg_background_launch"}
"""Functions that take SQL to run elsewhere, in whatever schema their extension was created."""
_CRON = {"schedule", "schedule_in_database", "alter_job"}
"""pg_cron's, always in schema cron: a job's SQL runs later, in a session of its own."""


_SESSION_WRAPPERS = {"postgres_fdw", "dblink_fdw"}
"""Foreign-data wrappers whose foreign tables are a session on another PostgreSQL server."""


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    if ctx.kind == "CreateForeignServerStmt":
        if body.get("fdwname") in _SESSION_WRAPPERS:
            detail = "its foreign tables are read and written by a session of its own on that server"
            yield Hit(str(body.get("servername", "?")), detail=detail)
        return
    if ctx.kind == "CreateSubscriptionStmt":
        detail = "its apply worker writes (and deletes) the publisher's changes here, in a session of its own"
        yield Hit(str(body.get("subname", "?")), detail=detail)
        return
    names = name_list(body.get("funcname", []))
    if not names:
        return
    if names[-1] in _ANYWHERE or (names[-2:-1] == ["cron"] and names[-1] in _CRON):
        yield Hit(".".join(names), body.get("location"), detail="runs in another session")
