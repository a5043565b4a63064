"""The census counts the table that held the values, with the tables that were under it then.

A table's count takes in its inheritance children and partitions: to the app they are the table's
rows. A migration that put a copy of the table under it and then nulled the table's own values by
dynamic SQL (lint only warns) kept every count as it was, and ``migrate apply`` committed the loss
of all 382 values (without ``protect``, whose row trigger refuses the UPDATE itself). And a
migration that renamed the table away and gave its name to a copy with every vector zeroed (a
table swap, by dynamic SQL) kept every count too: apply committed it with ``protect`` installed,
as no row of the protected table was written. So did the same with the column. The census now
knows the table by its oid and the column by its number.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from nyxops.catalog import vector_dimension
from tests.helpers import add_migration, nyxops, scalar, snapshot

_NULLED = (  # the column's name computed by the server: lint can only warn (dynamic-sql)
    "DO $$ DECLARE c text := (SELECT 'embed' || 'ding'); "
    "BEGIN EXECUTE format('UPDATE ONLY workflow_insights SET %I = NULL', c); END $$;\n"
)
_COPY_UNDER = (
    "CREATE TABLE wi_copy () INHERITS (workflow_insights);\nINSERT INTO wi_copy SELECT * FROM ONLY workflow_insights;\n"
)
_JOURNALED = "CREATE INDEX CONCURRENTLY wi_title ON workflow_insights (title);\n"
OWN_VALUES = "SELECT count(embedding) FROM ONLY workflow_insights"
VALUES = "SELECT count(embedding) FROM workflow_insights"


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param(_COPY_UNDER + _NULLED, id="created under it"),
        # an existing table with the same columns, made a child of it
        pytest.param(
            "CREATE TABLE wi_copy (LIKE workflow_insights);\nINSERT INTO wi_copy SELECT * FROM workflow_insights;\n"
            "ALTER TABLE wi_copy INHERIT workflow_insights;\n" + _NULLED,
            id="attached by INHERIT",
        ),
    ],
)
def test_values_nulled_behind_a_copy_put_under_the_table_are_refused(sql: str, env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0  # the repository's own files first
    add_migration(migrations, "0004_copy.sql", sql)
    assert nyxops("lint", str(migrations / "0004_copy.sql"), env=env).code == 0  # a warning only
    planned = nyxops("migrate", "plan", "--json", env=env)
    assert planned.code == 1, planned.output
    after = json.loads(planned.stdout)["census_after"]["public.workflow_insights.embedding"]
    assert (after["non_null"], after["elsewhere"]) == (0, 382)
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "public.workflow_insights.embedding: 382 values before, 0 after (382 more are in tables" in result.stderr
    assert scalar(db_url, OWN_VALUES) == 382
    assert snapshot(db_url) == before


def test_a_journaled_file_resumed_still_counts_only_the_tables_that_were_under_it(
    env, db_url, migrations: Path
) -> None:
    """A journaled file commits statement by statement: the copy is committed when the nulling is
    refused, and the next run resumes from the census it logged first, which says which tables were
    under the table then (none). Read without that, the resumed run would count the copy and commit."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_copy.sql", _COPY_UNDER + _NULLED + _JOURNALED)
    for attempt in range(2):
        result = nyxops("migrate", "apply", env=env)
        assert result.code == 1, (attempt, result.output)
        assert "382 values before, 0 after (382 more are in tables" in result.stderr
        assert scalar(db_url, OWN_VALUES) == 382
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations WHERE version = '0004'") == 0


