"""Output people and CI can read: full names in a pipe, each thing said once, JSON where asked."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.helpers import add_migration, nyxops

LONG = "0004_add_the_repository_mirror_columns_for_project_sync_phase_two_with_backfill_flags.sql"


def test_tables_in_a_pipe_keep_full_names_and_an_applied_file_is_said_once(env, migrations: Path) -> None:
    add_migration(migrations, LONG, "SELECT 1;\n")
    piped = {**env, "COLUMNS": ""}  # no terminal, no COLUMNS: what CI and `| less` see
    applied = nyxops("migrate", "apply", env=piped)
    assert applied.code == 0, applied.output
    assert applied.output.count(LONG) == 1, applied.output  # one line per file, not a log line and a bar
    logged = [line for line in applied.stderr.splitlines() if LONG in line]
    # every log line with its own date and time, and no padding to the console's width
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d INFO applied {LONG}: 1 statement\(s\) in .*", logged[0])
    assert not any(line.endswith(" ") for line in applied.stderr.splitlines()), applied.stderr
    status = nyxops("migrate", "status", env=piped)
    assert LONG in status.stdout, status.stdout


def test_backfill_json(env, db_url) -> None:
    result = nyxops("backfill", "--dry-run", "--json", env=env)
    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    names = {t["target"] for t in report["targets"]}
    assert names == {"workflow_insights", "pipeline_insights", "discussion_knowledge"}
    assert all(t["dry_run"] and "would_request" in t for t in report["targets"])


def test_verify_without_a_census_does_not_claim_none_lost(env) -> None:
    result = nyxops("verify", "--only", "embeddings", "--json", env=env)
    reason = json.loads(result.stdout)["checks"][0]["reason"]
    assert "no census yet: losses not checked" in reason and "none lost" not in reason


def test_review_warns_when_the_guard_blocks_the_file(env, tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    path = folder / "0001_drop.sql"
    path.write_text("DROP TABLE legacy;\n")
    result = nyxops("migrate", "review", str(path), "--by", "bob", env=env)  # no --dir: the file's own folder
    assert result.code == 0, result.output
    assert (folder / "reviews.json").exists()
    assert "the guard blocks 0001_drop.sql (drop-table public.legacy)" in result.stderr


def test_verify_takes_the_migrations_folder(env, tmp_path: Path) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "0001_a.sql").write_text("SELECT 1;\n")
    result = nyxops("verify", "--only", "migrations", "--dir", str(folder), "--json", env=env)
    reason = json.loads(result.stdout)["checks"][0]["reason"]
    assert "0001_a.sql: unreviewed" in reason, reason
