"""``nyxops backfill --batch-api``: OpenAI's Files and Batches API (the fake speaks it), real PostgreSQL.

One run collects and submits, then exits; the test decides when the fake's batches finish. Every
step is killed somewhere (SIGKILL) and run again: no row is paid for twice, none is written twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

from nyxops.config import load_settings
from nyxops.embeddings.backfill import Options
from nyxops.embeddings.batches import step
from nyxops.providers.openai_batch import Limits
from tests.fakes import FakeOpenAI, vector_for
from tests.helpers import REPO, nyxops, scalar
from tests.test_backfill import _null_out, _provider_env, _stored

NULLS = "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL"
ARGS = ("backfill", "--batch-api", "--target", "workflow_insights")


def _count_writes(db_url: str, sleep: float = 0.0) -> None:
    """Every write of an embedding, per row (and, with ``sleep``, each UPDATE made slow enough to kill in)."""
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE TABLE embedding_writes (id text)")
        conn.execute("""CREATE FUNCTION count_write() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO embedding_writes (id) VALUES (NEW.id); RETURN NEW; END $$""")
        conn.execute("CREATE TRIGGER count_write AFTER UPDATE OF embedding ON workflow_insights"
                     " FOR EACH ROW EXECUTE FUNCTION count_write()")  # fmt: skip
        if sleep:
            conn.execute(f"""CREATE FUNCTION slow_write() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_sleep({sleep}); RETURN NULL; END $$""")
            conn.execute("CREATE TRIGGER slow_write AFTER UPDATE ON workflow_insights"
                         " FOR EACH STATEMENT EXECUTE FUNCTION slow_write()")  # fmt: skip


def _written_once(db_url: str, rows: int) -> None:
    assert scalar(db_url, "SELECT count(*) FROM embedding_writes") == rows
    assert (
        scalar(db_url, "SELECT count(*) FROM (SELECT id FROM embedding_writes GROUP BY id HAVING count(*) > 1) d") == 0
    )


def _vectors_right(db_url: str, rows: int) -> None:
    stored = _stored(db_url)
    assert len(stored) == rows
    for text, vec in stored.items():
        np.testing.assert_allclose(vec, vector_for(text), rtol=1e-6)


def _states(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute("SELECT state FROM nyxops.embedding_batches ORDER BY created_at")]


def test_submit_then_collect_in_later_runs(env, db_url) -> None:
    _null_out(db_url, 1719)
    _count_writes(db_url)
    with FakeOpenAI() as openai:
        run_env = _provider_env(env, openai)
        first = nyxops(*ARGS, env=run_env)
        assert first.code == 0, first.output
        assert "run `nyxops backfill --batch-api` again later" in first.stdout
        assert scalar(db_url, NULLS) == 1719  # nothing written yet: the batch is open at OpenAI
        assert _states(db_url) == ["submitted"]
        assert len(openai.batch_api.open) == 1
        assert sum(openai.batch_api.submitted_inputs.values()) == 1719

        second = nyxops(*ARGS, "--json", env=run_env)  # still in progress: nothing collected, nothing sent again
        assert second.code == 0, second.output
        report = json.loads(second.stdout)["targets"][0]
        assert report["open_batches"] == 1 and report["submitted_rows"] == 0 and report["embedded"] == 0
        assert sum(openai.batch_api.submitted_inputs.values()) == 1719

        openai.batch_api.finish()
        third = nyxops(*ARGS, "--json", env=run_env)
        assert third.code == 0, third.output
        report = json.loads(third.stdout)["targets"][0]
        assert report["collected_batches"] == 1 and report["embedded"] == 1719 and report["open_batches"] == 0
        assert max(openai.batch_api.submitted_inputs.values()) == 1  # every text paid for once
        assert "sk-test-not-a-real-key" not in first.output + second.output + third.output
    assert scalar(db_url, NULLS) == 0
    _vectors_right(db_url, 1719)
    _written_once(db_url, 1719)
    assert _states(db_url) == ["written"]
    assert openai.record.paths["/v1/embeddings"] == 0  # nothing went through the live path


def test_answers_a_silenced_table_swallowed_are_written_by_the_next_run_unpaid(env, db_url) -> None:
    """A rule makes every write to the table do nothing (UPDATE 0, no error): the collecting run
    stops loudly with the batch left collectable, and once the rule is gone the next run writes
    the same answers, with no text sent to OpenAI twice."""
    _null_out(db_url, 50)
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE RULE keep AS ON UPDATE TO workflow_insights DO INSTEAD NOTHING")
    with FakeOpenAI() as openai:
        run_env = _provider_env(env, openai)
        assert nyxops(*ARGS, env=run_env).code == 0
        openai.batch_api.finish()
        stopped = nyxops(*ARGS, env=run_env)
        said = " ".join(stopped.stderr.split())
        assert stopped.code == 1, stopped.output
        assert "wrote 0 of 50 rows, and 50 of them are still NULL: something makes writes to" in said, said
        assert "The batch stays collectable" in said
        assert scalar(db_url, NULLS) == 50 and _states(db_url) == ["submitted"]
        with psycopg.connect(db_url) as conn:
            conn.execute("DROP RULE keep ON workflow_insights")
        done = nyxops(*ARGS, env=run_env)
        assert done.code == 0, done.output
        assert max(openai.batch_api.submitted_inputs.values()) == 1
    assert scalar(db_url, NULLS) == 0 and _states(db_url) == ["written"]
    _vectors_right(db_url, 50)


def test_request_files_stay_within_the_apis_limits(env, db_url) -> None:
    """Small limits stand for the API's (50,000 inputs, 50,000 requests, 200 MB); the fake enforces the bytes."""
    _null_out(db_url, 1000)
    limits = Limits(inputs=300, requests=4, file_bytes=40_000)
    with FakeOpenAI() as openai:
        openai.batch_api.faults.max_file_bytes = 40_000
        settings = load_settings(openai_api_key="sk-test", openai_base_url=openai.url + "/v1")
        [target] = [t for t in settings.embedding_targets if t.name == "workflow_insights"]
        summary = step(settings, target, Options(batch_size=90), limits)
        assert summary.submitted_rows == 1000
        files = [openai.batch_api.contents[b["input_file_id"]] for b in openai.batch_api.batches.values()]
        assert len(files) == summary.submitted_batches >= 4
        for content in files:
            lines = [json.loads(line) for line in content.splitlines()]
            assert len(content) <= 40_000 and len(lines) <= 4
            assert sum(len(line["body"]["input"]) for line in lines) <= 300
            assert all(len(line["body"]["input"]) <= 90 for line in lines)
        assert openai.batch_api.finish() == len(files)
        collected = step(settings, target, Options(batch_size=90), limits)
        assert collected.embedded == 1000 and collected.collected_batches == len(files)
    assert scalar(db_url, NULLS) == 0


