"""The layouts teams already have: Prisma folders run as they are; others named, with the way over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import nyxops, scalar

PRISMA = {
    "20260101000000_add_notes": 'ALTER TABLE "Project" ADD COLUMN "notes" TEXT;\n',
    "20260102000000_index_notes": 'CREATE INDEX "Project_notes_idx" ON "Project"("notes");\n',
}


def _prisma(root: Path) -> Path:
    folder = root / "prisma" / "migrations"
    for name, sql_text in PRISMA.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "migration.sql").write_text("-- AlterTable\n" + sql_text)
    (folder / "migration_lock.toml").write_text('provider = "postgresql"\n')
    return folder


def test_a_prisma_migrations_folder_is_linted_reviewed_planned_and_applied(env, db_url, tmp_path: Path) -> None:
    folder = _prisma(tmp_path)
    assert nyxops("lint", str(folder)).code == 0
    run_env = {**env, "NYXOPS_MIGRATIONS_DIR": str(folder)}
    unreviewed = nyxops("migrate", "apply", env=run_env)
    assert unreviewed.code != 0 and "20260101000000_add_notes/migration.sql is not reviewed" in unreviewed.stderr
    first = folder / "20260101000000_add_notes" / "migration.sql"
    review = nyxops("migrate", "review", str(first), str(folder / "20260102000000_index_notes" / "migration.sql"),
                    "--by", "alice", env=env)  # fmt: skip
    assert review.code == 0, review.output  # the folder is inferred from the file
    assert json.loads((folder / "reviews.json").read_text())["files"].keys() == {
        "20260101000000_add_notes/migration.sql",
        "20260102000000_index_notes/migration.sql",
    }
    plan = nyxops("migrate", "plan", env=run_env)
    assert plan.code == 0 and "plan ok" in plan.stdout, plan.output
    applied = nyxops("migrate", "apply", env=run_env)
    assert applied.code == 0, applied.output
    assert scalar(db_url, "SELECT count(*) FROM nyxops.schema_migrations WHERE name LIKE '2026%/migration.sql'") == 2
    assert scalar(db_url, "SELECT to_regclass('\"Project_notes_idx\"') IS NOT NULL") is True
    status = nyxops("migrate", "status", "--json", env=run_env)
    assert [s["state"] for s in json.loads(status.stdout)] == ["applied", "applied"]


def test_prisma_diff_output_piped_into_lint(tmp_path: Path) -> None:
    import subprocess
    import sys

    diff = '-- AlterTable\nALTER TABLE "workflow_insights" DROP COLUMN "embedding",\nADD COLUMN "embedding" vector(1536);\n'
    done = subprocess.run([sys.executable, "-m", "nyxops", "lint", "-"], input=diff, capture_output=True, text=True)
    assert done.returncode == 1 and "public.workflow_insights.embedding" in done.stdout


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "holds no migration: the folder is empty"),
        ({"README.md": "x"}, "found README.md, but no NNNN_slug.sql file"),
        ({"000001_init.up.sql": "SELECT 1;", "000001_init.down.sql": "SELECT 1;"}, "laid out for golang-migrate"),
        ({"V1__init.sql": "SELECT 1;", "V2__more.sql": "SELECT 1;"}, "laid out for Flyway (V1__name.sql: 2 files"),
    ],
)
def test_a_folder_without_migrations_is_not_up_to_date(
    env, tmp_path: Path, files: dict[str, str], message: str
) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    for command in (("migrate", "status"), ("migrate", "apply"), ("migrate", "plan")):
        result = nyxops(*command, "--dir", str(folder), env=env)
        assert result.code == 2 and message in result.stderr, (command, result.output)
