"""``nyxops lint`` as CI and people use it: formats, exit codes, explanations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, nyxops

PRISMA = 'ALTER TABLE "workflow_insights" DROP COLUMN "embedding",\nADD COLUMN "embedding" vector(1536);\n'


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "clean": tmp_path / "clean.sql",
        "bad": tmp_path / "sub" / "bad.sql",
        "broken": tmp_path / "broken.sql",
    }
    paths["bad"].parent.mkdir()
    paths["clean"].write_text("CREATE TABLE t (id int);\n")
    paths["bad"].write_text("SELECT 1;\n" + PRISMA)
    paths["broken"].write_text("CREATE TABLE (;\n")
    return paths


def test_clean_file_exits_0(files) -> None:
    result = nyxops("lint", str(files["clean"]))
    assert result.code == 0 and "0 blocking" in result.stdout


def test_text_points_at_the_offending_part(files) -> None:
    result = nyxops("lint", str(files["bad"]))
    assert result.code == 1
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "[drop-column]" in line)
    assert lines[header].startswith(f"{files['bad']}:2:13: error [drop-column] public.workflow_insights.embedding")
    assert lines[header + 1].strip() == '2 | ALTER TABLE "workflow_insights" DROP COLUMN "embedding",'
    caret = lines[header + 2]
    assert caret.index("^") - caret.index("|") - 2 == 12  # under column 13
    assert "help:" in result.stdout


def test_folder_is_searched_and_json_format(files) -> None:
    result = nyxops("lint", "--format", "json", str(files["clean"].parent))
    data = json.loads(result.stdout)
    assert result.code == 2  # the broken file is a parse error
    by_name = {Path(f["path"]).name: f for f in data["files"]}
    assert by_name["bad.sql"]["findings"][0]["rule"] == "drop-column"
    assert by_name["broken.sql"]["error"].startswith(f"{files['broken']}:1:14: syntax error")
    assert by_name["clean.sql"]["findings"] == []


def test_github_annotations(files) -> None:
    result = nyxops("lint", "-f", "github", str(files["bad"]))
    assert result.code == 1
    assert result.stdout.startswith(f"::error file={files['bad']},line=2,col=13,title=drop-column::")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert nyxops("lint", str(tmp_path / "missing.sql")).code == 2
    assert nyxops("lint").code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no .sql files" in nyxops("lint", str(empty)).stderr


def test_explain() -> None:
    result = nyxops("lint", "--explain", "drop-column")
    assert result.code == 0 and "Instead:" in result.stdout and "DROP COLUMN embedding" in result.stdout
    assert nyxops("lint", "--explain", "nope").code == 2


def test_repository_migrations_lint_clean() -> None:
    assert nyxops("lint", str(REPO / "migrations")).code == 0


def test_bad_configuration_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "nyxops.toml").write_text('lock_timeout = 5\nprotected_columns = ["just_a_name"]\n')
    result = nyxops("lint", str(REPO / "migrations"), cwd=tmp_path)
    assert result.code == 2
    assert "protected_columns" in result.stderr and "not schema.table.column or table.column" in result.stderr


def _unconfigured_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("NYXOPS_")}


ALLOWED_DROPS = """-- nyxops:allow drop-column public.workflow_insights.embedding
ALTER TABLE workflow_insights DROP COLUMN embedding;
-- nyxops:allow drop-column public.legacy.flag
ALTER TABLE legacy DROP COLUMN flag;
"""


@pytest.mark.parametrize(
    ("configure", "refused"),
    [
        ({}, "public.workflow_insights.embedding"),
        ({"nyxops_protected_columns": '["public.legacy.flag"]'}, "public.legacy.flag"),
        ({"toml": 'protected_columns = ["legacy.flag"]\n'}, "public.legacy.flag"),
    ],
    ids=["defaults", "lower-case variable", "nyxops.toml"],
)
def test_lint_protects_the_configured_columns(tmp_path: Path, configure: dict[str, str], refused: str) -> None:
    """With nothing configured lint skips the settings model; it must still protect what the settings say."""
    (tmp_path / "drops.sql").write_text(ALLOWED_DROPS)
    env = _unconfigured_env()
    if "toml" in configure:
        (tmp_path / "nyxops.toml").write_text(configure.pop("toml"))
    env.update(configure)
    proc = subprocess.run([sys.executable, "-m", "nyxops", "lint", "-f", "json", "drops.sql"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)  # fmt: skip
    findings = json.loads(proc.stdout)["files"][0]["findings"]
    assert [f["object"] for f in findings if f["blocking"]] == [refused], proc.stderr
    assert proc.returncode == 1


def test_lint_for_ci_imports_no_settings_model_and_no_rich(tmp_path: Path) -> None:
    """The JSON and GitHub formats run in CI on every push: they pay for the parser, not for pydantic or rich."""
    (tmp_path / "bad.sql").write_text(PRISMA)
    heavy = ("pydantic", "pydantic_settings", "rich", "typer", "psycopg")
    script = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print('loaded:', [m for m in {heavy!r} if m in sys.modules], file=sys.stderr))\n"
        "sys.argv = ['nyxops', 'lint', '--format', sys.argv[1], 'bad.sql']\n"
        "from nyxops.cli import main\n"
        "main()\n"
    )
    for fmt in ("json", "github"):
        proc = subprocess.run([sys.executable, "-c", script, fmt], env=_unconfigured_env(), cwd=tmp_path,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)  # fmt: skip
        assert proc.returncode == 1 and "drop-column" in proc.stdout
        assert "loaded: []" in proc.stderr, proc.stderr


def test_demo_runs_the_main_job_end_to_end() -> None:
    """The README's first command: its own embedded server, lint, plan, apply, status, verify, the incident."""
    result = nyxops("demo", env={"COLUMNS": "160"}, timeout=300)
    assert result.code == 0, result.output[-3000:]
    for marker in ("0 blocking", "plan ok; everything was rolled back", "0003_project_syncs_rls.sql", "all checks pass",
                   "static guard: drop-column public.workflow_insights.embedding", "refused: nyxops protect",
                   "embeddings still present: 382", "a write to each of 3 embedding tables lands"):  # fmt: skip
        assert marker in result.stdout, marker
    [rule] = [line for line in result.stdout.splitlines() if "3. nyxops migrate apply" in line]
    assert len(rule) <= 100, rule  # a section's rule, not a line the console's width