def test_a_partitioned_table_counts_its_partitions_but_not_a_new_one(env, db_url, migrations: Path) -> None:
    """A partitioned table's values are all in its partitions: those count. A new partition may be
    created and filled; its values cannot stand in for values lost in the old ones."""
    assert nyxops("migrate", "apply", env=env).code == 0
    events = (
        "CREATE TABLE events (id int, at date, vec real[]) PARTITION BY RANGE (at);\n"
        "CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');\n"
        "INSERT INTO events SELECT i, '2025-05-01', ARRAY[i, i]::real[] FROM generate_series(1, 10) i;\n"
    )
    add_migration(migrations, "0004_events.sql", events)
    assert nyxops("migrate", "apply", env=env).code == 0
    protected = {**env, "NYXOPS_PROTECTED_COLUMNS": '["public.workflow_insights.embedding", "public.events.vec"]'}
    grown = (
        "CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');\n"
        "INSERT INTO events SELECT i, '2026-05-01', ARRAY[i, i]::real[] FROM generate_series(11, 20) i;\n"
    )
    add_migration(migrations, "0005_grown.sql", grown)
    result = nyxops("migrate", "apply", env=protected)
    assert result.code == 0, result.output
    swapped = (
        "CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');\n"
        "INSERT INTO events SELECT i, '2027-05-01', ARRAY[i, i]::real[] FROM generate_series(21, 30) i;\n"
        "DO $$ DECLARE c text := (SELECT 'v' || 'ec'); "
        "BEGIN EXECUTE format('UPDATE events SET %I = NULL WHERE at < ''2026-01-01''', c); END $$;\n"
    )
    add_migration(migrations, "0006_swapped.sql", swapped)
    result = nyxops("migrate", "apply", env=protected)
    assert result.code == 1, result.output
    assert "public.events.vec: 20 values before, 10 after (10 more are in tables" in result.stderr
    assert scalar(db_url, "SELECT count(vec) FROM events") == 20


_SWAP = (
    "CREATE TABLE wi_next AS SELECT * FROM workflow_insights;\n"
    "UPDATE wi_next SET embedding = embedding - embedding WHERE title <> '';\n"
    "DO $$ DECLARE a text := (SELECT 'workflow_' || 'insights'); BEGIN\n"
    "  EXECUTE format('ALTER TABLE %I RENAME TO wi_old', a);\n"
    "  EXECUTE format('ALTER TABLE wi_next RENAME TO %I', a);\n"
    "END $$;\n"
)
_COLUMN_SWAP = (
    "SELECT count(*) FROM workflow_insights;\n"
    "DO $$ DECLARE a text := (SELECT 'embed' || 'ding'); BEGIN\n"
    "  EXECUTE format('ALTER TABLE workflow_insights RENAME COLUMN %I TO embedding_old', a);\n"
    "  EXECUTE format('ALTER TABLE workflow_insights ADD COLUMN %I vector(1536)', a);\n"
    "  EXECUTE format('UPDATE workflow_insights SET %I = embedding_old - embedding_old', a);\n"
    "END $$;\n"
)
ZEROED = "SELECT count(*) FROM workflow_insights WHERE embedding = embedding - embedding"
OID = "SELECT 'workflow_insights'::regclass::oid::bigint"


_VIEW_SWAP = (
    "CREATE VIEW wi_next AS SELECT id, project_id, title, content, embedding - embedding AS embedding, created_at"
    " FROM workflow_insights;\n" + _SWAP[_SWAP.index("DO $$") :]
)
"""A view in its place: it has no ``tableoid`` to count by, and the census must still say why."""


@pytest.mark.parametrize("swap", [_SWAP, _VIEW_SWAP], ids=["a table", "a view"])
def test_a_copy_swapped_in_under_the_table_s_name_is_refused(swap: str, env, db_url, migrations: Path) -> None:
    assert nyxops("protect", "install", env=env).code == 0
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_swap.sql", swap)
    assert nyxops("lint", str(migrations / "0004_swap.sql"), env=env).code == 0  # warnings only
    planned = nyxops("migrate", "plan", "--json", env=env)
    assert planned.code == 1, planned.output
    assert "(a table swap)" in json.loads(planned.stdout)["census_losses"][0]
    before, table = snapshot(db_url), scalar(db_url, OID)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "public.workflow_insights.embedding: its table is not the one that held its 382 values" in result.stderr
    assert (scalar(db_url, OID), scalar(db_url, ZEROED), scalar(db_url, VALUES)) == (table, 0, 382)
    assert snapshot(db_url) == before


def test_a_column_swapped_in_under_the_protected_column_s_name_is_refused(env, db_url, migrations: Path) -> None:
    """The protected column renamed away and a new one of its name filled with zeroed vectors: the
    overwrite trigger reads the column by name, and saw NULLs filled."""
    assert nyxops("protect", "install", env=env).code == 0
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_swap.sql", _COLUMN_SWAP)
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "public.workflow_insights.embedding: it is not the column that held its 382 values" in result.stderr
    assert "the column that held them is public.workflow_insights.embedding_old now, with 382 values" in result.stderr
    assert (scalar(db_url, ZEROED), scalar(db_url, VALUES)) == (0, 382)
    assert snapshot(db_url) == before


