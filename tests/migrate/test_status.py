"""``status`` and ``baseline`` against a real database."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import add_migration, nyxops, scalar


def test_status_states(env, db_url, migrations: Path) -> None:
    result = nyxops("migrate", "status", "--json", env=env)
    assert result.code == 0
    assert [s["state"] for s in json.loads(result.stdout)] == ["pending"] * 3
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_a.sql", "SELECT 1;\n", review=False)
    path = add_migration(migrations, "0005_b.sql", "SELECT 1;\n")
    path.write_text("SELECT 2;\n")
    result = nyxops("migrate", "status", "--json", env=env)
    states = {s["name"]: s["state"] for s in json.loads(result.stdout)}
    assert states == {
        "0001_project_syncs.sql": "applied",
        "0002_project_sync_enabled.sql": "applied",
        "0003_project_syncs_rls.sql": "applied",
        "0004_a.sql": "unreviewed",
        "0005_b.sql": "changed-since-review",
    }
    assert result.code == 1
    (migrations / "0003_project_syncs_rls.sql").unlink()
    table = nyxops("migrate", "status", env=env)
    assert "missing-file" in table.stdout


def test_baseline_marks_existing_database(env, db_url, migrations: Path) -> None:
    import psycopg

    wrong = nyxops("migrate", "baseline", "0002", env=env)  # the database has not got what 0001/0002 create
    assert wrong.code == 1 and "does not look like it is at 0002" in wrong.stderr
    assert "table public.project_syncs" in wrong.stderr
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations") == 0
    with psycopg.connect(db_url) as conn:  # production as it really is: created by hand before nyxops
        for path in sorted(migrations.glob("000[12]_*.sql")):
            conn.execute(path.read_text())
    result = nyxops("migrate", "baseline", "0002", env=env)
    assert result.code == 0, result.output
    assert "baselined 0002_project_sync_enabled.sql" in result.stdout
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations") == 2
    assert scalar(db_url, "SELECT applied_by FROM nyxops.schema_migrations WHERE version = '0001'").startswith(
        "baseline by"
    )
    again = nyxops("migrate", "baseline", "0002", env=env)
    assert again.code == 1 and "already has a migration history" in again.stderr
    missing = nyxops("migrate", "baseline", "0042", env=env)
    assert missing.code == 2 and "no migration with version 0042" in missing.stderr


def test_baseline_force_writes_what_the_checks_refuse(env, db_url, migrations: Path) -> None:
    forced = nyxops("migrate", "baseline", "0001", "--force", env=env)
    assert forced.code == 0, forced.output
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations") == 1


def test_older_pending_file_refused(env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0000_late.sql", "SELECT 1;\n")
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 1 and "0000_late.sql is older than the newest applied migration" in result.stderr
