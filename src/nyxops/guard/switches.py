"""What would turn a guard off after the migration is gone, read before and after it.

A migration that switches a guard off inside its own transaction is caught before commit (the
tripwire checks its own trigger, the overwrite watch its own). These switches outlive it: a
setting stored for every later session (``ALTER DATABASE|ROLE … SET nyxops.allow_drop``, which
would let ``prisma db push`` past ``protect``; ``session_replication_role = replica``, which
silences the app's triggers), and the event triggers of the database (``protect``'s dropped,
disabled or given another function; a new one, which runs on every later session's DDL). Event
triggers do not fire for commands on event triggers, so the tripwire never sees these: only a
read of the catalog before and after does. And nyxops' own tables, written by the file:
``nyxops.protected`` emptied leaves ``protect`` nothing to guard, a row forged in
``nyxops.schema_migrations`` skips a reviewed file, the tripwire's record emptied hides what it saw
dropped. Written as statements, ``guard-tamper`` refuses all of this in lint; built by dynamic SQL,
the ledger refuses it with this, and nothing allows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import psycopg

from nyxops.guard import record
from nyxops.guard.rules.guard_tamper import SETTINGS

_READ = """
SELECT
    (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(coalesce(d.datname, ''), coalesce(r.rolname, ''), c))
     FROM pg_catalog.pg_db_role_setting s
     LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
     LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
     CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c
     WHERE pg_catalog.lower(pg_catalog.split_part(c, '=', 1)) = ANY(%s)),
    (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(e.evtname, e.evtenabled::text, e.evtfoid::bigint,
        pg_catalog.md5(coalesce(p.prosrc, '')), EXISTS (SELECT FROM pg_catalog.pg_depend d
            WHERE d.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass AND d.objid = e.oid
            AND d.deptype = 'e')))
     FROM pg_catalog.pg_event_trigger e LEFT JOIN pg_catalog.pg_proc p ON p.oid = e.evtfoid
     WHERE e.evtname <> '__TRIGGER__'),
    (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(
        CASE WHEN n.nspname = 'nyxops' THEN 'nyxops.' ELSE 'pg_temp.' END || c.relname, c.relfilenode::bigint,
        coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0), coalesce(s.n_tup_del, 0)))
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_stat_xact_user_tables s ON s.relid = c.oid
     WHERE c.relkind IN ('r', 'p') AND (n.nspname = 'nyxops'
        OR (c.relnamespace = pg_catalog.pg_my_temp_schema() AND c.relname = '__TABLE__')))