def test_demo_keep_leaves_the_server_running_and_says_how_to_go_on() -> None:
    import re

    import psycopg

    result = nyxops("demo", "--keep", env={"COLUMNS": "200"}, timeout=300)
    assert result.code == 0, result.output[-3000:]
    assert "nyxops migrate plan --dir path/to/migrations/" in result.stdout.splitlines()[-4]
    url = re.search(r"export DATABASE_URL='([^']+)'", result.stdout)
    assert url, result.stdout[-1500:]
    with psycopg.connect(url.group(1)) as conn:  # the demo's process is gone; its server is not
        assert conn.execute("SELECT count(embedding) FROM workflow_insights").fetchone() == (382,)
        data = conn.execute("SHOW data_directory").fetchone()[0]
    import pgserver

    pgserver.get_server(data, cleanup_mode="stop").cleanup()


def test_apply_progress_draws_on_a_terminal_only_and_ends_full() -> None:
    """The bar moves every few statements (not on each of 10,000) and still ends at the total; on a
    console that is no terminal (a deploy's child, CI) no live display or refresh thread starts."""
    import io
    import threading
    from types import SimpleNamespace

    from rich.console import Console

    from nyxops.cli.render import ApplyProgress

    pf = SimpleNamespace(file=SimpleNamespace(name="0001_x.sql"), statements=[object()] * 123)
    terminal = Console(file=io.StringIO(), force_terminal=True, width=100)
    with ApplyProgress(terminal) as progress:
        for index in range(len(pf.statements)):
            progress.statement(pf, SimpleNamespace(index=index))  # type: ignore[arg-type]
        task = progress.progress.tasks[0]
        assert (task.completed, task.total) == (123, 123)
    assert "0001_x.sql" in terminal.file.getvalue()

    before = threading.active_count()
    plain = Console(file=io.StringIO(), force_terminal=False)
    with ApplyProgress(plain) as progress:
        assert threading.active_count() == before
        for index in range(len(pf.statements)):
            progress.statement(pf, SimpleNamespace(index=index))  # type: ignore[arg-type]
        assert not progress.progress.tasks
    assert plain.file.getvalue() == ""