@pytest.mark.parametrize(
    ("swap", "said"),
    [(_SWAP, "(a table swap)"), (_COLUMN_SWAP, "another column now has its name")],
    ids=["table", "column"],
)
def test_a_journaled_swap_is_refused_again_when_resumed(swap: str, said: str, env, db_url, migrations: Path) -> None:
    """Resumed, the file's census comes from the log, which keeps the table's oid and the column's number."""
    assert nyxops("migrate", "apply", env=env).code == 0
    table = scalar(db_url, OID)
    add_migration(migrations, "0004_swap.sql", swap + _JOURNALED)
    for attempt in range(2):
        result = nyxops("migrate", "apply", env=env)
        assert result.code == 1, (attempt, result.output)
        assert said in result.stderr
        assert (scalar(db_url, OID), scalar(db_url, ZEROED), scalar(db_url, VALUES)) == (table, 0, 382)


def test_a_census_log_from_before_it_kept_the_tables_is_brought_up_to_date(env, db_url, migrations: Path) -> None:
    """A database nyxops ran on before has a census log without the columns, and a journal without
    the settings it keeps (``naming``); apply adds them."""
    assert nyxops("migrate", "apply", env=env).code == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "ALTER TABLE nyxops.census_log DROP COLUMN descendants, DROP COLUMN relation, DROP COLUMN attnum,"
            " DROP COLUMN key_attnums, DROP COLUMN key_names, DROP COLUMN holders"
        )
        conn.execute("ALTER TABLE nyxops.journal DROP COLUMN naming")
    add_migration(migrations, "0004_note.sql", "CREATE TABLE notes_next (id int);\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    logged = (
        "SELECT ARRAY[relation::bigint, attnum, cardinality(descendants)] FROM nyxops.census_log"
        " WHERE version = '0004' AND phase = 'before' AND target = 'public.workflow_insights.embedding'"
    )
    assert scalar(db_url, logged) == [scalar(db_url, OID), 5, 0]  # embedding is the table's fifth column
    assert (
        scalar(
            db_url,
            "SELECT to_regtype(format_type(atttypid, NULL)) FROM pg_attribute WHERE "
            "attrelid = 'nyxops.journal'::regclass AND attname = 'naming'",
        )
        == "text[]"
    )


def test_a_swap_refused_says_where_the_values_went(env, db_url, migrations: Path) -> None:
    """The table's oid tells the operator where the table that held the values is now."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_swap.sql", _SWAP)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "the column that held them is public.wi_old.embedding now, with 382 values" in result.stderr
    assert scalar(db_url, VALUES) == 382


_RENAMED = (  # the new name computed by the server: lint can only warn (dynamic-sql)
    "DO $$ DECLARE n text := (SELECT 'embedding_' || 'v2'); BEGIN\n"
    "  EXECUTE format('ALTER TABLE workflow_insights RENAME COLUMN embedding TO %I', n);\n"
    "END $$;\n"
)


def test_a_protected_column_renamed_is_refused_with_its_new_name_and_applies_once_that_is_protected(
    env, db_url, migrations: Path
) -> None:
    """Apply says where the column went and how a rename that is meant gets through (protect the
    new name with the release), and that way does."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_rename.sql", _RENAMED)
    planned = nyxops("migrate", "plan", "--json", env=env)
    assert planned.code == 1, planned.output
    lost = json.loads(planned.stdout)["census_losses"][0]
    assert "the column that held them is public.workflow_insights.embedding_v2 now, with 382 values" in lost
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "public.workflow_insights.embedding is gone (it held 382 values); the column that held them is" in (
        result.stderr
    )
    assert "names the new one in NYXOPS_PROTECTED_COLUMNS" in result.stderr
    assert scalar(db_url, VALUES) == 382
    renamed = {**env, "NYXOPS_PROTECTED_COLUMNS": '["public.workflow_insights.embedding_v2"]'}
    result = nyxops("migrate", "apply", env=renamed)
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(embedding_v2) FROM workflow_insights") == 382


_COPIED_THEN_NULLED = (  # the same number of values, no longer in the rows the app reads by key
    "INSERT INTO workflow_insights (id, project_id, title, content, embedding)\n"
    "  SELECT 'copy-' || id, project_id, title, content, embedding FROM workflow_insights;\n"
    "DO $$ DECLARE c text := (SELECT 'embed' || 'ding'); "
    "BEGIN EXECUTE format('UPDATE workflow_insights SET %I = NULL WHERE id NOT LIKE ''copy-%%''', c); END $$;\n"
)


