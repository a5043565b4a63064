"""Layer 2 for later writes: a row trigger the migration arms that overwrites a column on each UPDATE.

The static check (guard/trigger_writes.py) reads a trigger and its function only when the file
writes both. A trigger created for a function an earlier file created, a trigger function
replaced under a trigger that already runs it, a disabled trigger enabled again, or any of these
built by dynamic SQL: the migration itself writes nothing, and each row the app updates from then
on loses its value. The catalog knows after the fact, so the ledger reads each BEFORE UPDATE row
trigger before and after the file; one that is new, changed or newly firing has its function's
definition read back (``pg_get_functiondef``) and parsed as the static check parses it.

Only PL/pgSQL functions can be read: one in another language (C, PL/Python) is not, and says
nothing here. A trigger enabled for replicas only never fires for the app's session.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from pglast import parser

from nyxops.guard import dynamic

_ROW, _BEFORE, _UPDATE, _INSTEAD = 1, 2, 16, 64
"""``pg_trigger.tgtype`` bits (PostgreSQL's ``TRIGGER_TYPE_*``)."""
_FIRING = ("O", "A")
"""``tgenabled``: fires in an ordinary session (origin, always); 'R' fires only on replicas, 'D' never."""

_TRIGGERS = """
SELECT t.oid::bigint, t.tgrelid::bigint, t.tgname, t.tgfoid::bigint, t.tgenabled::text, t.tgtype::int,
       pg_catalog.md5(p.prosrc), l.lanname
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE NOT t.tgisinternal AND (t.tgtype::int & %s) = %s AND (t.tgtype::int & %s) = 0
"""
"""BEFORE … FOR EACH ROW triggers firing on UPDATE (nyxops' own overwrite trigger fires AFTER), in any
schema: a function hidden in the ``nyxops`` schema is read like any other."""


@dataclass(frozen=True)
class State:
    """What decides what a trigger writes: its function, that function's source, when it fires."""

    function: int
    source: str
    enabled: str
    kind: int


@dataclass(frozen=True)
class Armed:
    """A trigger that, from this file on, sets ``fields`` on the rows the app updates."""

    trigger: str
    function: str
    fields: frozenset[str]
    """Column names, or ``*``: the whole row."""

    def sets(self, column: str) -> str | None:
        """How it overwrites ``column`` (``NEW.col``, the whole NEW row), or None when it does not."""
        if column in self.fields:
            return f"NEW.{column}"
        return "the whole NEW row" if "*" in self.fields else None


Triggers = dict[int, tuple[int, str, State, str]]
"""Per trigger oid: its table's oid, its name, its state and its function's language."""


def read(conn: psycopg.Connection) -> Triggers:
    mask = _ROW | _BEFORE | _UPDATE
    out: Triggers = {}
    for oid, relid, name, function, enabled, kind, source, language in conn.execute(_TRIGGERS, (mask, mask, _INSTEAD)):
        state = State(int(function), str(source), str(enabled), int(kind))
        out[int(oid)] = (int(relid), str(name), state, str(language))
    return out


def armed(conn: psycopg.Connection, before: Triggers, tables: set[int]) -> dict[int, list[Armed]]:
    """Per table of ``tables`` (those that existed before): the triggers the file armed that set
    columns on NEW. A trigger unchanged since ``before`` is the app's own business, not the file's."""
    out: dict[int, list[Armed]] = {}
    for oid, (relid, name, state, language) in read(conn).items():
        if relid not in tables or state.enabled not in _FIRING or language != "plpgsql":
            continue
        old = before.get(oid)
        if old is not None and old[2] == state:
            continue
        fields = _fields(conn, state.function)
        if fields:
            function = _name(conn, state.function)
            out.setdefault(relid, []).append(Armed(name, function, frozenset(fields)))
    return out


def _fields(conn: psycopg.Connection, function: int) -> set[str]:
    row = conn.execute("SELECT pg_catalog.pg_get_functiondef(%s::oid)", (function,)).fetchone()
    if row is None:
        return set()
    try:
        return dynamic.new_fields_assigned(str(row[0]))
    except (parser.ParseError, RecursionError):
        return set()  # not readable by this parser: verify's embeddings check finds the NULLs it leaves


def _name(conn: psycopg.Connection, function: int) -> str:
    row = conn.execute("SELECT %s::oid::regproc::text", (function,)).fetchone()
    return str(row[0]) if row else str(function)
