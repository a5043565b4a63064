"""Tables (and views) a file creates itself: dropping its own scaffolding loses nothing the database had.

A migration that builds a table, fills it, swaps it in and drops the leftover should not need an
allow comment for every step. A drop, rename or type change is allowed automatically when every
table it touches was created earlier in the same file (plain ``CREATE TABLE``, not ``IF NOT
EXISTS``: that one may have found a table full of data). ``truncate`` and ``delete-all`` are not:
through a foreign key with ``CASCADE`` they can reach rows of tables that existed before.
Anything unsure (a rename onto a new name, a move to another schema) takes the table out of the
set, so the guard errs towards blocking; so does ``ATTACH PARTITION``, which fills the new table
with rows that existed before.
"""

from __future__ import annotations

import re

from nyxops.guard.model import Finding, dropped_objects
from nyxops.guard.scope import Scope
from nyxops.names import NAME_PATTERN as _NAME
from nyxops.names import QualifiedName, split_identifier
from nyxops.sql import Statement

# CREATE [TEMP | UNLOGGED] TABLE name ( : ASCII names only, whose folding is plain lower-casing.
_PLAIN_CREATE = re.compile(
    rf"CREATE\s+(?:(?:GLOBAL\s+|LOCAL\s+)?TEMP(?:ORARY)?\s+|UNLOGGED\s+)?TABLE\s+(?!IF\s)(?P<name>{_NAME}(?:\.{_NAME})?)\s*\(",
    re.I,
)


def plain_create(text: str) -> tuple[str | None, str] | None:
    """The (schema, table) of ``CREATE [TEMP | UNLOGGED] TABLE name (``, read without a parse tree.

    A TEMP table lives in ``pg_temp`` whatever the search path; an unqualified permanent one in the
    first schema of the path, which the caller supplies (``Scope``).
    """
    plain = _PLAIN_CREATE.match(text)
    if plain is None:
        return None
    parts = split_identifier(plain["name"])
    if "TEMP" in text[: plain.start("name")].upper():
        return "pg_temp", parts[-1]
    return (parts[0] if len(parts) == 2 else None), parts[-1]


AUTO_ALLOWED = {
    "drop-table",
    "drop-column",
    "alter-column-type",
    "rename-column",
    "rename-table",
    "rename-view",
    "update-all",
    "move-table",
    "set-unlogged",
    "detach-partition",
    "write-protected",
}


class CreatedTables:
    """Follows a file's statements in order; knows which tables it created so far."""

    def __init__(self, scope: Scope | None = None) -> None:
        self.tables: set[tuple[str, str]] = set()
        self.scope = scope or Scope()

    def see(self, stmt: Statement) -> None:
        """Account for ``stmt`` after its own findings were made (a statement never allows itself)."""
        keyword = stmt.keyword
        if keyword == "CREATE":
            head = stmt.text[:120].upper()
            if "TABLE" in head or "VIEW" in head:
                self._created(stmt)
        elif keyword == "DROP" and stmt.kind == "DropStmt" and stmt.body.get("removeType") == "OBJECT_TABLE":
            for obj in dropped_objects(stmt.body):
                if isinstance(obj, list):
                    for dropped in self.scope.from_list(obj):
                        self.tables.discard((dropped.schema, dropped.table))
        elif keyword == "ALTER" and self.tables:
            self._altered(stmt)

    def _created(self, stmt: Statement) -> None:
        plain = plain_create(stmt.text)
        if plain is not None:  # the common form, read from the text: a CREATE TABLE's tree is large
            schema, table = plain
            if schema == "pg_temp":
                self.scope.temp.add(table)
            self.tables.add((schema or self.scope.search_path[0], table))
            return
        if stmt.kind == "CreateStmt":
            rel = stmt.body["relation"]
        elif stmt.kind == "CreateTableAsStmt" and stmt.body.get("objtype") in ("OBJECT_TABLE", "OBJECT_MATVIEW"):
            rel = stmt.body["into"]["rel"]
        elif stmt.kind == "ViewStmt" and not stmt.body.get("replace"):  # OR REPLACE: the app's view, maybe
            rel = stmt.body["view"]
        else:
            return
        if not stmt.body.get("if_not_exists"):
            name = self.scope.table(rel)
            if name.schema == "pg_temp":
                self.scope.temp.add(name.table)
            self.tables.add((name.schema, name.table))

    def _altered(self, stmt: Statement) -> None:
        upper = stmt.text.upper()
        if "RENAME" not in upper and "SCHEMA" not in upper and "ATTACH" not in upper:
            return
        body = stmt.body
        if stmt.kind == "AlterTableStmt" and any(
            c.get("AlterTableCmd", {}).get("subtype") == "AT_AttachPartition" for c in body.get("cmds", [])
        ):
            for parent in self.scope.tables(body["relation"]):  # it now holds the attached table's rows
                self.tables.discard((parent.schema, parent.table))
        elif stmt.kind == "RenameStmt" and body.get("renameType") in ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW"):
            old = self.scope.table(body["relation"])
            new = (old.schema, body["newname"])
            if (old.schema, old.table) in self.tables:
                self.tables.discard((old.schema, old.table))
                self.tables.add(new)
            else:
                self.tables.discard(new)  # the new name now holds data that existed before
        elif stmt.kind == "AlterObjectSchemaStmt" and body.get("relation"):
            old = self.scope.table(body["relation"])
            self.tables.discard((old.schema, old.table))

    def holds_only_this_files_data(self, finding: Finding) -> QualifiedName | None:
        """The created table a finding touches, when everything it touches was created in this file."""
        if finding.rule not in AUTO_ALLOWED or not self.tables:
            return None
        touched = [QualifiedName(t.schema, t.table) for t in finding.tables]
        touched += [QualifiedName(c.schema, c.table) for c in finding.columns]
        if not touched or any((t.schema, t.table) not in self.tables for t in touched):
            return None
        return touched[0]
