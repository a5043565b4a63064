"""Connections to PostgreSQL, with the settings every nyxops session needs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql

from nyxops.defaults import PREPARED_PREFIX
from nyxops.errors import DatabaseUnreachable, GuardTampered, UsageError
from nyxops.names import redact_url, secret_of


def connect(url: str, application_name: str = "nyxops", *, autocommit: bool = True) -> psycopg.Connection:
    """Open a session; a failure names the server without its password.

    ``client_connection_check_interval``: a killed runner's statement (and its locks, the
    migration lock included) would otherwise run on until the server next writes to the socket.
    """
    check_conninfo(url)
    try:
        conn = psycopg.connect(url, autocommit=autocommit, application_name=application_name, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(
            f"cannot connect to PostgreSQL at {redact_url(url)}: {unreachable_reason(str(exc), url)} "
            "Check DATABASE_URL (or --database-url), that the server runs, and, for a remote host, the SSH tunnel."
        ) from None
    conn.execute(_SESSION)
    return conn


_SESSION = "SET client_connection_check_interval = '1s'"
"""What nyxops sets for its session when it connects (``connect``, ``fresh_session``)."""


def fresh_session(conn: psycopg.Connection, keep: str | None = None) -> None:
    """Each migration file starts in the session nyxops connected with, whatever the last one set.

    Why: a file's ``SET search_path = app, public`` (or ``SET ROLE``, or a timeout) stayed set for
    the next file of the same run, and not when that file was applied in a run of its own: a later
    file's ``DELETE FROM events``, reviewed as ``public.events`` (lint reads each file from the
    default path), emptied ``app.events`` when both were pending, and ``public.events`` a release
    later (a test). Flyway resets the role and search_path after each migration too. ``RESET ALL``
    leaves the user and role: the user is set back first, as it resets the role (see ``_USER``).
    A file that needs a setting sets it itself; a resumed one gets its own back (migrate/resume.py).

    The file's TEMP tables, views, sequences, types and functions go too (``DISCARD TEMP`` would
    also take ``keep``, the tripwire's record in plan's one transaction): they shadow permanent
    ones of the same name, and 0004's staging ``events`` took 0005's ``DELETE FROM events``,
    reviewed as ``public.events``, when both were pending; the app's rows stayed, exit 0 (a test).
    A ``pg_temp.cutoff()`` 0004 made answered 0005's call in one run and failed a release later.
    """
    for statement in ("SET SESSION AUTHORIZATION DEFAULT", "RESET ALL", "RESET ROLE", _SESSION):
        conn.execute(statement, prepare=False)
    for kind, identity in conn.execute(_TEMP_OBJECTS, (keep, keep), prepare=False).fetchall():
        # In plan's one transaction a refused file's permanent table typed by a temporary composite
        # is still there, and the tripwire refuses its drop: the temporary one then stays, and plan
        # goes on to the next file (it crashed). Apply never commits such a tie (guard/temp_ties.py).
        with contextlib.suppress(psycopg.errors.RaiseException), conn.transaction():
            conn.execute(sql.SQL("DROP {} IF EXISTS {} CASCADE").format(sql.SQL(kind), sql.SQL(identity)))


_TEMP_OBJECTS = """
SELECT o.kind, o.identity FROM (
  SELECT CASE c.relkind WHEN 'v' THEN 2 WHEN 'S' THEN 3 ELSE 1 END AS rank,
         CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
         pg_catalog.format('%%I.%%I', n.nspname, c.relname) AS identity
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relnamespace = pg_catalog.pg_my_temp_schema() AND c.relkind IN ('r', 'p', 'v', 'S')
     AND c.oid IS DISTINCT FROM pg_catalog.to_regclass(%s) AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
          WHERE d.objid = c.oid AND d.refobjid = pg_catalog.to_regclass(%s))
  UNION ALL
  SELECT 4, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, pg_catalog.format('%%I.%%I', n.nspname, t.typname)
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
    LEFT JOIN pg_catalog.pg_class r ON r.oid = t.typrelid
   WHERE t.typnamespace = pg_catalog.pg_my_temp_schema() AND t.typtype IN ('e', 'd', 'c', 'r')
     AND (t.typrelid = 0 OR r.relkind = 'c')
  UNION ALL
  SELECT 5, 'ROUTINE', pg_catalog.format('%%I.%%I(%%s)', n.nspname, p.proname,
                                         pg_catalog.pg_get_function_identity_arguments(p.oid))
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
   WHERE p.pronamespace = pg_catalog.pg_my_temp_schema()
) o
ORDER BY o.rank, o.identity
"""
"""Every object of the session's temporary schema but ``keep`` and what depends on it (its sequence),
tables first: a view or sequence a table's CASCADE took is then skipped (``IF EXISTS``); functions,
procedures and aggregates last, after what may use them. Read after ``RESET ALL``: PostgreSQL's
own operators come first on the path again. Each name is quoted by PostgreSQL (``format('%I')``,
the identity arguments' own quoting) before it is put in the DROP."""


def migration_session(url: str, application_name: str) -> psycopg.Connection:
    """A session in which a migration's own SQL runs, with nyxops' queries around it.

    None of nyxops' queries is prepared there: psycopg prepares a query run five times under a
    name (``_pg3_0``) that the file sees in ``pg_prepared_statements`` and may DEALLOCATE and
    PREPARE again as ``SELECT 382, 382``, which nyxops would then run as its census. (Its own
    DROP of the tripwire clears psycopg's prepared statements at each file today; this does not
    depend on that.) ``migrate plan`` keeps them: it only reports, rolls everything back, and runs
    its ledger queries around every statement, where preparing them saves a third of its time
    (500 statements: 4.7 s against 7.7 s); apply, which decides, checks again.
    """
    conn = connect(url, application_name)
    conn.prepare_threshold = None
    return conn


def unreachable_reason(message: str, url: str) -> str:
    """libpq's whole reason on one line, without its password: what failed and its hint.

    libpq says what failed on one line (``Connection refused``, ``role "app" does not exist``) and
    its hint on the next (``Is the server running on that host …?``): both are kept, for each
    address tried.
    """
    lines = [" ".join(line.split()) for line in scrub(message, url).splitlines()]
    sentences = [line if line.endswith((".", "?", "!")) else line + "." for line in lines if line]
    reason = " ".join(sentences) or "connection failed."
    for prefix in ("connection failed: ", "connection is bad: "):
        reason = reason.removeprefix(prefix)
    return reason


def check_conninfo(url: str) -> None:
    """Refuse, before any connection, what libpq cannot read, without echoing it (it may hold a password)."""
    from psycopg.conninfo import conninfo_to_dict

    scheme = url.split("://", 1)[0].lower() if "://" in url else None
    if scheme is not None and scheme not in ("postgresql", "postgres"):
        raise UsageError(
            f"the database URL is a {scheme}:// URL; nyxops talks to PostgreSQL only: "
            "postgresql://user:password@host:5432/dbname (DATABASE_URL or --database-url)."
        )
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise UsageError(
            f"the database URL is not a connection string libpq can read ({scrub(str(exc), url).strip()}). Write it as "
            "postgresql://user:password@host:5432/dbname or host=… port=… dbname=… user=… (DATABASE_URL or "
            "--database-url); percent-encode @, : and / in the password."
        ) from None


def scrub(text: str, url: str) -> str:
    """``text`` with the connection string and its password taken out (libpq quotes both in errors)."""
    text = text.replace(url, "<the database URL>")
    secret = secret_of(url)
    return text.replace(secret, "***") if secret else text


def relation_exists(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


_OWN_SETTINGS = {
    "search_path": "pg_catalog, pg_temp",
    "standard_conforming_strings": "on",
    "transform_null_equals": "off",
    "role": "none",
    "TimeZone": "UTC",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
    "lc_monetary": "C",
}
"""What nyxops' own queries mean, and whose rights they run with, depend on these, and a migration
may SET each for its session. The last six make values read as text the same in every session:
a file that set only ``TimeZone`` was refused as if every row of a protected table keyed by a
``timestamptz`` had lost its value (the census compares keys as text; a test), the same with
``bytea_output`` and a ``bytea`` key (a test), and psycopg reads dates only in ``DateStyle`` ISO.
``lc_monetary`` does the same for a ``money`` key (no test shows it: this machine has only the C
locales, in which money reads alike). pg_temp comes last in the path, so a TEMP table cannot stand in for
a catalog (functions and operators are never looked up there). ``role``: a file that creates its
tables as the app's role (``SET ROLE app_owner``) left nyxops' census and history to that role,
and apply failed on "permission denied for table workflow_insights" (a test); nyxops reads as the
user it connected as."""
_USER = "session_authorization"
"""The same with ``SET SESSION AUTHORIZATION app_owner`` in a superuser's migration, where ``role
= none`` alone returns to the user the file set (a test). Setting it back to the user that logged
in is allowed to any user. Set first (it resets the current user, so before ``role``) and only when
the file changed it: when the transaction ends PostgreSQL restores it after ``role``, which would
undo the file's ``SET ROLE`` for the next file (a test)."""
_TIMEOUTS = ("lock_timeout", "statement_timeout")
"""The file's are for its statements. A file's ``SET statement_timeout = '1ms'`` cut nyxops' census
after it, and apply failed on a timeout that read as the file's own (a test)."""
_NAMES = (_USER, *_OWN_SETTINGS, *_TIMEOUTS)
_READ = (
    "SELECT "
    + ", ".join(f"pg_catalog.current_setting('{name}')" for name in _NAMES)
    + ", pg_catalog.current_schemas(false)"
    + ", (SELECT pg_catalog.array_agg(name ORDER BY name) FROM pg_catalog.pg_prepared_statements"
    + f" WHERE from_sql AND pg_catalog.starts_with(name, '{PREPARED_PREFIX}'))"
)


NAMING = (_USER, "role", "search_path")
"""What decides which table a name means and whose rights a statement runs with, in the order a
session sets them (session_authorization resets the role)."""


@dataclass(frozen=True)
class FileSession:
    """The file's session as nyxops' reads found it."""

    reach: tuple[str, ...]
    """The schemas the file's unqualified names reach (``current_schemas(false)``): the ledger
    reads a table named bare as one of them."""
    naming: dict[str, str]
    """The file's ``NAMING`` settings: the journal keeps them after each done statement, and a
    resumed run starts from them (migrate/resume.py)."""


def _set(names: Iterable[str]) -> str:
    return "SELECT " + ", ".join(f"pg_catalog.set_config('{name}', %s, true)" for name in names)


@contextlib.contextmanager
def own_reads(
    conn: psycopg.Connection, timeouts: tuple[str, str], source: str = "a migration of this run"
) -> Iterator[FileSession]:
    """nyxops' own queries inside a migration's transaction, read with PostgreSQL's own names and
    literals (``_OWN_SETTINGS``), as the user nyxops logged in as and with its ``timeouts`` (lock,
    statement); the file's settings set back afterwards, for the rest of it. It yields what it
    found of the file's session (``FileSession``).

    Why: the file's ``SET search_path = shade, pg_catalog`` puts its own functions and operators
    before PostgreSQL's, for every later query of the session. A ``shade.count(vector)`` aggregate
    that always answers 382 made the census read every protected value intact after dynamic SQL
    had nulled them all, and apply committed (a test). ``standard_conforming_strings = off`` made
    the ledger's ``'pg\\_temp%'`` match schema ``pg1temp``, whose rows it then did not count (a test).
    On an error nothing is set back: the transaction is rolled back, and the settings with it.

    The statements nyxops' reads prepare (``migrate plan`` lets psycopg prepare what it runs
    often) can be replaced by the file: ``DEALLOCATE _pg3_4; PREPARE _pg3_4 AS SELECT 1 WHERE
    false``, run by dynamic SQL, blinded plan's ledger, which then reported nothing of the rows the
    next statement deleted (a test). These two statements are never prepared, and a statement the
    file prepared under psycopg's names refuses it (``source`` names the file in the message).
    """
    row = conn.execute(_READ, prepare=False).fetchone()
    if row is None:  # a SELECT without FROM: always one row
        raise RuntimeError("no row from a SELECT of settings")
    *current, schemas, replaced = row
    if replaced:
        raise GuardTampered(
            f"{source} prepared statements under the names nyxops' database client gives its own "
            f"({', '.join(replaced)}): nyxops' next reads would have run the file's SQL in place of its own. "
            "Nothing of this transaction is committed. Give the file's prepared statements other names."
        )
    saved = dict(zip(_NAMES, current, strict=True))
    wanted = {_USER: conn.info.user} if saved[_USER] != conn.info.user else {}
    wanted |= _OWN_SETTINGS | dict(zip(_TIMEOUTS, timeouts, strict=True))
    query = _set(wanted)
    conn.execute(query, list(wanted.values()), prepare=False)
    yield FileSession(tuple(schemas), {name: saved[name] for name in NAMING})
    conn.execute(query, [saved[name] for name in wanted], prepare=False)