""".replace("__TRIGGER__", record.TRIGGER).replace("__TABLE__", record.TABLE)
"""One round trip (plan reads it for every statement): the stored values of the settings, the
event triggers but the migration guard (it comes and goes with each file, and the tripwire checks
it), and nyxops' own tables (``protected``: what ``protect`` guards; ``schema_migrations``: what
ran; ``pg_temp.nyxops_dropped``: what the tripwire saw dropped) with the rows this transaction
wrote in each, which nyxops itself never does while a file runs (but the tripwire's inserts)."""
_FIRES = {"A": {"origin", "local", "replica"}, "O": {"origin", "local"}, "R": {"replica"}, "D": set()}
"""Under which ``session_replication_role`` an event trigger in each ``evtenabled`` state fires."""


class RoleSetting(NamedTuple):
    """A setting every later session starts with; '' for "every" database or role."""

    database: str
    role: str
    setting: str

    def __str__(self) -> str:
        who = [f"database {self.database}" if self.database else "", f"role {self.role}" if self.role else ""]
        return f"stored {self.setting} for every later session of {' and '.join(w for w in who if w)}"


class EventTrigger(NamedTuple):
    enabled: str
    function: int
    source: str
    """The md5 of its function's source: a CREATE OR REPLACE keeps the function's oid."""
    extension: bool
    """Created by ``CREATE EXTENSION`` (pg_graphql has some), not by the migration's own SQL."""


class OwnTable(NamedTuple):
    filenode: int
    """A TRUNCATE gives the table a new one (and counts no row)."""
    rows: tuple[int, int, int]
    """Rows inserted, updated and deleted by this transaction."""


@dataclass
class State:
    settings: frozenset[RoleSetting] = frozenset()
    event_triggers: Mapping[str, EventTrigger] = field(default_factory=dict)
    own_tables: Mapping[str, OwnTable] = field(default_factory=dict)

    def switching(self) -> list[RoleSetting]:
        """The stored settings that switch a guard off (the search_path read with them does not)."""
        return sorted(s for s in self.settings if not _is_path(s))


_PATH = "search_path"
"""Stored for later sessions too, though no guard's switch: what the app's names mean (``stored_paths``)."""


def read(conn: psycopg.Connection) -> State:
    row = conn.execute(_READ, ([*sorted(SETTINGS), _PATH],)).fetchone()
    stored, triggers, own = row if row is not None else (None, None, None)
    return State(
        frozenset(RoleSetting(*map(str, r)) for r in stored or []),
        {str(r[0]): EventTrigger(str(r[1]), int(r[2]), str(r[3]), bool(r[4])) for r in triggers or []},
        {str(r[0]): OwnTable(int(r[1]), (int(r[2]), int(r[3]), int(r[4]))) for r in own or []},
    )


def turned_off(before: State, now: State) -> list[str]:
    """What changed since ``before`` that switches a guard off for later sessions, in words."""
    stored = [str(s) for s in sorted(now.settings - before.settings) if not _is_path(s)]  # RESET switches nothing off
    return stored + _event_triggers(before, now) + _own_tables(before, now)


def stored_paths(before: State, now: State) -> list[str]:
    """A search_path stored, changed or taken away for later sessions since ``before`` (the static
    ``stored-search-path`` rule's, when dynamic SQL did it): the app's next connection resolves its
    names by it."""
    added = [str(s) for s in sorted(now.settings - before.settings) if _is_path(s)]
    removed = [f"took away {s}" for s in sorted(before.settings - now.settings) if _is_path(s)]
    return added + removed


def _is_path(setting: RoleSetting) -> bool:
    return setting.setting.split("=", 1)[0].strip().lower() == _PATH


def _event_triggers(before: State, now: State) -> list[str]:
    out = []
    for name, was in sorted(before.event_triggers.items()):
        trigger = now.event_triggers.get(name)
        if trigger is None:
            out.append(f"dropped (or renamed) event trigger {name}")
        elif not _FIRES[was.enabled] <= _FIRES[trigger.enabled]:
            state = "disabled" if trigger.enabled == "D" else f"made to fire only as {trigger.enabled!r}"
            out.append(f"{state} event trigger {name}")
        elif (was.function, was.source) != (trigger.function, trigger.source):
            out.append(f"gave event trigger {name} another function body")
    for name, trigger in sorted(now.event_triggers.items()):
        if name not in before.event_triggers and not trigger.extension:
            out.append(f"created event trigger {name} (it would run on every later session's DDL)")
    return out


def _own_tables(before: State, now: State) -> list[str]:
    out = []
    for name, was in sorted(before.own_tables.items()):
        table = now.own_tables.get(name)
        if table is None:  # dropped: the tripwire refuses that, in nyxops' schema and of its own record
            continue
        written = zip(table.rows, was.rows, _WRITTEN, strict=True)
        ignored = "inserted" if name == record.RECORD else None  # the tripwire inserts what it sees dropped
        done = [f"{n - w} row(s) {what}" for n, w, what in written if n > w and what != ignored]
        if table.filenode != was.filenode:
            done.append("truncated or rewritten")
        if done:
            out.append(f"wrote nyxops' own table {name} ({', '.join(done)})")
    return out


_WRITTEN = ("inserted", "updated", "deleted")
