"""Triggers that overwrite a protected column on every later UPDATE of the app.

``NEW.embedding := NULL`` in a BEFORE UPDATE row trigger on the protected table writes nothing
while the migration runs: it overwrites the value of each row the app updates afterwards, where
no migration guard looks. The file creates both the function and the trigger (CREATE TRIGGER
needs the function to exist), in either order of replacement: a function replaced after its
trigger exists counts too. A function created by an earlier file cannot be read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pglast import parser

from nyxops.guard import dynamic
from nyxops.guard.model import Hit
from nyxops.guard.scope import Scope
from nyxops.guard.walk import function_name
from nyxops.names import QualifiedName
from nyxops.sql import Node

_BEFORE, _UPDATE = 2, 16  # CreateTrigStmt's timing and events bits (TRIGGER_TYPE_BEFORE, _UPDATE)


@dataclass
class _OnUpdate:
    name: str
    function: str
    tables: tuple[QualifiedName, ...]
    location: int | None


@dataclass
class TriggerWrites:
    """The file's trigger functions (what each sets on NEW) and its BEFORE UPDATE row triggers."""

    scope: Scope
    sets: dict[str, set[str]] = field(default_factory=dict)
    triggers: list[_OnUpdate] = field(default_factory=list)

    def function(self, node: Node, whole: str | None) -> list[Hit]:
        """A CREATE [OR REPLACE] FUNCTION … RETURNS trigger: hits for triggers of this file already using it."""
        returns = [n.get("String", {}).get("sval") for n in node.get("returnType", {}).get("names", [])]
        code, language = dynamic.body_and_language("CreateFunctionStmt", node)
        if returns[-1:] != ["trigger"] or language != "plpgsql" or code is None or whole is None:
            return []
        name = function_name(node.get("funcname", []))
        try:
            self.sets[name] = dynamic.new_fields_assigned(whole)
        except (parser.ParseError, RecursionError):
            return []  # the body's own problem is reported where it is walked
        return [hit for trig in self.triggers if trig.function == name for hit in self._hits(trig, None)]

    def trigger(self, node: Node) -> list[Hit]:
        """A CREATE TRIGGER: hits when it is BEFORE UPDATE, per row, running a function that sets a protected column."""
        timing, events = int(node.get("timing", 0)), int(node.get("events", 0))
        if not node.get("row") or not timing & _BEFORE or not events & _UPDATE:
            return []
        rel = node.get("relation", {})
        function = function_name(node.get("funcname", []))
        trig = _OnUpdate(node.get("trigname", "?"), function, self.scope.tables(rel), rel.get("location"))
        self.triggers.append(trig)
        return self._hits(trig, trig.location)

    def _hits(self, trig: _OnUpdate, location: int | None) -> list[Hit]:
        """``location``: the trigger's table in CREATE TRIGGER; None (the statement) in a later CREATE FUNCTION."""
        fields = self.sets.get(trig.function, set())
        hits = []
        for col in self.scope.protected:
            if col.column is None or not any((t.schema, t.table) == (col.schema, col.table) for t in trig.tables):
                continue
            if "*" in fields or col.column in fields:
                what = f"NEW.{col.column}" if col.column in fields else "the whole NEW row"
                detail = (
                    f"trigger {trig.name} runs {trig.function}(), which sets {what} before every UPDATE: each row "
                    "the app updates from now on loses its value"
                )
                hits.append(Hit(str(col), location, columns=(col,), detail=detail))
        return hits