def test_values_moved_to_copied_rows_and_nulled_in_their_own_rows_are_refused(env, db_url, migrations: Path) -> None:
    """Without ``protect``: the count stayed 382 while every row the app knows lost its vector. The
    census knows which rows (by primary key) held values, and each must still hold one."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_copied.sql", _COPIED_THEN_NULLED)
    planned = nyxops("migrate", "plan", "--json", env=env)
    assert planned.code == 1, planned.output
    plan = json.loads(planned.stdout)
    assert "382 rows that held its values hold none now" in plan["census_losses"][0]
    held = [plan[f"census_{when}"]["public.workflow_insights.embedding"]["holders"] for when in ("before", "after")]
    assert held == [{"key": ["id"], "rows": 382}, {"key": ["id"], "rows": 382}]
    unprotected = {name for name, count in plan["census_before"].items() if count["holders"] is None}
    assert unprotected == set(plan["census_before"]) - {"public.workflow_insights.embedding"} != set()
    before = snapshot(db_url)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "public.workflow_insights.embedding: 382 rows that held its values hold none now, e.g. (id)=(" in (
        result.stderr
    )
    assert snapshot(db_url) == before


def test_rows_added_with_values_and_a_row_with_a_value_moved_to_another_key_are_told_apart(
    env, db_url, migrations: Path
) -> None:
    """New rows with values pass; one row's key changed (its value with it) is a row the app no
    longer finds under its key, and is refused."""
    assert nyxops("migrate", "apply", env=env).code == 0
    first = scalar(db_url, "SELECT min(id) FROM workflow_insights WHERE embedding IS NOT NULL")
    add_migration(
        migrations,
        "0004_more.sql",
        "INSERT INTO workflow_insights (id, title, content, embedding)\n"
        "  SELECT 'more-' || id, title, content, embedding FROM workflow_insights WHERE embedding IS NOT NULL;\n",
    )
    assert nyxops("migrate", "apply", env=env).code == 0
    assert scalar(db_url, VALUES) == 764
    add_migration(migrations, "0005_rekey.sql", f"UPDATE workflow_insights SET id = 'moved' WHERE id = '{first}';\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert f"1 row that held its values holds none now, e.g. (id)=({first})" in result.stderr
    assert scalar(db_url, f"SELECT count(embedding) FROM workflow_insights WHERE id = '{first}'") == 1


def test_a_journaled_file_resumed_still_knows_which_rows_held_the_values(env, db_url, migrations: Path) -> None:
    """Journaled, the copies are committed when the nulling is refused; resumed, the census comes
    from the log, which must say which rows held the values: by the counts alone (382 copies) the
    second run committed the loss."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_copied.sql", _COPIED_THEN_NULLED + _JOURNALED)
    for attempt in range(2):
        result = nyxops("migrate", "apply", env=env)
        assert result.code == 1, (attempt, result.output)
        assert "382 rows that held its values hold none now" in result.stderr
        assert scalar(db_url, "SELECT count(embedding) FROM workflow_insights WHERE id NOT LIKE 'copy-%'") == 382
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations WHERE version = '0004'") == 0


