"""The settings a journaled file's done statements made, made again when a run resumes it.

A journaled file commits statement by statement, in one session. A run killed or refused midway
resumes in a new session, at the first statement not done, and the settings the done statements
had made were gone: after ``SET search_path = app, public`` (done), the file's later statements
read ``events`` as ``public.events``, and its ``DELETE FROM events WHERE id > 1``, meant for the
file's own ``app.events``, emptied the app's table; apply committed it (a test). So the resumed
run makes those settings again, in the file's order, before its first statement not done.

Only what can be made again exactly is: ``SET`` and ``RESET`` (not ``SET LOCAL``, which ended with
its statement's transaction, nor ``SET TRANSACTION``), and ``SELECT set_config(…, …, false)`` of
constants, which pg_dump writes at the top of its output. Each is idempotent. The settings that
decide what a name means (``_NAMING``: search_path, role, session user) are kept by the journal as
the session had them after each done statement, read after its commit (``history.journal_naming``),
and the resumed run starts from them, however they were set: a path set by a function the file
called (``SELECT use_app()``) is written in no statement, and the resumed ``DELETE FROM events``
meant for ``app.events`` emptied the app's ``public.events`` (a test). Where the journal has no
such record (a run killed between a statement's commit and that record, or a journal of an older
nyxops), a done DO block or SELECT that set one of them in a way no statement shows refuses the
resume (``needs_lost``).

A TEMP table is not made again: the rows the done statements put in it came from data they may
have changed since. A resumed ``DELETE FROM events`` meant for the file's TEMP ``events`` read the
app's ``public.events`` and apply committed it (a test; in the resumed file no statement made the
TEMP table, so the ledger reads ``events`` as the app's). So a resume whose statements name a TEMP
table a done one made is refused before it runs anything. Nor is a type made in ``pg_temp`` made
again: a resumed ``'ok'::mood`` would find the app's ``mood`` (or none), and refuses the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence

from nyxops.errors import ResumeRefused
from nyxops.guard.model import dropped_objects, name_list
from nyxops.guard.scope import TYPE_MAKERS, made_type
from nyxops.guard.walk import visits
from nyxops.sql import Node, Statement

_PER_TRANSACTION = {"TRANSACTION"}
"""``SET TRANSACTION …``: for the transaction it ran in only."""


def settings(statements: Iterable[Statement], done: Iterable[int]) -> list[Statement]:
    """The done statements whose only effect is a session setting, in the file's order."""
    finished = set(done)
    return [s for s in statements if s.index in finished and s.keyword in ("SET", "RESET", "SELECT") and _sets(s)]


def _sets(stmt: Statement) -> bool:
    body = stmt.body
    if stmt.kind == "VariableSetStmt":
        return not body.get("is_local") and body.get("name") not in _PER_TRANSACTION
    if stmt.kind == "SelectStmt":
        targets = body.get("targetList", [])
        plain = set(body) <= {"targetList", "limitOption", "op"}
        return plain and bool(targets) and all(_set_config(t.get("ResTarget", {}).get("val", {})) for t in targets)
    return False


def _set_config(node: Node) -> bool:
    """``[pg_catalog.]set_config('name', 'value', false)``, every argument a constant."""
    call = _config_call(node.get("FuncCall", {}))
    if call is None or call[0] not in (["set_config"], ["pg_catalog", "set_config"]):
        return False
    name, value, local = call[1]
    return "sval" in name and "sval" in value and local.get("boolval") == {}


def _config_call(call: Node) -> tuple[list[str | None], list[Node]] | None:
    """A call of a function named ``set_config`` with three arguments: its name as written, and
    each argument's constant (empty when computed)."""
    names = [n.get("String", {}).get("sval") for n in call.get("funcname", [])]
    args = call.get("args", [])
    if names[-1:] != ["set_config"] or len(args) != 3:
        return None
    return names, [a.get("A_Const", {}) for a in args]


_MADE = {
    "CreateStmt": ("relation",),
    "CreateTableAsStmt": ("into", "rel"),
    "ViewStmt": ("view",),
    "CreateSeqStmt": ("sequence",),
}
"""Where each statement that makes a relation keeps its RangeVar."""