def test_failed_requests_and_an_expired_batch_go_back_to_the_pool(env, db_url) -> None:
    _null_out(db_url, 400)
    with FakeOpenAI() as openai:
        run_env = _provider_env(env, openai)
        assert nyxops(*ARGS, "--batch-size", "50", env=run_env).code == 0
        openai.batch_api.faults.failed_lines = {1, 3}
        openai.batch_api.finish()
        result = nyxops(*ARGS, "--batch-size", "50", "--json", env=run_env)
        report = json.loads(result.stdout)["targets"][0]
        assert report["failed_requests"] == 2 and report["embedded"] == 300
        assert report["submitted_rows"] == 100  # the failed requests' rows, submitted again at once
        openai.batch_api.faults.failed_lines = set()
        openai.batch_api.faults.expire = True
        openai.batch_api.finish()
        expired = nyxops(*ARGS, "--batch-size", "50", env=run_env)
        assert expired.code == 1  # an expired batch is reported; its unanswered rows are sent again
        assert "expired" in expired.stdout
        openai.batch_api.faults.expire = False
        openai.batch_api.finish()
        done = nyxops(*ARGS, "--batch-size", "50", env=run_env)
        assert done.code == 0, done.output
    assert scalar(db_url, NULLS) == 0
    _vectors_right(db_url, 400)
    assert _states(db_url) == ["written", "expired", "written"]


