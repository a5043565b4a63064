"""Drops the tripwire did not see: the catalog before a file and before its commit, compared.

The tripwire is an event trigger, and from PostgreSQL 17 on a superuser can switch every event
trigger off for the session (``SET event_triggers = off``), ``ENABLE ALWAYS`` ones too, then drop
anything and switch them back on before commit; a write to a system catalog (``UPDATE
pg_attribute SET attisdropped …``) drops a column without any event at all. Neither leaves a trace
in the tripwire's record, so the record cannot prove that nothing else was dropped. The catalog
can: every relation that existed before the file keeps its oid until it is dropped (a rename or a
move to another schema keeps it), and a dropped column stays in ``pg_attribute`` as
``attisdropped``. Each relation gone, and each column more marked dropped, must be in the
tripwire's record (which keeps the oid and column number of what it saw), or the file is refused.

The snapshot is read once before the file's first statement and once before commit, kept here in
Python where no statement of the migration can reach it. Temporary relations are left out: the
tripwire does not watch them either, and they end with the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import psycopg

from nyxops.guard import record

_RELATIONS = """
SELECT c.oid::bigint, pg_catalog.format('%I.%I', n.nspname, c.relname), c.relkind::text,
    (SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = c.oid AND a.attnum > 0 AND a.attisdropped)::int
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""
_KINDS = {"r": "table", "p": "table", "f": "foreign table", "v": "view", "m": "materialized view"}


class Relation(NamedTuple):
    name: str
    kind: str
    dropped_columns: int
    """Columns of it marked dropped in ``pg_attribute`` (PostgreSQL never removes them)."""


Relations = Mapping[int, Relation]


def event_triggers_setting(conn: psycopg.Connection) -> str:
    """``event_triggers`` as this session has it: 'on', 'off', or '' before PostgreSQL 17 (no such setting)."""
    row = conn.execute("SELECT pg_catalog.current_setting('event_triggers', true)").fetchone()
    return str(row[0]) if row is not None and row[0] is not None else ""


def relations(conn: psycopg.Connection) -> Relations:
    """Every permanent table, view and materialized view, by oid."""
    return {int(r[0]): Relation(str(r[1]), str(r[2]), int(r[3])) for r in conn.execute(_RELATIONS)}


def unseen_drops(conn: psycopg.Connection, before: Relations) -> list[str]:
    """What was dropped since ``before`` that the tripwire's record does not hold, in words."""
    if not record.exists(conn):
        return [f"{record.RECORD}, the tripwire's record of what it saw dropped"]
    seen = record.relations_seen(conn)
    now = relations(conn)
    out = []
    for oid, was in sorted(before.items(), key=lambda item: item[1].name):
        kind = _KINDS.get(was.kind, "relation")
        current = now.get(oid)
        if current is None:
            if not seen[(oid, False)]:
                out.append(f"{kind} {was.name}")
            continue
        more = current.dropped_columns - was.dropped_columns - seen[(oid, True)]
        if more > 0:
            out.append(f"{more} column(s) of {kind} {current.name}")
    return out
