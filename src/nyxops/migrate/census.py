"""Counts of the protected and embedding columns, before and after: proof that nothing was lost."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.types.numeric import Oid

from nyxops import catalog
from nyxops.migrate import holders
from nyxops.migrate.holders import Holders
from nyxops.names import QualifiedName


@dataclass(frozen=True)
class Count:
    target: str
    exists: bool
    rows: int | None = None
    non_null: int | None = None
    dimension: int | None = None
    relation: int | None = None
    """The table's oid: the name may be given to another table (a swap), the oid stays with the
    values; None when unknown (a census logged by an older nyxops)."""
    attnum: int | None = None
    """The column's number in its table: the same for a column renamed away and another given its name."""
    descendants: tuple[int, ...] | None = None
    """The tables under it (inheritance children, partitions) when it was counted, by oid; None
    when unknown (a census logged by an older nyxops): then all of them count."""
    elsewhere: int = 0
    """Values in tables put under it since ``since`` was counted, which this count leaves out."""
    moved: Moved | None = None
    """Where the column counted at ``since`` is now, when this name means another column or none:
    a tired operator reads where it went, not only "gone"."""
    holders: Holders | None = None
    """Which rows hold the values, by primary key (``holders.py``); None when not read (no key, too
    many values, or a census logged without them: only a journaled file's first one has them)."""


@dataclass(frozen=True)
class Moved:
    name: str
    """Its name now. (One dropped is not looked for: the tripwire refuses every drop, by name.)"""
    non_null: int
    """The values it holds there (in the tables that were under it when the file began)."""

    def __str__(self) -> str:
        return f"; the column that held them is {self.name} now, with {self.non_null} values"


_COUNT = """
WITH RECURSIVE tree(oid) AS (
    SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = {rel}
    UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid
)
SELECT count(*) FILTER (WHERE {kept}), count({col}) FILTER (WHERE {kept}), count({col}) FILTER (WHERE NOT {kept}),
       (SELECT pg_catalog.array_agg(oid ORDER BY oid) FROM tree)
FROM {tab}
"""
"""A table's count takes in the rows of the tables under it, which are the table's rows to the app
and hold its values (partitions). Only those that were under it at the first count: a migration
that put a copy of the table under it (``CREATE TABLE c () INHERITS (workflow_insights); INSERT
INTO c SELECT * FROM ONLY workflow_insights``) and then nulled the table's own values by dynamic
SQL kept every count as it was, and apply committed (a test). The table's oid and the column's
number: a table or a column renamed away and a zeroed copy given its name (a swap, by dynamic SQL)
kept every count too, wrote no row of the protected table, and apply committed it with ``protect``
installed (tests)."""
_STORED = {"r", "p", "m", "f"}
"""Relations whose rows say which table holds them (``tableoid``); a view's do not."""


def take(
    conn: psycopg.Connection,
    columns: Iterable[QualifiedName],
    since: dict[str, Count] | None = None,
    *,
    keyed: Collection[QualifiedName] = (),
) -> dict[str, Count]:
    """Each column's rows and values; with ``since``, only in the tables that were under each then,
    and where the column counted then went when its name now means another column or none.

    Which rows hold the values is read for the ``keyed`` columns (the protected ones: no other is
    compared), and with ``since``, for those whose earlier count has them."""
    counts: dict[str, Count] = {}
    for column in columns:
        earlier = (since or {}).get(str(column))
        keys = earlier.holders is not None if earlier is not None else column in keyed
        found = catalog.column(conn, column)
        counts[str(column)] = dataclasses.replace(
            _count(conn, column, found, earlier, keys=keys), moved=_moved(conn, found, earlier)
        )
    return counts


def _count(
    conn: psycopg.Connection,
    column: QualifiedName,
    found: catalog.Column | None,
    earlier: Count | None,
    *,
    keys: bool,
) -> Count:
    if found is None:
        return Count(str(column), exists=False)
    under = earlier.descendants if earlier is not None and earlier.exists else None
    rel = sql.SQL("{}::pg_catalog.oid").format(sql.Literal(found.relation))
    kept = (
        sql.SQL("true")
        if under is None or found.relkind not in _STORED
        else sql.SQL("(tableoid = {rel} OR tableoid = ANY({under}::pg_catalog.oid[]))").format(
            rel=rel, under=sql.Literal(list(under))
        )
    )
    query = sql.SQL(_COUNT).format(
        rel=rel, kept=kept, col=sql.Identifier(column.column or ""), tab=sql.Identifier(column.schema, column.table)
    )
    row = conn.execute(query).fetchone()
    if row is None:  # an aggregate without GROUP BY: always one row
        raise RuntimeError(f"no row from the count of {column}")
    rows, non_null, elsewhere, tree = row
    key = earlier.holders.key if earlier is not None and earlier.holders is not None else None
    held = None
    if keys and found.relkind in _STORED:
        held = holders.read(conn, found.relation, column, kept, int(non_null), key)
    return Count(
        str(column),
        True,
        int(rows),
        int(non_null),
        found.dimension,
        found.relation,
        found.attnum,
        tuple(tree or ()),
        int(elsewhere),
        holders=held,
    )


