"""Permanent objects tied to temporary ones: dropped with them when nyxops' session ends.

PostgreSQL lets a permanent table hold a column of a temporary type (``CREATE DOMAIN
pg_temp.words AS text``), be typed by a temporary composite, or take a default, a check, a
trigger or an index from a temporary function. When the session ends, PostgreSQL drops its
temporary schema with CASCADE, and everything tied to it goes too: the column with every value
in it, the whole table. That is after the commit, where neither the tripwire (gone by then) nor
the census looks. Shown first on a real PostgreSQL 16: a reviewed ``ALTER COLUMN content TYPE
pg_temp.words``, allowed as harmless, committed, and ``workflow_insights.content`` was gone once
apply had exited, exit 0; ``ALTER TABLE workflow_insights OF wi_row`` (a temporary composite),
run by dynamic SQL, took the whole table (tests/guard/test_temp_ties.py).

So before commit, every permanent object that depends on anything in a temporary schema (this
session's, or another's: it goes when that session ends) refuses the file: a table, type or
function, and a collation (``ALTER COLUMN content TYPE text COLLATE pg_temp.plain``: the column
went with the collation, a test), an operator or a text search configuration (a generated column
that computes with one, a test), an operator class or family, a conversion. Ties among temporary
objects (a TEMP table of a temporary type, its trigger) are what TEMP staging is for, and pass.
"""

from __future__ import annotations

import psycopg

_CATALOGS = (
    ("pg_class", "relnamespace"),
    ("pg_type", "typnamespace"),
    ("pg_proc", "pronamespace"),
    ("pg_collation", "collnamespace"),
    ("pg_operator", "oprnamespace"),
    ("pg_opclass", "opcnamespace"),
    ("pg_opfamily", "opfnamespace"),
    ("pg_ts_config", "cfgnamespace"),
    ("pg_ts_dict", "dictnamespace"),
    ("pg_conversion", "connamespace"),
)
"""Each catalog of objects that live in a schema, and its schema column."""
_TEMP = "\n    UNION ALL ".join(
    f"SELECT 'pg_catalog.{table}'::pg_catalog.regclass AS catalog, o.oid FROM pg_catalog.{table} o"
    f" WHERE o.{schema} IN (SELECT oid FROM schemas)"
    for table, schema in _CATALOGS
)
_TIES = (
    """
WITH schemas AS (  -- every session's temporary schema, not only this one's
    SELECT n.oid FROM pg_catalog.pg_namespace n WHERE pg_catalog.starts_with(n.nspname, 'pg_temp_')
), temp AS (
    """
    + _TEMP
    + """
)
SELECT DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid),
    pg_catalog.pg_describe_object(d.refclassid, d.refobjid, 0)
FROM temp JOIN pg_catalog.pg_depend d ON d.refclassid = temp.catalog AND d.refobjid = temp.oid
WHERE d.deptype = 'n'
  AND NOT EXISTS (SELECT FROM temp WHERE temp.catalog = d.classid AND temp.oid = d.objid)
  AND NOT EXISTS (  -- a part of a temporary object: its column's default, its trigger, its constraint
    SELECT FROM pg_catalog.pg_depend owner JOIN temp
      ON temp.catalog = owner.refclassid AND temp.oid = owner.refobjid
    WHERE owner.classid = d.classid AND owner.objid = d.objid AND owner.deptype IN ('a', 'i'))
  AND NOT EXISTS (
    SELECT FROM pg_catalog.pg_constraint k WHERE d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass
      AND k.oid = d.objid AND k.connamespace IN (SELECT oid FROM schemas))
ORDER BY 1, 2
"""
)
"""Another session's temporary schema too: a column of its type (``pg_temp_3.mood``, named by
dynamic SQL) went when that session ended (a test)."""


def tied(conn: psycopg.Connection) -> list[str]:
    """Each permanent object that depends on a temporary one, in words (``column content of table
    workflow_insights depends on temporary type pg_temp_3.words``); read inside ``own_reads``."""
    return [f"{what} depends on temporary {on}" for what, on in conn.execute(_TIES)]
