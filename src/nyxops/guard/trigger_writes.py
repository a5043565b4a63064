"""Triggers that overwrite a protected column, or silence its table, on the app's later writes.

``NEW.embedding := NULL`` in a BEFORE UPDATE row trigger on the protected table writes nothing
while the migration runs: it overwrites the value of each row the app updates afterwards, where
no migration guard looks (``write-protected``). A function that returns NULL instead makes each
of those writes do nothing (``silenced-write``, guard/silence.py). The file creates both the
function and the trigger (CREATE TRIGGER needs the function to exist), in either order of
replacement: a function replaced after its trigger exists counts too. A function created by an
earlier file cannot be read here: the ledger reads it from the catalog at run time
(guard/trigger_watch.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pglast import parser

from nyxops.guard import dynamic, silence
from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.guard.walk import function_name
from nyxops.names import QualifiedName
from nyxops.sql import Node

ROW, BEFORE, INSERT, DELETE, UPDATE, TRUNCATE, INSTEAD = 1, 2, 4, 8, 16, 32, 64
"""PostgreSQL's ``TRIGGER_TYPE_*`` bits: ``pg_trigger.tgtype``, and CreateTrigStmt's timing and events."""
EVENTS = {INSERT: "CMD_INSERT", DELETE: "CMD_DELETE", UPDATE: "CMD_UPDATE", TRUNCATE: "CMD_TRUNCATE"}
"""Each event bit as the parse tree names the command."""


def events(mask: int) -> set[str]:
    """The commands a trigger's event bits fire on (``CMD_UPDATE``, …)."""
    return {name for bit, name in EVENTS.items() if mask & bit}


def overwritten(fields: set[str] | frozenset[str], column: str) -> str | None:
    """How a trigger function that sets ``fields`` on NEW (``*``: the whole row) overwrites ``column``."""
    if column in fields:
        return f"NEW.{column}"
    return "the whole NEW row" if "*" in fields else None


@dataclass
class Trigger:
    """A trigger the file created: what fires it (tables, events) and the unit it runs."""

    tables: tuple[QualifiedName, ...]
    events: set[str]
    unit: tuple[str, str]
    """("function", name): its function, matched as calls are."""
    name: str = "?"
    before_row: bool = False
    """BEFORE … FOR EACH ROW: what its function sets on NEW is what gets written."""
    location: int | None = None
    """Where its table is named in CREATE TRIGGER."""
    when: bool = False
    """It has a WHEN condition: it runs for some rows only."""


@dataclass
class TriggerWrites:
    """The file's trigger functions (what each sets on NEW), read against the file's triggers."""

    scope: Scope
    triggers: list[Trigger]
    """The file's triggers so far (the checker's own list, shared)."""
    sets: dict[str, set[str]] = field(default_factory=dict)
    returns_null: dict[str, bool] = field(default_factory=dict)
    """Each trigger function's ``silence.by_trigger_function``."""

    def function(self, node: Node, whole: str | None) -> list[tuple[str, Hit]]:
        """A CREATE [OR REPLACE] FUNCTION … RETURNS trigger: (rule id, hit) for triggers of this file
        already using it."""
        returns = [n.get("String", {}).get("sval") for n in node.get("returnType", {}).get("names", [])]
        code, language = dynamic.body_and_language("CreateFunctionStmt", node)
        if returns[-1:] != ["trigger"] or language != "plpgsql" or code is None or whole is None:
            return []
        name = function_name(node.get("funcname", []))
        try:
            self.sets[name] = dynamic.new_fields_assigned(whole)
        except (parser.ParseError, RecursionError):
            return []  # the body's own problem is reported where it is walked
        self.returns_null[name] = silence.by_trigger_function(whole)
        return [hit for trig in self.triggers if trig.unit[1] == name for hit in self._hits(trig, None)]

    def trigger(self, trig: Trigger) -> list[tuple[str, Hit]]:
        """A CREATE TRIGGER: (rule id, hit) when it runs, per row, before an UPDATE, a function that
        sets a protected column, or before an INSERT or UPDATE of its table, one that returns NULL."""
        return self._hits(trig, trig.location)

    def _hits(self, trig: Trigger, location: int | None) -> list[tuple[str, Hit]]:
        """``location``: the trigger's table in CREATE TRIGGER; None (the statement) in a later CREATE FUNCTION."""
        if not trig.before_row:
            return []
        fields = self.sets.get(trig.unit[1], set()) if "CMD_UPDATE" in trig.events else set()
        quiet = silence.by_trigger(trig.events, True, trig.when, self.returns_null.get(trig.unit[1], False))
        hits = []
        for col in self.scope.protected:
            if col.column is None or not any((t.schema, t.table) == (col.schema, col.table) for t in trig.tables):
                continue
            what = overwritten(fields, col.column)
            if what is not None:
                detail = (
                    f"trigger {trig.name} runs {trig.unit[1]}(), which sets {what} before every UPDATE: each row "
                    "the app updates from now on loses its value"
                )
                hits.append(("write-protected", Hit(str(col), location, columns=(col,), detail=detail)))
            if quiet is not None:
                detail = f"trigger {trig.name} runs {trig.unit[1]}(), which {quiet}: {silence.UNSEEN}"
                hits.append(("silenced-write", Hit(str(col), location, columns=(col,), detail=detail)))
        return hits
