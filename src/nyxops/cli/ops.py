"""``nyxops verify``, ``backfill`` and ``demo``: the operations side, thin commands over verify and embeddings/."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from nyxops.cli.base import PATH, app, dir_option, err, finish, out, run, settings_for, url_option
from nyxops.errors import UsageError


@app.command()
@url_option
@dir_option
@click.option("--only", multiple=True, help="run only this check (repeatable)")
@click.option("--wait", type=float, default=0, metavar="SECONDS", help="retry failing checks for up to SECONDS")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--junit", "junit_file", type=PATH, help="write a JUnit XML report")
@click.option("--checks", "checks_dir", type=PATH, help="folder of checks [default: checks/]")
def verify(
    database_url: str | None,
    directory: Path | None,
    only: tuple[str, ...],
    wait: float,
    as_json: bool,
    junit_file: Path | None,
    checks_dir: Path | None,
) -> None:
    """Prove a deploy worked: embeddings all there, nothing lost, providers answering end to end."""
    from nyxops.cli import render_ops
    from nyxops.names import scrub_secrets
    from nyxops.verify.runner import default_checks_dir, discover, run_checks, summary
    from nyxops.verify.session import session

    settings = settings_for(database_url, directory)

    def action() -> list:  # type: ignore[type-arg]
        modules = discover(checks_dir or default_checks_dir())
        with session(settings) as ctx:
            return run_checks(ctx, modules, list(only) or None, wait, on_round=render_ops.waiting(err()))

    results = run(action)
    if junit_file:
        junit_file.write_text(render_ops.junit(results))
    if as_json:
        report = {**summary(results), "checks": [asdict(r) for r in results]}
        print(scrub_secrets(json.dumps(report, indent=2, default=str)))
    else:
        render_ops.verify_table(results, out())
    finish(0 if all(r.status != "fail" for r in results) else 1)


@app.command()
@url_option
@click.option("--provider", type=click.Choice(["openai", "ollama"]), help="[default: the target's]")
@click.option("--model", help="embedding model [default: the target's]")
@click.option(
    "--batch-size",
    type=int,
    default=100,
    show_default=True,
    help="rows per request (at most; fewer when tokens run out)",
)
@click.option("--concurrency", type=int, default=4, show_default=True)
@click.option("--limit", type=int, help="embed at most N rows per target")
@click.option("--dry-run", is_flag=True, help="count what would be embedded, and the requests")
@click.option("--target", help="only the configured target of this name")
@click.option("--table", help="an ad hoc target: schema.table")
@click.option("--key", default="id", show_default=True, help="ad hoc: key column")
@click.option("--text-sql", help="ad hoc: SQL expression of the text")
@click.option("--column", default="embedding", show_default=True, help="ad hoc: embedding column")
@click.option("--dimension", type=int, default=1536, show_default=True, help="ad hoc: vector dimension")
@click.option("--json", "as_json", is_flag=True, help="machine-readable summary on standard output")
@click.option(
    "--rebuild-index/--keep-index",
    "rebuild_index",
    default=None,
    help="drop a vector index on the column for the fill and build it again CONCURRENTLY [default: for fills of "
    "a fifth of the table or more]",
)
@click.option(
    "--batch-api",
    is_flag=True,
    help="OpenAI's Batch API (half the price, done within 24 h): collect finished batches, submit the rest, exit; "
    "run it again later (cron) to collect",
)
def backfill(
    database_url: str | None,
    provider: str | None,
    model: str | None,
    batch_size: int,
    concurrency: int,
    limit: int | None,
    dry_run: bool,
    target: str | None,
    table: str | None,
    key: str,
    text_sql: str | None,
    column: str,
    dimension: int,
    as_json: bool,
    rebuild_index: bool | None,
    batch_api: bool,
) -> None:
    """Fill NULL embeddings: batched, concurrent, one write per batch, resumable, never twice."""
    from pydantic import ValidationError

    from nyxops.cli import render_ops
    from nyxops.config import EmbeddingTarget
    from nyxops.embeddings.backfill import Options
    from nyxops.embeddings.backfill import backfill as run_backfill

    settings = settings_for(database_url)

    def targets() -> list[EmbeddingTarget]:
        if table:
            if not text_sql:
                raise UsageError("--table needs --text-sql (the SQL expression giving each row's text)")
            try:
                ad_hoc = EmbeddingTarget(
                    name=table,
                    table=table,
                    key=key,
                    text_sql=text_sql,
                    column=column,
                    dimension=dimension,
                    provider="ollama" if provider == "ollama" else "openai",
                    model=model or ("text-embedding-3-small" if provider != "ollama" else "nomic-embed-text"),
                )
            except ValidationError as exc:
                problems = "; ".join(f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in exc.errors())
                raise UsageError(f"ad hoc target: {problems}") from None
            return [ad_hoc]
        chosen = [t for t in settings.embedding_targets if target in (None, t.name)]
        if not chosen:
            names = ", ".join(t.name for t in settings.embedding_targets)
            raise UsageError(f"no target named {target!r}; configured: {names}")
        return chosen

    def action() -> list:  # type: ignore[type-arg]
        options = Options(provider, model, batch_size, concurrency, limit, dry_run, rebuild_index)
        if batch_api:
            from nyxops.embeddings.batches import batch_step

            return batch_step(settings, targets(), options)
        with render_ops.BackfillProgress(out()) as progress:
            return run_backfill(settings, targets(), options, progress)

    summaries = run(action)
    if as_json:
        report = {"ok": all(s.ok for s in summaries), "targets": [render_ops.summary_dict(s) for s in summaries]}
        print(json.dumps(report, indent=2))
    elif batch_api:
        render_ops.batch_summary(summaries, out())
    else:
        render_ops.backfill_summary(summaries, out())
    finish(0 if all(s.ok for s in summaries) else 1)


@app.command()
@click.option("--keep", is_flag=True, help="leave the embedded server running and print its URL")
def demo(keep: bool) -> None:
    """The main job on an embedded PostgreSQL + pgvector: lint, dry run, apply, status, verify."""
    from nyxops.demo import run_demo

    run(lambda: run_demo(out(), keep=keep))
