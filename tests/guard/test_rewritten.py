"""Protected values computed again by a table rewrite (guard/rewritten.py), on real PostgreSQL.

Built by dynamic SQL, ``ALTER COLUMN embedding TYPE vector(1536) USING embedding - embedding``
zeroed every protected vector and ``migrate apply`` committed it, ``protect`` installed or not:
the same type, as many values, and no row trigger runs in a rewrite. These tests were written
against that, and fail without the check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import add_migration, nyxops, scalar

VALUES = "SELECT md5(string_agg(embedding::text, ',' ORDER BY id)) FROM workflow_insights"
NAMED = "UPDATE workflow_insights SET title = title WHERE id = 'none';\n"  # the file names the table
ZEROED = NAMED + (
    "DO $$ DECLARE c text := (SELECT 'embedding'); BEGIN\n"
    "    EXECUTE format('ALTER TABLE workflow_insights ALTER COLUMN %I TYPE vector(1536) USING %I - %I', c, c, c);\n"
    "END $$;\n"
)


@pytest.mark.parametrize("protect", [True, False], ids=["protect installed", "without protect"])
def test_a_rewrite_that_computes_the_protected_column_again_is_refused(
    protect: bool, env, db_url, migrations: Path
) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    if protect:
        assert nyxops("protect", "install", env=env).code == 0
    add_migration(migrations, "0004_zero.sql", ZEROED)
    assert nyxops("lint", str(migrations / "0004_zero.sql"), env=env).code == 0  # dynamic: a warning only
    before = scalar(db_url, VALUES)
    plan = json.loads(nyxops("migrate", "plan", "--json", env=env).stdout)
    last = [s for s in plan["statements"] if s["file"] == "0004_zero.sql"][-1]
    assert "apply would refuse the file, which rewrote protected column public.workflow_insights.embedding" in str(
        last["refused"]
    )
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "rewrote table public.workflow_insights and its protected column" in result.output
    assert scalar(db_url, VALUES) == before


def test_a_rewrite_for_another_column_and_a_change_of_the_protected_one_apply_in_separate_files(
    env, db_url, migrations: Path
) -> None:
    """The check's price, as the README says: both in one file are refused; each alone applies."""
    assert nyxops("migrate", "apply", env=env).code == 0
    statistics = "ALTER TABLE workflow_insights ALTER COLUMN embedding SET STATISTICS 500;\n"
    widened = (
        "-- nyxops:allow alter-column-type public.workflow_insights.title\n"
        "ALTER TABLE workflow_insights ALTER COLUMN title TYPE varchar(500);\n"
    )
    add_migration(migrations, "0004_both.sql", statistics + widened)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1, result.output
    assert "apply those two in separate files" in result.output
    (migrations / "0004_both.sql").unlink()
    add_migration(migrations, "0004_statistics.sql", statistics)
    add_migration(migrations, "0005_widened.sql", widened)
    before = scalar(db_url, VALUES)
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, VALUES) == before
    assert (
        scalar(
            db_url,
            "SELECT attstattarget FROM pg_attribute WHERE attrelid = 'workflow_insights'::regclass"
            " AND attname = 'embedding'",
        )
        == 500
    )


def test_a_partitioned_table_is_watched_through_its_partitions(env, db_url, migrations: Path) -> None:
    """A partitioned table has no file of its own (relfilenode 0): its partitions are rewritten."""
    assert nyxops("migrate", "apply", env=env).code == 0
    events = (
        "CREATE TABLE events (id int, at date, vec real[]) PARTITION BY RANGE (at);\n"
        "CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');\n"
        "CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');\n"
        "INSERT INTO events VALUES (1, '2025-05-01', '{1,2}'), (2, '2026-05-01', '{3,4}');\n"
    )
    add_migration(migrations, "0004_events.sql", events)
    assert nyxops("migrate", "apply", env=env).code == 0
    protected = {**env, "NYXOPS_PROTECTED_COLUMNS": '["public.workflow_insights.embedding", "public.events.vec"]'}
    zeroed = (
        "UPDATE events SET id = id WHERE id = 0;\n"
        "DO $$ DECLARE c text := (SELECT 'vec'); BEGIN\n"
        "    EXECUTE format('ALTER TABLE events ALTER COLUMN %I TYPE real[] USING array_fill(0::real, ARRAY[2])', c);\n"
        "END $$;\n"
    )
    add_migration(migrations, "0005_zero.sql", zeroed)
    result = nyxops("migrate", "apply", env=protected)
    assert result.code == 1, result.output
    assert "its protected column public.events.vec" in result.output
    assert scalar(db_url, "SELECT string_agg(vec::text, ' ' ORDER BY id) FROM events") == "{1,2} {3,4}"
    (migrations / "0005_zero.sql").unlink()
    partition = "CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');\n"
    add_migration(migrations, "0005_partition.sql", partition)  # a new partition changes no old file
    assert nyxops("migrate", "apply", env=protected).code == 0
