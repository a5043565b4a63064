"""Large objects removed or overwritten: ``lo_unlink``, ``lo_truncate``, ``lo_put``.

A large object lives in ``pg_largeobject``, outside every table: a column of type ``oid`` holds
only its number. Unlinking it leaves that column as it was (no census or ledger counts a change),
and the app finds a dangling number on its next read. The classic cleanup
(``SELECT lo_unlink(oid) FROM pg_largeobject_metadata``, vacuumlo's way) removes every one.
Creating or reading one (``lo_create``, ``lo_import``, ``lo_get``) loses nothing.
"""

from collections.abc import Iterator

from nyxops.guard.model import Hit, catalog_function
from nyxops.guard.scope import Scope
from nyxops.sql import Node

ID = "large-object"
MESSAGE = "This removes or overwrites a large object's data, which no table's count of rows or values shows."
HELP = (
    "Remove large objects in a reviewed cleanup outside the migration; "
    "if this one is meant, allow it with a comment naming the function."
)
NODES = ("FuncCall",)
FAIL = [
    "SELECT lo_unlink(42)",
    "SELECT pg_catalog.lo_unlink(m.oid) FROM pg_largeobject_metadata m",
    "SELECT lo_unlink(attachment) FROM documents WHERE archived",
    "SELECT lo_truncate(lo_open(42, 131072), 0)",
    "SELECT lo_truncate64(lo_open(42, 131072), 0)",
    "SELECT lo_put(42, 0, '\\x00')",
    "DO $$ BEGIN PERFORM lo_unlink(42); END $$",
    "UPDATE documents SET attachment = NULL WHERE lo_unlink(attachment) = 1",
]
PASS = [
    "SELECT lo_create(0)",
    "SELECT lo_import('/tmp/x')",
    "SELECT lo_get(42)",
    "SELECT lo_from_bytea(0, '\\x00')",
    "SELECT app.lo_unlink(42)",
    "COMMENT ON LARGE OBJECT 42 IS 'kept'",
]
_LOSING = {"lo_unlink", "lo_truncate", "lo_truncate64", "lo_put"}
"""pg_catalog's functions that remove a large object or change bytes it holds."""


def check(body: Node, ctx: Scope) -> Iterator[Hit]:
    name = catalog_function(body, _LOSING)
    if name is not None:
        yield Hit(name, body.get("location"), detail="a large object's data")