def _moved(conn: psycopg.Connection, found: catalog.Column | None, earlier: Count | None) -> Moved | None:
    """Where the column ``earlier`` counted is now, when ``found`` (what its name means now) is not it."""
    if earlier is None or earlier.relation is None or earlier.attnum is None:
        return None
    if found is not None and (found.relation, found.attnum) == (earlier.relation, earlier.attnum):
        return None
    now = catalog.named(conn, earlier.relation, earlier.attnum)
    if now is None:
        return None
    return Moved(str(now), _count(conn, now, catalog.column(conn, now), earlier, keys=False).non_null or 0)


_RENAMED = (
    "the app reads it by its old name; a rename that is meant names the new one in NYXOPS_PROTECTED_COLUMNS for the "
    "release that ships the app reading it"
)


def among(counts: dict[str, Count], names: Collection[str], *, inside: bool = True) -> dict[str, Count]:
    """The counts of the columns ``names`` holds (or, not ``inside``, of the others): apply refuses
    fewer values in the protected columns only, and plan answers as apply does."""
    return {k: v for k, v in counts.items() if (k in names) == inside}


def losses(before: dict[str, Count], after: dict[str, Count]) -> list[str]:
    """What decreased: a vanished column, fewer values, a changed dimension."""
    problems: list[str] = []
    for name, old in before.items():
        new = after.get(name, Count(name, exists=False))
        if not old.exists:
            continue
        if not new.exists:
            problem = f"{name} is gone (it held {old.non_null} values){new.moved or ''}"
            if new.moved is not None:
                problem += f" ({_RENAMED})"
            problems.append(problem)
        elif None not in (old.relation, new.relation) and old.relation != new.relation:
            problems.append(
                f"{name}: its table is not the one that held its {old.non_null} values when the file began: that one "
                "was renamed or moved away and another table now has its name (a table swap), whose values nyxops "
                f"cannot vouch for{new.moved or ''}"
            )
        elif None not in (old.attnum, new.attnum) and old.attnum != new.attnum:
            problems.append(
                f"{name}: it is not the column that held its {old.non_null} values when the file began: that one was "
                "renamed away and another column now has its name, whose values nyxops cannot vouch for"
                f"{new.moved or ''}"
            )
        elif (new.non_null or 0) < (old.non_null or 0):
            problem = f"{name}: {old.non_null} values before, {new.non_null} after"
            if new.elsewhere:
                problem += (
                    f" ({new.elsewhere} more are in tables the file put under the table, by INHERITS, PARTITION OF "
                    "or ATTACH PARTITION: new rows, not the ones that held those values, and not counted)"
                )
            problems.append(problem)
        elif (
            old.holders is not None and new.holders is not None and (gone := holders.missing(old.holders, new.holders))
        ):
            problems.append(f"{name}: {gone}")
        elif old.dimension != new.dimension:
            problems.append(f"{name}: dimension {_dimension(old.dimension)} before, {_dimension(new.dimension)} after")
    return problems


def _dimension(value: int | None) -> str:
    return "none (a vector of any length, or not a vector)" if value is None else str(value)


def log(conn: psycopg.Connection, version: str, phase: str, counts: dict[str, Count], *, keys: bool = False) -> None:
    """``keys``: with which rows held the values, for a journaled file's first census, which a
    resumed run reads back (``logged``); a census of every file's rows would fill the log."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO nyxops.census_log (version, phase, target, rows, non_null, dimension, relation, attnum,"
            " descendants, key_attnums, key_names, holders) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    version,
                    phase,
                    c.target,
                    c.rows,
                    c.non_null,
                    c.dimension,
                    _oid(c.relation),
                    c.attnum,
                    _oids(c.descendants),
                    *_held(c.holders if keys else None),
                )
                for c in counts.values()
                if c.exists
            ],
        )


def _held(held: Holders | None) -> tuple[list[int] | None, list[str] | None, list[str] | None]:
    if held is None:
        return None, None, None
    return list(held.key), list(held.names), sorted(held.rows)


def _oid(relation: int | None) -> Oid | None:
    return None if relation is None else Oid(relation)


def _oids(descendants: tuple[int, ...] | None) -> list[Oid] | None:
    return None if descendants is None else [Oid(o) for o in descendants]


def logged(conn: psycopg.Connection, version: str, phase: str) -> dict[str, Count]:
    """The census last logged for a version and phase (a resumed file keeps its first 'before')."""
    rows = conn.execute(
        "SELECT DISTINCT ON (target) target, rows, non_null, dimension, relation, attnum, descendants,"
        " key_attnums, key_names, holders FROM nyxops.census_log"
        " WHERE version = %s AND phase = %s ORDER BY target, taken_at DESC",
        (version, phase),
    ).fetchall()
    return {
        r[0]: Count(
            r[0],
            True,
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            None if r[6] is None else tuple(r[6]),
            holders=None if r[9] is None else Holders(tuple(r[7]), tuple(r[8]), frozenset(r[9])),
        )
        for r in rows
    }
