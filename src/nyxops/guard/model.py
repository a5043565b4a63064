"""What a rule reports, and the small helpers every rule shares."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from nyxops.names import QualifiedName, quote_part

if TYPE_CHECKING:
    from nyxops.guard.scope import Scope
    from nyxops.sql import Node

Severity = Literal["error", "warning"]
ANY_PROTECTED = QualifiedName("*", "*", "*")
"""Marks a hit that may drop any protected column (``DROP EXTENSION vector CASCADE``)."""


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule's raw match: the object it would destroy and where it is written (byte offset)."""

    object: str
    location: int | None = None
    tables: tuple[QualifiedName, ...] = ()
    columns: tuple[QualifiedName, ...] = ()
    detail: str = ""


@dataclass(slots=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    help: str
    object: str
    line: int
    column: int
    statement_index: int
    statement_text: str
    tables: tuple[QualifiedName, ...] = ()
    columns: tuple[QualifiedName, ...] = ()
    allowed: bool = False
    notes: list[str] = field(default_factory=list)
    unit: tuple[str, str] | None = None
    """The body it sits in when that runs later (("function", "f")): it blocks where the file calls it."""

    @property
    def blocking(self) -> bool:
        return self.severity == "error" and not self.allowed

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "blocking": self.blocking,
            "allowed": self.allowed,
            "message": self.message,
            "help": self.help,
            "object": self.object,
            "line": self.line,
            "column": self.column,
            "statement": self.statement_index + 1,
            "notes": self.notes,
        }


def name_list(items: list[Node]) -> list[str]:
    return [i["String"]["sval"] for i in items if "String" in i]


def catalog_function(call: Node, names: set[str] | frozenset[str]) -> str | None:
    """The name of a FuncCall to one of pg_catalog's ``names``, written bare or ``pg_catalog.``-qualified
    (a function of that name in another schema is the app's own)."""
    parts = name_list(call.get("funcname", []))
    if parts and parts[-1] in names and parts[:-1] in ([], ["pg_catalog"]):
        return parts[-1]
    return None


def target_columns(ctx: Scope, rel: Node, targets: list[Node]) -> tuple[QualifiedName, ...]:
    """The columns a SET list writes, for every table the relation can be."""
    columns: list[QualifiedName] = []
    for target in targets:
        name = target.get("ResTarget", {}).get("name")
        if name:
            columns.extend(ctx.written_columns(rel, name))
    return tuple(columns)


def attribute_name(ctx: Scope, rel: Node, command: Node) -> str:
    """``schema.type.attribute`` of an ``ALTER TYPE … ATTRIBUTE`` command (its relation is the type)."""
    schema = rel.get("schemaname") or ctx.search_path[0]
    return str(QualifiedName(schema, rel.get("relname", "?"), command.get("name", "?")))


def type_name(items: list[Node], default_schema: str) -> str:
    """A type's name from a TypeName or String items, schema-qualified (``public.mood``)."""
    names: list[str] = []
    for item in items:
        if "TypeName" in item:
            names = name_list(item["TypeName"].get("names", []))
        elif "String" in item:
            names.append(item["String"]["sval"])
    if len(names) == 1:
        names = [default_schema, *names]
    return ".".join(quote_part(n) for n in names)


def dropped_objects(body: Node) -> Iterator[list[Node] | Node]:
    for obj in body.get("objects", []):
        yield obj["List"]["items"] if "List" in obj else obj


def is_cascade(body: Node) -> bool:
    return bool(body.get("behavior") == "DROP_CASCADE")