def _run_and_kill(env: dict[str, str], when: object, *args: str) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "nyxops", *ARGS, *args], env={**os.environ, **env}, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while not when() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before the point it was to be killed at"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_killed_during_the_upload_the_rows_are_sent_again_once(env, db_url) -> None:
    _null_out(db_url, 500)
    with FakeOpenAI() as openai:
        run_env = _provider_env(env, openai)
        openai.batch_api.faults.hold = "upload"
        _run_and_kill(run_env, lambda: openai.record.paths["/v1/files"] > 0)
        assert _states(db_url) == ["prepared"]
        openai.batch_api.faults.hold = None
        again = nyxops(*ARGS, env=run_env)
        assert again.code == 0, again.output
        assert "never reached OpenAI; its rows are submitted again" in again.stderr
        assert len(openai.batch_api.batches) == 1
        assert max(openai.batch_api.submitted_inputs.values()) == 1
        openai.batch_api.finish()
        assert nyxops(*ARGS, env=run_env).code == 0
    assert scalar(db_url, NULLS) == 0
    _vectors_right(db_url, 500)


def test_killed_before_the_batch_id_was_recorded_the_batch_is_found_not_paid_twice(env, db_url) -> None:
    _null_out(db_url, 500)
    with FakeOpenAI() as openai:
        run_env = _provider_env(env, openai)
        openai.batch_api.faults.hold = "create"
        _run_and_kill(run_env, lambda: len(openai.batch_api.batches) > 0)
        assert _states(db_url) == ["prepared"]  # the file id is recorded, the batch id is not
        openai.batch_api.faults.hold = None
        again = nyxops(*ARGS, env=run_env)
        assert again.code == 0, again.output
        assert len(openai.batch_api.batches) == 1  # found by its metadata, not created again
        assert max(openai.batch_api.submitted_inputs.values()) == 1
        assert _states(db_url) == ["submitted"]
        openai.batch_api.finish()
        assert nyxops(*ARGS, env=run_env).code == 0
    assert scalar(db_url, NULLS) == 0
    _vectors_right(db_url, 500)


def test_killed_while_writing_the_results_the_next_run_writes_the_rest_once(env, db_url) -> None:
    _null_out(db_url, 1719)
    _count_writes(db_url, sleep=0.15)
    with FakeOpenAI() as openai:
        run_env = _provider_env(env, openai)
        assert nyxops(*ARGS, "--batch-size", "50", env=run_env).code == 0
        openai.batch_api.finish()
        _run_and_kill(run_env, lambda: scalar(db_url, "SELECT count(*) FROM embedding_writes") >= 400,
                      "--batch-size", "50")  # fmt: skip
        time.sleep(0.5)
        written_before = scalar(db_url, "SELECT count(*) FROM embedding_writes")
        assert 400 <= written_before < 1719
        assert _states(db_url) == ["submitted"]  # marked written only after every request was
        again = nyxops(*ARGS, "--batch-size", "50", env=run_env)
        assert again.code == 0, again.output
        assert len(openai.batch_api.batches) == 1 and max(openai.batch_api.submitted_inputs.values()) == 1
    _written_once(db_url, 1719)
    _vectors_right(db_url, 1719)
    assert _states(db_url) == ["written"]


def test_a_batch_refused_at_creation_is_created_by_a_later_run(env, db_url) -> None:
    _null_out(db_url, 300)
    with FakeOpenAI() as openai:
        run_env = _provider_env(env, openai)
        openai.batch_api.faults.refuse_create = "Enqueued token limit reached for text-embedding-3-small"
        refused = nyxops(*ARGS, env=run_env)
        assert refused.code == 1
        assert "Enqueued token limit reached" in refused.stdout and "a later run goes on" in refused.stdout
        assert _states(db_url) == ["prepared"] and not openai.batch_api.batches
        openai.batch_api.faults.refuse_create = None
        later = nyxops(*ARGS, env=run_env)
        assert later.code == 0, later.output
        assert _states(db_url) == ["submitted"] and len(openai.batch_api.batches) == 1
        assert len(openai.batch_api.files) == 1  # the file uploaded before is used, not uploaded again
        openai.batch_api.finish()
        assert nyxops(*ARGS, env=run_env).code == 0
    assert scalar(db_url, NULLS) == 0


