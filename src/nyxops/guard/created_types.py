"""Types (enums, domains, composites, ranges) a file creates or names itself: Prisma's enum swap.

To take a value out of an enum, ``prisma migrate`` writes, in one transaction::

    CREATE TYPE "Role_new" AS ENUM ('USER', 'ADMIN');
    ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
    ALTER TYPE "Role" RENAME TO "Role_old";
    ALTER TYPE "Role_new" RENAME TO "Role";
    DROP TYPE "Role_old";

and hand-written files often ``DROP TYPE "Role"`` before the second rename instead. Only the
column's type change can lose or refuse values; it stays blocking, and ``migrate plan`` counts the
values it changes. The rest loses nothing, and is allowed automatically:

- renaming or dropping a type created earlier in the file: no column existed before it, so none
  of the database's data has that type, and the app never used its name;
- dropping, without CASCADE, a type under a name the file gave it (``Role_old``): the app never
  used that name, and PostgreSQL refuses the drop while any column, function or default still
  uses the type, which rolls the whole file back;
- a type that existed, renamed away or dropped without CASCADE (``Role``), once another type takes
  its name over later in the file and, if it was renamed, it is then dropped without CASCADE: the
  app's queries find a type of that name, and nothing used the old one any more, or the drop
  would have failed.

Anything else about a type stays blocking. A move to another schema, the name given up again, or
a type renamed or dropped where this does not follow (a DO block, a function, dynamic SQL) takes
the names out of what is known, so the guard errs towards blocking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nyxops.guard.model import Finding, dropped_objects, is_cascade, name_list
from nyxops.guard.scope import Scope
from nyxops.names import quote_part
from nyxops.sql import Node, Statement

_ALTER_TYPE = re.compile(r"ALTER\s+(?:TYPE|DOMAIN)\b", re.I)
_CREATE_TYPE = re.compile(r"CREATE\s+(?:TYPE|DOMAIN)\b", re.I)
_BURIED = re.compile(r"\b(?:ALTER|DROP)\s+(?:TYPE|DOMAIN)\b", re.I)
_TYPES = ("OBJECT_TYPE", "OBJECT_DOMAIN")
_CREATES = {"CreateEnumStmt", "CreateDomainStmt", "CompositeTypeStmt", "CreateRangeStmt", "DefineStmt"}


@dataclass
class _Vanished:
    """A blocking rename or drop of a type that existed before the file, waiting for what lifts it."""

    finding: Finding
    old: str
    renamed_to: str | None
    """The name it was renamed to; None when it was dropped."""
    taken_over: int | None = None
    """The line at which another type took the old name over."""


class CreatedTypes:
    """Follows a file's statements in order; names are keyed as the type rules write them
    (``public."Role"``, ``model.type_name``)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.created: set[str] = set()
        """Types created earlier in the file, under their current names."""
        self.named: set[str] = set()
        """Types that existed before, under a name this file gave them."""
        self.vanished: list[_Vanished] = []

    def allows(self, finding: Finding, stmt: Statement) -> str | None:
        """Why a blocking ``drop-type`` or ``rename-type`` finding of ``stmt`` itself loses nothing, or None.

        Only a top-level statement's own: one inside a DO block or a body is not this statement's node.
        """
        if finding.rule == "rename-type" and stmt.kind in ("RenameStmt", "AlterEnumStmt"):
            if finding.object in self.created:
                return f"{finding.object} was created earlier in this file: no data has that type, no app uses its name"
        elif finding.rule == "drop-type" and stmt.kind == "DropStmt":
            if finding.object in self.created:
                return f"{finding.object} was created earlier in this file: every column of that type is this file's"
            if finding.object in self.named and not is_cascade(stmt.body):
                return (
                    f"this file gave the type the name {finding.object}, which the app never used; without CASCADE "
                    "PostgreSQL refuses the drop while anything still uses the type"
                )
        return None

    def see(self, stmt: Statement, findings: list[Finding]) -> None:
        """Account for ``stmt`` after its own findings were made (a statement never allows itself)."""
        keyword = stmt.keyword
        if keyword == "CREATE" and _CREATE_TYPE.match(stmt.text) and stmt.kind in _CREATES:
            name = self._created_name(stmt.kind, stmt.body)
            if name is not None:
                self._takes(name, stmt.line)
                self.created.add(name)
        elif keyword == "ALTER" and _ALTER_TYPE.match(stmt.text):
            body = stmt.body
            if stmt.kind == "RenameStmt" and body.get("renameType") in _TYPES:
                self._renamed(name_list(body["object"]["List"]["items"]), str(body.get("newname", "")), stmt, findings)
            elif stmt.kind == "AlterObjectSchemaStmt" and body.get("objectType") in _TYPES:
                moved = self._key(name_list(body["object"]["List"]["items"]))
                if moved is None:
                    self._forget()
                else:
                    self._gone(moved)
        elif keyword == "DROP" and stmt.kind == "DropStmt" and stmt.body.get("removeType") in _TYPES:
            cascade = is_cascade(stmt.body)
            for obj in dropped_objects(stmt.body):
                items = obj if isinstance(obj, list) else [obj]
                names = name_list(items[0]["TypeName"].get("names", [])) if "TypeName" in items[0] else []
                name = self._key(names) if names else None
                if name is None:
                    self._forget()
                else:
                    self._dropped(name, stmt, findings, cascade=cascade)
        elif (self.created or self.named or self.vanished) and _BURIED.search(stmt.text):
            self._forget()  # a DO block, a function or a rule may rename or drop a type: not followed

    def _created_name(self, kind: str, body: Node) -> str | None:
        if kind == "CompositeTypeStmt":
            var = body.get("typevar", {})
            return self._key([var["schemaname"], var["relname"]] if var.get("schemaname") else [var.get("relname", "")])
        if kind == "DefineStmt":
            return self._key(name_list(body.get("defnames", []))) if body.get("kind") == "OBJECT_TYPE" else None
        field = "domainname" if kind == "CreateDomainStmt" else "typeName"
        return self._key(name_list(body.get(field, [])))

    def _renamed(self, names: list[str], newname: str, stmt: Statement, findings: list[Finding]) -> None:
        old = self._key(names)
        if old is None:
            self._forget()
            return
        new = _spelled(names[0] if len(names) == 2 else self.scope.search_path[0], newname)
        self._loses(old)
        self._takes(new, stmt.line)
        if old in self.created:
            self.created.discard(old)
            self.created.add(new)
            return
        self.named.discard(old)
        self.named.add(new)
        self._waits(findings, "rename-type", old, new)

    def _dropped(self, name: str, stmt: Statement, findings: list[Finding], *, cascade: bool) -> None:
        existed = name not in self.created and name not in self.named
        for waiting in list(self.vanished):
            if waiting.renamed_to != name or cascade:
                continue
            if waiting.taken_over is not None:
                self._lift(waiting, f"line {stmt.line} drops the renamed one")
            else:  # renamed away, then dropped: a type that takes its old name over lifts it
                waiting.renamed_to = None
        self._gone(name)
        if existed and not cascade:
            self._waits(findings, "drop-type", name, None)

    def _waits(self, findings: list[Finding], rule: str, old: str, renamed_to: str | None) -> None:
        for finding in findings:
            if finding.rule == rule and finding.blocking and finding.object == old:
                self.vanished.append(_Vanished(finding, old, renamed_to))

    def _takes(self, name: str, line: int) -> None:
        """Another type now holds ``name``: a type renamed away from it or dropped has its name back."""
        for waiting in list(self.vanished):
            if waiting.old == name and waiting.taken_over is None:
                waiting.taken_over = line
                if waiting.renamed_to is None:
                    self._lift(waiting, "it was dropped")

    def _lift(self, waiting: _Vanished, how: str) -> None:
        waiting.finding.allowed = True
        waiting.finding.notes.append(
            f"line {waiting.taken_over} gives {waiting.old} to another type, and {how} without CASCADE "
            "(refused while anything used it): the name keeps working"
        )
        self.vanished.remove(waiting)

    def _loses(self, name: str) -> None:
        """No type holds ``name`` any more: one that had taken it over is gone again."""
        for waiting in self.vanished:
            if waiting.old == name:
                waiting.taken_over = None

    def _gone(self, name: str) -> None:
        self._loses(name)
        self.created.discard(name)
        self.named.discard(name)
        self.vanished = [w for w in self.vanished if w.renamed_to != name]

    def _forget(self) -> None:
        """A type this module cannot name for certain changed: what it knew may be wrong, so the
        findings still waiting stay blocking, and nothing is allowed on what it knew before."""
        self.created.clear()
        self.named.clear()
        self.vanished.clear()

    def _key(self, names: list[str]) -> str | None:
        """``model.type_name``'s spelling: schema-qualified, each part quoted where it must be.

        None for an unqualified name under a search path of several schemas: PostgreSQL looks an
        existing type up along the path and creates a new one in its first schema that exists, which
        the file's text does not tell; the rules name it by the first, and the guard errs towards blocking.
        """
        if len(names) == 1:
            if len(self.scope.search_path) != 1:
                return None
            names = [self.scope.search_path[0], *names]
        return _spelled(*names)


def _spelled(*parts: str) -> str:
    return ".".join(quote_part(n) for n in parts)