_NAMING = {"search_path", "role", "session_authorization"}
"""Settings that decide which table a name means, or whose rights a statement runs with."""


def needs_lost(file: str, statements: Sequence[Statement], done: Collection[int], *, naming_kept: bool) -> None:
    """Refuse the resume when a statement not done names a TEMP relation a done statement made,
    or, when the journal did not keep the session's ``_NAMING`` settings after the last done
    statement (``naming_kept``), when a done statement changed one in a way that cannot be made again."""
    if all(s.index in done for s in statements):
        return  # nothing left to run: the crash came after the last journal mark
    if not naming_kept:
        _refuse_unrepeatable(file, statements, done)
    made: dict[str, Statement] = {}  # TEMP relations the done statements left, in the file's order
    types: dict[str, Statement] = {}  # and types made in pg_temp
    for stmt in statements:
        if stmt.index not in done:
            continue
        if stmt.keyword == "CREATE" and (name := _temp_made(stmt)) is not None:
            made[name] = stmt
        elif stmt.keyword == "CREATE" and (name := _temp_type(stmt)) is not None:
            types[name] = stmt
        elif stmt.keyword == "DROP" and stmt.kind == "DropStmt":
            for name in _temp_dropped(stmt):
                made.pop(name, None)
            for name in _temp_types_dropped(stmt):
                types.pop(name, None)
    for stmt in statements:
        if not made and not types:
            return
        if stmt.index in done:
            continue
        _refuse_naming(file, stmt, made, types, len(done))
        if stmt.keyword == "CREATE" and (name := _temp_made(stmt)) is not None:
            made.pop(name, None)  # made again by the resumed run: what follows names the new one, as before
        elif stmt.keyword == "CREATE" and (name := _temp_type(stmt)) is not None:
            types.pop(name, None)


def _refuse_unrepeatable(file: str, statements: Sequence[Statement], done: Collection[int]) -> None:
    """Refuse when a done DO block or SELECT set a ``_NAMING`` setting in a way that cannot be made again."""
    again = {s.index for s in settings(statements, done)}
    for stmt in statements:
        if stmt.index in done and stmt.index not in again and stmt.kind in ("DoStmt", "SelectStmt"):
            setting = _unrepeatable(stmt)
            if setting is not None:
                raise ResumeRefused(
                    f"{file} cannot be resumed: its statement {stmt.index + 1} set {setting} in a way nyxops "
                    "cannot make again (inside a DO block, or by set_config of a computed value), the journal did "
                    "not keep what the session had after it (a run killed between a statement's commit and that "
                    "record, or journaled by an older nyxops), and the statements after it would run without it, "
                    "reading the file's names otherwise. Nothing was "
                    f"run; its {len(done)} done statement(s) stay committed. Restore the backup taken before this "
                    "release (nyxops db backups, nyxops db restore NAME), then write the setting as a plain SET "
                    "statement, or qualify the names it was for."
                )


def _refuse_naming(
    file: str, stmt: Statement, made: dict[str, Statement], types: dict[str, Statement], done: int
) -> None:
    """Refuse the resume when ``stmt`` names one of the TEMP relations ``made`` or temporary
    ``types`` (lost with the session): in a RangeVar (a read too: it would read another table now), as
    what a DROP drops (a ``DROP TABLE events`` meant for the TEMP one drops the app's in the
    resumed session), or as a type (``'ok'::mood`` finds the app's ``mood``, or none)."""
    target = _made_rel(stmt)
    names = list(_temp_dropped(stmt)) if stmt.keyword == "DROP" and stmt.kind == "DropStmt" else []
    named_types = []
    for visit in visits(stmt.node, stmt.text):
        if types:
            found = [visit.node] if visit.kind == "TypeName" else [visit.node.get(k) for k in _TYPE_FIELDS]
            for typ in (name_list(t.get("names", [])) for t in found if isinstance(t, dict)):
                if len(typ) == 1 or (len(typ) == 2 and typ[0] == "pg_temp"):
                    named_types.append(typ[-1])
        rel = visit.node if visit.kind == "RangeVar" else visit.node.get("relation")
        if isinstance(rel, dict) and rel is not target and rel.get("schemaname") in (None, "pg_temp"):
            names.append(rel.get("relname", ""))
    lost = [(n, made[n], "TEMP table", ", and with it the rows put in it", "another table") for n in names if n in made]
    lost += [(n, types[n], "temporary type", "", "another type") for n in named_types if n in types]
    if lost:
        name, maker, what, rows, other = lost[0]
        raise ResumeRefused(
            f"{file} cannot be resumed: its statement {maker.index + 1} made the {what} {name}, "
            f"which ended with the session of the run that stopped{rows}; statement "
            f"{stmt.index + 1} names {name}, which in this session is {other} or none. Nothing was run; "
            f"its {done} done statement(s) stay committed. Restore the backup taken before this release "
            "(nyxops db backups, nyxops db restore NAME), then move the temporary object's work into a file of "
            "its own that runs in one transaction."
        )


