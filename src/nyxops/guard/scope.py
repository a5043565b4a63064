"""Where a name in a migration points, as PostgreSQL resolves it at that point of the file.

An unqualified name is looked up in the TEMP tables first, then along ``search_path``: after
``SET search_path = app, public`` a ``DROP TABLE workflow_insights`` may drop ``app``'s table or
``public``'s, and the guard cannot know which exists, so a finding names every candidate (the
protected-column check and the created-table check then hold for all of them). A TEMP table the
file created shadows the permanent one of the same name: dropping it loses nothing.
"""

from __future__ import annotations

from nyxops.guard.model import name_list
from nyxops.names import QualifiedName, split_identifier
from nyxops.sql import Node

DEFAULT_PATH = ("public",)


class Scope:
    """Follows ``SET search_path`` and TEMP tables through a file; rules resolve names with it."""

    def __init__(self, protected: tuple[QualifiedName, ...] = ()) -> None:
        self.search_path: tuple[str, ...] = DEFAULT_PATH
        self.temp: set[str] = set()
        self.temp_types: set[str] = set()
        """Types the file created in ``pg_temp``: a bare type name finds them first (temp-tie)."""
        self.protected = protected
        self.kind = ""
        """The kind of the node a rule is being shown (for rules that take several kinds)."""
        self.views: dict[QualifiedName, tuple[Node, dict[str, str], bool]] = {}
        """Views the file created on one table: the table's RangeVar, view column -> its column, and
        whether ``*`` passes every other column through under its own name."""

    def tables(self, rel: Node) -> tuple[QualifiedName, ...]:
        """Every table a RangeVar can be, the most likely first."""
        name = rel.get("relname", "?")
        schema = rel.get("schemaname")
        if schema:
            return (QualifiedName(schema, name),)
        if rel.get("relpersistence") == "t" or name in self.temp:
            return (QualifiedName("pg_temp", name),)
        return tuple([QualifiedName(s, name) for s in self.search_path])

    def table(self, rel: Node) -> QualifiedName:
        return self.tables(rel)[0]

    def columns(self, rel: Node, column: str) -> tuple[QualifiedName, ...]:
        return tuple([QualifiedName(t.schema, t.table, column) for t in self.tables(rel)])

    def written_columns(self, rel: Node, column: str, depth: int = 0) -> tuple[QualifiedName, ...]:
        """The columns a write to ``rel.column`` lands in: through a simple view the file created
        (``CREATE VIEW wv AS SELECT * FROM workflow_insights``), its table's column as well."""
        out = list(self.columns(rel, column))
        for table in self.tables(rel):
            view = self.views.get(table)
            if view is None or depth > 4:
                continue
            base, names, star = view
            target = names.get(column) or (column if star else None)
            if target is not None:
                out.extend(self.written_columns(base, target, depth + 1))
        return tuple(out)

    def written_tables(self, rel: Node, depth: int = 0) -> tuple[QualifiedName, ...]:
        """The tables a write to ``rel`` reaches: through a view the file created, its table as well."""
        out = list(self.tables(rel))
        for table in self.tables(rel):
            view = self.views.get(table)
            if view is not None and depth <= 4:
                out.extend(self.written_tables(view[0], depth + 1))
        return tuple(out)

    def from_list(self, items: list[Node]) -> tuple[QualifiedName, ...]:
        """A name given as a list of String nodes (DROP TABLE's objects)."""
        names = [i["String"]["sval"] for i in items if "String" in i]
        if len(names) >= 2:
            return (QualifiedName(names[-2], names[-1]),)
        return self.tables({"relname": names[0] if names else "?"})

    def see(self, kind: str, node: Node) -> None:
        """Account for a statement that changes resolution (after its own findings)."""
        if kind == "VariableSetStmt" and node.get("name") == "search_path":
            if node.get("kind") == "VAR_SET_VALUE":
                values = [a.get("A_Const", {}).get("sval", {}).get("sval") for a in node.get("args", [])]
                self.search_path = _path([v for v in values if isinstance(v, str)])
            elif node.get("kind") in ("VAR_SET_DEFAULT", "VAR_RESET", "VAR_RESET_ALL"):
                self.search_path = DEFAULT_PATH
        elif kind == "VariableSetStmt" and node.get("kind") == "VAR_RESET_ALL":
            self.search_path = DEFAULT_PATH
        elif kind == "CreateStmt" and node.get("relation", {}).get("relpersistence") == "t":
            self.temp.add(node["relation"].get("relname", "?"))
        elif kind == "FuncCall":
            self._set_config(node)
        elif kind in TYPE_MAKERS:
            names = made_type(kind, node)
            if len(names) == 2 and names[0] == "pg_temp":
                self.temp_types.add(names[1])
        elif kind == "ViewStmt":
            self._view(node)

    def _view(self, node: Node) -> None:
        """A view an UPDATE can write through: one table, no grouping, set operation or DISTINCT."""
        view = self.table(node.get("view", {}))
        self.views.pop(view, None)
        select = node.get("query", {}).get("SelectStmt", {})
        froms = select.get("fromClause", [])
        if len(froms) != 1 or "RangeVar" not in froms[0] or select.get("op", "SETOP_NONE") != "SETOP_NONE":
            return
        if any(select.get(k) for k in ("groupClause", "distinctClause", "havingClause", "withClause")):
            return
        columns: list[str | None] = []  # each output column's table column, None for an expression
        names: list[str | None] = []
        star = False
        for target in select.get("targetList", []):
            res = target.get("ResTarget", {})
            fields = res.get("val", {}).get("ColumnRef", {}).get("fields", [])
            if fields and "A_Star" in fields[-1]:
                star = True
                continue
            column = fields[-1].get("String", {}).get("sval") if fields else None
            columns.append(column)
            names.append(res.get("name") or column)
        aliases = [a.get("String", {}).get("sval") for a in node.get("aliases", [])]
        if aliases and star:
            return  # which of the table's columns the aliases rename, only the catalog knows
        names = [alias or name for alias, name in zip(aliases, names, strict=False)] + names[len(aliases) :]
        mapping = {name: column for name, column in zip(names, columns, strict=True) if name and column}
        self.views[view] = (froms[0]["RangeVar"], mapping, star)

    def _set_config(self, call: Node) -> None:
        names = [n.get("String", {}).get("sval") for n in call.get("funcname", [])]
        args = call.get("args", [])
        if names[-1:] != ["set_config"] or len(args) < 2:
            return
        values = [a.get("A_Const", {}).get("sval", {}).get("sval") for a in args[:2]]
        if values[0] == "search_path" and isinstance(values[1], str):
            parts = []
            for piece in values[1].split(","):
                try:
                    parts.extend(split_identifier(piece))
                except ValueError:
                    continue
            self.search_path = _path(parts)


TYPE_MAKERS = frozenset({"CreateEnumStmt", "CreateRangeStmt", "CreateDomainStmt", "CompositeTypeStmt", "DefineStmt"})


def made_type(kind: str, node: Node) -> list[str]:
    """The name, as written, of the type a CREATE TYPE or CREATE DOMAIN makes (empty for other DefineStmts)."""
    if kind == "CompositeTypeStmt":
        var = node.get("typevar", {})
        return [n for n in (var.get("schemaname"), var.get("relname")) if n]
    if kind == "DefineStmt" and node.get("kind") != "OBJECT_TYPE":
        return []
    return name_list(node.get({"CreateDomainStmt": "domainname", "DefineStmt": "defnames"}.get(kind, "typeName"), []))


def _path(schemas: list[str]) -> tuple[str, ...]:
    """The schemas an unqualified table name can land in ("$user" and pg_catalog left out)."""
    kept = tuple(s for s in schemas if s not in ("$user", "pg_catalog", "pg_temp"))
    return kept or DEFAULT_PATH
