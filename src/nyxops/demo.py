"""``nyxops demo``: the main job on an embedded PostgreSQL 16 + pgvector, seeded like production.

It starts a throwaway server (the ``pgserver`` package), loads the nyxcore-shaped fixture (382
workflow insights with embeddings), then runs what an operator runs on a deploy: lint, dry run,
apply, status and the database checks of verify, all through the same functions as the CLI.
"""

from __future__ import annotations

import os

import psycopg
from rich.console import Console
from rich.rule import Rule

from nyxops.cli import render, render_lint, render_ops
from nyxops.config import load_settings
from nyxops.embedded import embedded_postgres, load_fixture
from nyxops.guard.lint import lint
from nyxops.guard.policy import Policy
from nyxops.migrate.apply import apply
from nyxops.migrate.plan import plan
from nyxops.migrate.status import status
from nyxops.names import with_database
from nyxops.verify import Context
from nyxops.verify.runner import default_checks_dir, discover, run_checks


def _section(console: Console, title: str) -> None:
    """A titled rule at most 100 columns wide: in a pipe the console is 400 (tables keep full names)."""
    console.print(Rule(title), width=min(console.width, 100))


def run_demo(console: Console, *, keep: bool = False) -> None:
    with embedded_postgres("nyxdemo-", keep=keep) as admin_url:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS nyxcore")
            conn.execute("CREATE DATABASE nyxcore")
        url = with_database(admin_url, "nyxcore")
        load_fixture(url)
        os.environ.pop("NYXOPS_HOST", None)
        settings = load_settings(database_url=url)
        migrations = settings.migrations_dir
        _section(console, "1. nyxops lint migrations/  (static guard, no database)")
        report = lint([migrations], Policy.from_names(settings.protected_columns))
        render_lint.lint_text(report, console)
        _section(console, "2. nyxops migrate plan  (runs for real, rolled back)")
        render.plan_report(plan(settings), console)
        _section(console, "3. nyxops migrate apply")
        runs = apply(settings)
        for r in runs:
            console.print(f"applied {r.name}: {len(r.statements)} statement(s) in {r.ms:.0f} ms")
        if runs:
            render.census_table(runs[0].before, runs[-1].after, console, "census: nothing lost")
        _section(console, "4. nyxops migrate status")
        render.status_table(status(settings), console)
        _section(console, "5. nyxops protect install, then nyxops verify --only schema,embeddings,writes,migrations")
        from nyxops.db import connect
        from nyxops.guard.runtime import protect_install

        with connect(url, "nyxops demo") as conn:
            protect_install(conn, settings.protected)
        ctx = Context(settings, url, settings.ollama_base_url, None)
        results = run_checks(ctx, discover(default_checks_dir()), ["schema", "embeddings", "writes", "migrations"])
        render_ops.verify_table(results, console)
        _incident(console, url, settings.protected_columns)
        _section(console, "now on your own folder")
        if keep:
            console.print(f"server left running: export DATABASE_URL='{url}'")
        else:
            console.print(
                "the demo's server is gone (nyxops demo --keep leaves it running); point DATABASE_URL at yours"
            )
        for line in (
            "nyxops lint path/to/migrations/                        # no database needed",
            "nyxops migrate plan --dir path/to/migrations/          # runs for real, rolled back",
            "nyxops migrate review path/to/migrations/0001_x.sql --by <you>",
            "nyxops migrate apply --dir path/to/migrations/",
            "nyxops verify",
        ):
            console.print(f"  {line}", highlight=False)


PRISMA_DROP = 'ALTER TABLE "workflow_insights" DROP COLUMN "embedding",\nADD COLUMN "embedding" vector(1536);\n'


def _incident(console: Console, url: str, protected: list[str]) -> None:
    """The production incident, replayed: the drop prisma db push sent, against both guard layers."""
    from nyxops.guard.check import check
    from nyxops.sql import parse

    _section(console, "6. the incident: prisma db push drops workflow_insights.embedding")
    for finding in check(parse(PRISMA_DROP, "prisma-push.sql"), Policy.from_names(protected)):
        console.print(f"static guard: [bold red]{finding.rule}[/] {finding.object}: {finding.message}")
    with psycopg.connect(url, application_name="prisma-db-push") as conn:
        try:
            conn.execute(PRISMA_DROP.encode())
        except psycopg.errors.RaiseException as exc:
            console.print(f"another client, protect installed: [bold red]refused[/]: {exc.diag.message_primary}")
            console.print(f"  hint: {exc.diag.message_hint}")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(embedding) FROM workflow_insights").fetchone()
    console.print(f"embeddings still present: [green]{row[0] if row else 0}[/]")
