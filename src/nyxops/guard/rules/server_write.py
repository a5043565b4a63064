"""A program run, or a file written, on the database server itself: outside every guard.

``COPY (SELECT 1) TO PROGRAM 'psql -c "ALTER TABLE workflow_insights DROP COLUMN content"'``
runs a shell command as the server's own user. What the command does happens in sessions of
its own (another psql, ``rm`` on the data directory), which neither the migration's tripwire nor
its ledger sees, and the migration's rollback does not undo it: a background psql left waiting
for the migration's locks drops the column the moment the migration ends, applied or refused.
The same holds for a file written on the server (``COPY … TO '/path'``, ``lo_export``, adminpack's
``pg_file_write``): a relative path is the data directory's, where ``postgresql.auto.conf``
switches the guards off for every later session once the configuration is reloaded. A command
setting set with ``ALTER SYSTEM`` (``archive_command``) runs later, as the server pleases; and a
body in an untrusted language (``plpython3u``, ``plperlu``) may do any of it, in code nyxops does
not read: a ``DO`` block in one blocks, a function in one warns where it is created and blocks
where the file calls it.

Reading a file into a table (``COPY t FROM '/path'``) and writing to the client (``COPY … TO
STDOUT``) change nothing on the server's disk and pass.
"""

from collections.abc import Iterator

from nyxops.guard.dynamic import UNTRUSTED_BODY
from nyxops.guard.model import Hit, catalog_function
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "server-write"
MESSAGE = (
    "This runs a program or writes a file on the database server itself: no guard of the migration "
    "sees what it does there, and no rollback undoes it."
)
HELP = (
    "Do it in SQL in the migration itself, or outside nyxops as a reviewed operation on the server; "
    "if it is meant, allow it with a comment naming program, file, the function, setting or language."
)
NODES = ("CopyStmt", "FuncCall", "AlterSystemStmt", UNTRUSTED_BODY)
FAIL = [
    "COPY (SELECT 1) TO PROGRAM 'psql -c ''ALTER TABLE workflow_insights DROP COLUMN embedding'''",
    "COPY workflow_insights FROM PROGRAM 'rm -rf /var/lib/postgresql/data/base'",
    "COPY (SELECT 'event_triggers = off') TO 'postgresql.auto.conf'",
    "COPY workflow_insights TO '/var/lib/postgresql/data/base/16384/16385'",
    "SELECT lo_export(42, '/var/lib/postgresql/data/postgresql.auto.conf')",
    "SELECT pg_catalog.pg_file_write('postgresql.auto.conf', 'event_triggers = off', false)",
    "SELECT pg_file_unlink('base/16384/16385')",
    "ALTER SYSTEM SET archive_command = 'psql -c ''DROP TABLE workflow_insights'''",
    "DO LANGUAGE plpython3u $$ import subprocess; subprocess.run(['psql', '-c', 'TRUNCATE t']) $$",
    "DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''true'''; END $$",
    "CREATE FUNCTION wipe() RETURNS void LANGUAGE plperlu AS $$ system('rm -rf /srv') $$;\nSELECT wipe()",
]
PASS = [
    "COPY workflow_insights TO STDOUT",
    "COPY (SELECT id FROM workflow_insights) TO STDOUT WITH (FORMAT csv)",
    "COPY insights_import FROM '/srv/import/insights.csv' WITH (FORMAT csv)",
    "SELECT lo_import('/srv/import/logo.png')",
    "SELECT app.lo_export(42, '/tmp/x')",
    "ALTER SYSTEM SET work_mem = '64MB'",
    "DO LANGUAGE plpgsql $$ BEGIN RAISE NOTICE 'program'; END $$",
]
_WRITES_FILES = {"lo_export", "pg_file_write", "pg_file_rename", "pg_file_unlink"}
"""pg_catalog's (and adminpack's, created there) functions that write or remove a server file."""
_COMMANDS = {
    "archive_command",
    "archive_library",
    "archive_cleanup_command",
    "restore_command",
    "recovery_end_command",
    "ssl_passphrase_command",
}
"""Settings whose value is a shell command (or a library) the server runs when it sees fit."""


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    kind = ctx.kind
    if kind == "CopyStmt":
        if body.get("is_program"):
            yield Hit("program", detail="a shell command on the database server")
        elif not body.get("is_from") and body.get("filename"):
            yield Hit("file", detail=f"writes {body['filename']} on the database server")
    elif kind == "FuncCall":
        name = catalog_function(body, _WRITES_FILES)
        if name is not None:
            yield Hit(name, body.get("location"), detail="a file on the database server")
    elif kind == "AlterSystemStmt":
        setstmt = body.get("setstmt", {})
        name = str(setstmt.get("name", "")).lower()
        if name in _COMMANDS:
            yield Hit(name, setstmt.get("location"), detail="a command the server runs later, outside any migration")
    elif kind == UNTRUSTED_BODY:
        yield Hit(body["language"], detail="code with the server's own rights, which nyxops does not read")