_TYPE_FIELDS = ("typeName", "ofTypename", "argType", "returnType")
"""Where a type name sits without its ``TypeName`` wrapper (the field can hold nothing else)."""


def _made_rel(stmt: Statement) -> Node | None:
    """The RangeVar of the relation the statement makes, if it makes one."""
    path = _MADE.get(stmt.kind)
    if path is None:
        return None
    rel: Node = stmt.body
    for key in path:
        rel = rel.get(key, {})
    return rel


def _temp_dropped(stmt: Statement) -> Iterator[str]:
    """The relations a DROP TABLE/VIEW/SEQUENCE drops that can be TEMP ones: unqualified (a TEMP
    relation comes first on the path) or in ``pg_temp``."""
    if stmt.body.get("removeType") not in _DROPPED_KINDS:
        return
    for obj in dropped_objects(stmt.body):
        if isinstance(obj, list):
            names = name_list(obj)
            if len(names) == 1 or (len(names) == 2 and names[0] == "pg_temp"):
                yield names[-1]


_DROPPED_KINDS = {"OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_SEQUENCE", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE"}


def _temp_type(stmt: Statement) -> str | None:
    """The name of the type or domain the statement makes in ``pg_temp``, if it makes one."""
    if stmt.kind not in TYPE_MAKERS:
        return None
    names = made_type(stmt.kind, stmt.body)
    return names[1] if len(names) == 2 and names[0] == "pg_temp" else None


def _temp_types_dropped(stmt: Statement) -> Iterator[str]:
    """The types and domains a DROP TYPE/DOMAIN drops that can be temporary ones: unqualified or in ``pg_temp``."""
    if stmt.body.get("removeType") not in ("OBJECT_TYPE", "OBJECT_DOMAIN"):
        return
    for obj in dropped_objects(stmt.body):
        names = name_list(obj.get("TypeName", {}).get("names", [])) if isinstance(obj, dict) else []
        if len(names) == 1 or (len(names) == 2 and names[0] == "pg_temp"):
            yield names[-1]


def _temp_made(stmt: Statement) -> str | None:
    """The name of the TEMP relation the statement makes, if it makes one."""
    rel = _made_rel(stmt)
    if rel is None:
        return None
    temp = rel.get("relpersistence") == "t" or rel.get("schemaname") == "pg_temp"
    return rel.get("relname") if temp else None


def _unrepeatable(stmt: Statement) -> str | None:
    """The ``_NAMING`` setting (or "a setting whose name is computed") a DO block or a SELECT sets
    for the session; None when it sets none of them."""
    for visit in visits(stmt.node, stmt.text):
        node = visit.node
        if visit.kind == "VariableSetStmt" and not node.get("is_local"):
            name = str(node.get("name", "")).lower()
            if name in _NAMING or node.get("kind") == "VAR_RESET_ALL":
                return name or "every setting (RESET ALL)"
        elif visit.kind == "FuncCall" and (call := _config_call(node)) is not None:
            setting, _, local = call[1]
            if local.get("boolval") not in (None, {}):
                continue  # set_config(…, true): for the transaction only
            name = setting.get("sval", {}).get("sval")
            if name is None:
                return "a setting whose name is computed"
            if name.lower() in _NAMING:
                return str(name)
    return None