def test_two_runs_at_once_the_second_refuses(env, db_url) -> None:
    _null_out(db_url, 200)
    with FakeOpenAI() as openai, psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('nyxops backfill --batch-api workflow_insights'))")
        result = nyxops(*ARGS, env=_provider_env(env, openai))
        assert result.code == 2
        assert "another backfill --batch-api of workflow_insights is running" in result.stderr
        assert not openai.batch_api.batches


def test_dry_run_and_usage(env, db_url) -> None:
    _null_out(db_url, 120)
    with FakeOpenAI() as openai:
        dry = nyxops(*ARGS, "--dry-run", "--json", env=_provider_env(env, openai))
        assert dry.code == 0, dry.output
        report = json.loads(dry.stdout)["targets"][0]
        assert report["would_submit_rows"] == 120 and report["would_request"] == 2  # 100 rows a request at most
        assert not openai.batch_api.batches and not openai.batch_api.files
        ollama = nyxops(*ARGS, "--provider", "ollama", "--model", "m", env=_provider_env(env, openai))
        assert ollama.code == 2 and "--batch-api is OpenAI's Batch API" in ollama.stderr


def test_request_files_split_at_the_request_limit(tmp_path: Path) -> None:
    import tempfile

    from nyxops.providers.limits import Packed
    from nyxops.providers.openai_batch import request_files

    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    files = list(request_files(iter([Packed(["a"], ["x" * 10], 1)] * 5), "m", folder, Limits(requests=2)))
    assert [len(f.keys) for f in files] == [2, 2, 1]
    assert all(f.path.stat().st_size == f.bytes for f in files)


@pytest.mark.parametrize(
    ("key_type", "key_sql"),
    [
        ("uuid", "md5(i::text)::uuid"),  # no min()/max() for uuid in PostgreSQL: the ranges must not need them
        ('text COLLATE "C"', "chr(65 + i % 26) || lower(chr(65 + i % 26)) || i"),  # upper before lower in C
        ("bigint", "(i * 7919) % 10007 - 5000"),
    ],
)
def test_any_orderable_key_through_the_batch_api(env, db_url, key_type: str, key_sql: str) -> None:
    """Open submissions are key ranges in the database's own order: rows inside one are not sent again."""
    with psycopg.connect(db_url) as conn:
        conn.execute(f"CREATE TABLE notes (id {key_type} PRIMARY KEY, body text NOT NULL, embedding vector(1536))")
        conn.execute(f"INSERT INTO notes SELECT {key_sql}, 'note ' || i FROM generate_series(1, 700) AS i")
    ad_hoc = ("backfill", "--batch-api", "--table", "public.notes", "--text-sql", "body", "--batch-size", "64")
    with FakeOpenAI() as openai:
        run_env = _provider_env(env, openai)
        assert nyxops(*ad_hoc, "--limit", "300", env=run_env).code == 0
        rest = nyxops(*ad_hoc, env=run_env)  # the first 300 are in an open batch: only the other 400 go
        assert rest.code == 0, rest.output
        assert sum(openai.batch_api.submitted_inputs.values()) == 700
        assert max(openai.batch_api.submitted_inputs.values()) == 1
        openai.batch_api.finish()
        assert nyxops(*ad_hoc, env=run_env).code == 0
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT body, embedding::text FROM notes").fetchall()
    assert all(vec is not None for _, vec in rows), "a row was left NULL"
    for body, vec in rows:
        np.testing.assert_allclose(np.array(vec[1:-1].split(","), dtype=np.float32), vector_for(body), rtol=1e-6)