def test_keys_whose_text_depends_on_a_setting_are_read_the_same_whatever_the_file_sets(
    env, db_url, migrations: Path
) -> None:
    """A timestamptz key reads differently under another TimeZone: a file that only set one was
    refused as if every row had lost its value. nyxops reads its keys under its own settings."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0004_readings.sql",
        "CREATE TABLE readings (at timestamptz PRIMARY KEY, vec real[]);\n"
        "INSERT INTO readings SELECT '2025-01-01'::timestamptz + i * interval '1 hour', ARRAY[i]::real[]"
        " FROM generate_series(1, 5) i;\n",
    )
    assert nyxops("migrate", "apply", env=env).code == 0
    protected = {**env, "NYXOPS_PROTECTED_COLUMNS": '["public.readings.vec"]'}
    add_migration(migrations, "0005_zone.sql", "SET TimeZone = 'Asia/Tokyo';\nSET DateStyle = 'SQL, DMY';\nSELECT 1;\n")
    result = nyxops("migrate", "apply", env=protected)
    assert result.code == 0, result.output
    add_migration(
        migrations,
        "0006_lost.sql",
        "SET TimeZone = 'Asia/Tokyo';\n"
        "DO $$ DECLARE c text := (SELECT 'v' || 'ec'); BEGIN\n"
        "  EXECUTE format('UPDATE readings SET %I = NULL WHERE at < ''2025-01-01 03:30+00''', c);\n"
        "  EXECUTE format('INSERT INTO readings SELECT at + interval ''1 year'', ARRAY[1]::real[] FROM readings"
        " WHERE %I IS NULL', c);\n"
        "END $$;\n",
    )
    result = nyxops("migrate", "apply", env=protected)
    assert result.code == 1, result.output
    assert '3 rows that held its values hold none now, e.g. (at)=("2025-01-01 01:00:00+00")' in result.stderr


def test_a_bytea_key_reads_the_same_whatever_output_the_file_sets(env, db_url, migrations: Path) -> None:
    """A ``bytea`` key reads as ``\\x01`` or, after the file's ``SET bytea_output = 'escape'``, as
    ``\\001``: every row would look as if it had lost its value. nyxops reads in hex."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0004_blobs.sql",
        "CREATE TABLE blobs (k bytea PRIMARY KEY, vec real[]);\n"
        "INSERT INTO blobs SELECT pg_catalog.int4send(i), ARRAY[i]::real[] FROM generate_series(1, 5) i;\n",
    )
    assert nyxops("migrate", "apply", env=env).code == 0
    protected = {**env, "NYXOPS_PROTECTED_COLUMNS": '["public.blobs.vec"]'}
    add_migration(
        migrations, "0005_escape.sql", "SET bytea_output = 'escape';\nSET lc_monetary = 'C.utf8';\nSELECT 1;\n"
    )
    result = nyxops("migrate", "apply", env=protected)
    assert result.code == 0, result.output
    add_migration(
        migrations,
        "0006_lost.sql",
        "SET bytea_output = 'escape';\n"
        "DO $$ DECLARE c text := (SELECT 'v' || 'ec'); BEGIN\n"
        "  EXECUTE format('UPDATE blobs SET %I = NULL WHERE k = int4send(2)', c);\n"
        "  INSERT INTO blobs VALUES (int4send(9), ARRAY[9]::real[]);\n"
        "END $$;\n",
    )
    result = nyxops("migrate", "apply", env=protected)
    assert result.code == 1, result.output
    assert '1 row that held its values holds none now, e.g. (k)=("\\\\x00000002")' in result.stderr


def test_a_protected_vectors_dimension_is_counted_and_its_loss_refused(env, db_url, migrations: Path) -> None:
    """The census reads the type as PostgreSQL names it under nyxops' own path (``pg_catalog``
    first), where pgvector's type reads ``public.vector(1536)``: the dimension was counted as none,
    the plan showed ``dim None``, and a type change built at run time that dropped it (``TYPE
    vector``: no rewrite, every value kept, the column open to vectors of any length) passed."""
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(
        migrations,
        "0004_any_dimension.sql",  # built at run time: lint can only warn (a protected column is never allowed)
        "DO $$ BEGIN EXECUTE format('ALTER TABLE workflow_insights ALTER COLUMN %I TYPE vector', "
        "(SELECT 'embedding')); END $$;\n",
    )
    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    assert plan["census_before"]["public.workflow_insights.embedding"]["dimension"] == 1536
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "public.workflow_insights.embedding: dimension 1536 before, none (a vector of any length" in result.stderr
    assert (
        scalar(
            db_url,
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
            "attrelid = 'workflow_insights'::regclass AND attname = 'embedding'",
        )
        == "vector(1536)"
    )


@pytest.mark.parametrize(
    "text,dimension",
    [
        ("vector(1536)", 1536),
        ("public.vector(1536)", 1536),  # under nyxops' own reads
        ("extensions.vector(768)", 768),  # pgvector in a schema of its own, off the path
        ('"My ""Ext".vector(3)', 3),
        ("vector", None),
        ("halfvec(1536)", None),
        ("myvector(3)", None),
        ("public.myvector(3)", None),
    ],
)
def test_a_vector_type_is_read_with_or_without_its_schema(text: str, dimension: int | None) -> None:
    assert vector_dimension(text) == dimension
