"""``nyxops verify``, ``backfill`` and ``demo``: registered on the same app as the migration commands."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from nyxops.cli import UrlOption, app, err, out, run, settings_for
from nyxops.config import EmbeddingTarget
from nyxops.errors import UsageError


@app.command()
def verify(
    database_url: UrlOption = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="run only this check (repeatable)")] = None,
    wait: Annotated[float, typer.Option("--wait", help="retry failing checks for up to SECONDS")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    junit_file: Annotated[Path | None, typer.Option("--junit", help="write a JUnit XML report")] = None,
    checks_dir: Annotated[Path | None, typer.Option("--checks", help="folder of checks [default: checks/]")] = None,
) -> None:
    """Prove a deploy worked: embeddings all there, nothing lost, providers answering end to end."""
    from nyxops import render_ops
    from nyxops.verify import default_checks_dir, discover, junit, run_checks
    from nyxops.verify_session import session

    settings = settings_for(database_url)

    def action() -> list:  # type: ignore[type-arg]
        modules = discover(checks_dir or default_checks_dir())
        with session(settings) as ctx:
            return run_checks(ctx, modules, only, wait, on_round=render_ops.waiting(err))

    results = run(action)
    if junit_file:
        junit_file.write_text(junit(results))
    if as_json:
        print(json.dumps([asdict(r) for r in results], indent=2, default=str))
    else:
        render_ops.verify_table(results, out)
    raise typer.Exit(0 if all(r.status != "fail" for r in results) else 1)


@app.command()
def backfill(
    database_url: UrlOption = None,
    provider: Annotated[str | None, typer.Option(help="openai or ollama [default: the target's]")] = None,
    model: Annotated[str | None, typer.Option(help="embedding model [default: the target's]")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 100,
    concurrency: Annotated[int, typer.Option("--concurrency")] = 4,
    limit: Annotated[int | None, typer.Option("--limit", help="embed at most N rows per target")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would be embedded, and the requests")] = False,
    target: Annotated[str | None, typer.Option("--target", help="only the configured target of this name")] = None,
    table: Annotated[str | None, typer.Option("--table", help="an ad hoc target: schema.table")] = None,
    key: Annotated[str, typer.Option("--key", help="ad hoc: key column")] = "id",
    text_sql: Annotated[str | None, typer.Option("--text-sql", help="ad hoc: SQL expression of the text")] = None,
    column: Annotated[str, typer.Option("--column", help="ad hoc: embedding column")] = "embedding",
    dimension: Annotated[int, typer.Option("--dimension", help="ad hoc: vector dimension")] = 1536,
) -> None:
    """Fill NULL embeddings: batched, concurrent, one write per batch, resumable, never twice."""
    from nyxops import render_ops
    from nyxops.backfill import Options
    from nyxops.backfill import backfill as run_backfill

    settings = settings_for(database_url)

    def targets() -> list[EmbeddingTarget]:
        if table:
            if not text_sql:
                raise UsageError("--table needs --text-sql (the SQL expression giving each row's text)")
            return [
                EmbeddingTarget(
                    name=table,
                    table=table,
                    key=key,
                    text_sql=text_sql,
                    column=column,
                    dimension=dimension,
                    provider="ollama" if provider == "ollama" else "openai",
                    model=model or ("text-embedding-3-small" if provider != "ollama" else "nomic-embed-text"),
                )
            ]
        chosen = [t for t in settings.embedding_targets if target in (None, t.name)]
        if not chosen:
            names = ", ".join(t.name for t in settings.embedding_targets)
            raise UsageError(f"no target named {target!r}; configured: {names}")
        return chosen

    def action() -> list:  # type: ignore[type-arg]
        options = Options(provider, model, batch_size, concurrency, limit, dry_run)
        with render_ops.BackfillProgress(out) as progress:
            return run_backfill(settings, targets(), options, progress)

    summaries = run(action)
    render_ops.backfill_summary(summaries, out)
    raise typer.Exit(0 if all(s.ok for s in summaries) else 1)


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="leave the embedded server running and print its URL")] = False,
) -> None:
    """The main job on an embedded PostgreSQL + pgvector: lint, dry run, apply, status, verify."""
    from nyxops.demo import run_demo

    run(lambda: run_demo(out, keep=keep))
