"""What a PL/pgSQL body's variables hold where nyxops can know it without running the body.

Migrations build their EXECUTE from variables: ``DECLARE stmt text := 'ALTER TABLE …'`` run as
``EXECUTE stmt``, ``FOREACH t IN ARRAY ARRAY['users', 'posts'] LOOP EXECUTE format(…, t)``, or
``FOR t IN SELECT unnest(ARRAY['users', 'posts']) LOOP …``.
Reading those values turns a dynamic-sql warning into the statements that really run, checked like
any other. Conservative by construction: a variable whose value could differ from what is read
here is left out, and its EXECUTE stays a warning for the runtime guard.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from typing import Any

from nyxops.guard.fold import array_value, literal_value, query_values
from nyxops.sql import Node, walk

Binding = dict[str, str]

_TEXT_TYPES = {"text", "varchar"}
"""Variables whose value is the literal's text as written (an int variable would round 1.5 to 2)."""
_ARRAY_TYPES = {"_text", "_varchar"}
_WRITES = {"varno", "target"}
"""Where a PL/pgSQL tree names a variable it writes: ``:=``, ``INTO``, ``FOR``/``FOREACH`` loop
variables, ``GET DIAGNOSTICS``."""
EXECUTED = {"PLpgSQL_stmt_dynexecute": "query", "PLpgSQL_stmt_dynfors": "query", "PLpgSQL_stmt_open": "dynquery"}
MAX_BINDINGS = 64
"""Past this many combinations of loop values, an EXECUTE is left to the runtime guard."""


class Variables:
    """A body's variables: ``constants`` (text), ``arrays`` (text[]), and for each executed
    expression inside ``FOREACH`` loops over known arrays, every binding of the loop variables."""

    def __init__(self, function: Node) -> None:
        datums = function.get("datums", [])
        names = Counter(str(v.get("refname")) for datum in datums for v in datum.values() if isinstance(v, dict))
        writes = self._writes = Counter(_written(function))
        calls = " ".join(
            node.get("expr", {}).get("PLpgSQL_expr", {}).get("query", "").lower()
            for key, node in walk(function)
            if key == "PLpgSQL_stmt_call"
        )
        self._loop_variables: dict[int, str] = {}
        self.constants: Binding = {}
        self.arrays: dict[str, list[str]] = {}
        for number, datum in enumerate(datums):
            var = datum.get("PLpgSQL_var") if isinstance(datum, dict) else None
            if var is None:
                continue
            name = str(var.get("refname", ""))
            if names[name] != 1 or name.lower() in calls:  # shadowed, or written back by CALL (INOUT)
                continue
            typname = var.get("datatype", {}).get("PLpgSQL_type", {}).get("typname")
            if typname in _TEXT_TYPES:
                self._loop_variables[number] = name  # a loop of known values binds it if nothing else writes it
            if writes[number]:
                continue
            default = var.get("default_val", {}).get("PLpgSQL_expr", {}).get("query")
            if default is None:
                continue
            if typname in _TEXT_TYPES:
                value = literal_value(default, self.constants)  # an earlier constant may build a later one
                if value is not None:
                    self.constants[name] = value
            elif typname in _ARRAY_TYPES:
                values = array_value(default, self.constants, self.arrays)
                if values is not None:
                    self.arrays[name] = values
        self.bindings: dict[int, list[Binding]] = {}
        self._bind(function.get("action", {}), [{}])

    def executed(self, node: Node) -> Iterator[tuple[Node, list[Binding]]]:
        """The expression an EXECUTE-like statement runs, with the loop bindings it runs under."""
        for expr in _executed(node):
            yield expr, self.bindings.get(id(expr), [{}])

    def _bind(self, node: Any, bindings: list[Binding]) -> None:
        if isinstance(node, list):
            for item in node:
                self._bind(item, bindings)
            return
        if not isinstance(node, dict):
            return
        for expr in _executed(node):
            self.bindings[id(expr)] = bindings
        loop = self._loop(node)
        if loop is not None:
            name, values, body = loop
            if len(bindings) * len(values) <= MAX_BINDINGS:
                inner = [{**b, name: v} for b, v in itertools.product(bindings, values)]
                self._bind(body, inner)
                return
        for value in node.values():
            if isinstance(value, dict | list):
                self._bind(value, bindings)

    def _loop(self, node: Node) -> tuple[str, list[str], Any] | None:
        """A loop whose variable takes known values: its name, the values and the loop's body.

        ``FOREACH t IN ARRAY <known array>`` (no SLICE), and ``FOR t IN <query of known texts>``
        (``fold.query_values``) with a text variable written by nothing else (the count of writes
        says so: once for FOREACH, twice for the FOR's target row, which stands among the datums too).
        """
        foreach = node.get("PLpgSQL_stmt_foreach_a")
        if foreach is not None and not foreach.get("slice"):
            number = int(foreach.get("varno", 0))
            name = self._loop_variables.get(number) if self._writes[number] == 1 else None
            query = foreach.get("expr", {}).get("PLpgSQL_expr", {}).get("query", "")
            values = array_value(query, self.constants, self.arrays) if name is not None else None
            return None if name is None or values is None else (name, values, foreach.get("body", []))
        fors = node.get("PLpgSQL_stmt_fors")
        fields = fors.get("var", {}).get("PLpgSQL_row", {}).get("fields", []) if fors is not None else []
        if fors is None or len(fields) != 1:
            return None
        number = int(fields[0].get("varno", 0))
        name = self._loop_variables.get(number) if self._writes[number] == 2 else None  # the row, twice
        query = fors.get("query", {}).get("PLpgSQL_expr", {}).get("query", "")
        values = query_values(query, self.constants, self.arrays) if name is not None else None
        return None if name is None or values is None else (name, values, fors.get("body", []))


def _executed(node: Node) -> Iterator[Node]:
    for kind, key in EXECUTED.items():
        expr = node.get(kind, {}).get(key, {}).get("PLpgSQL_expr")
        if expr is not None:
            yield expr


def _written(node: Any) -> Iterator[int]:
    """The numbers of the variables a tree writes, from every dict in it (a row's ``fields`` are
    plain dicts in a list, which ``walk`` does not yield)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in _WRITES and isinstance(value, int):
                    yield value
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
