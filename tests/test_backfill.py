"""``nyxops backfill`` against real PostgreSQL and the providers' HTTP APIs through the official clients."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import psycopg
import pytest

from nyxops.embeddings.vectors import VectorArray, register
from tests.fakes import FakeOllama, FakeOpenAI, Faults, OllamaModelSpec, vector_for
from tests.helpers import REPO, nyxops, scalar

TEXT = "coalesce(title, '') || E'\\n\\n' || coalesce(content, '')"


def _null_out(db_url: str, count: int = 1719, table: str = "workflow_insights") -> None:
    """The incident: rows whose embedding writes failed silently (new ones, beside the 382 intact)."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO workflow_insights (id, project_id, title, content, created_at)"
            " SELECT 'wi_n' || lpad(i::text, 5, '0'), 'proj_1', 'Lost insight ' || i,"
            " 'Content of lost insight ' || i, '2026-04-01'::timestamptz + i * interval '1 minute'"
            " FROM generate_series(1, %s) AS i",
            (count,),
        )


def _provider_env(env: dict[str, str], openai: FakeOpenAI) -> dict[str, str]:
    return {**env, "OPENAI_API_KEY": "sk-test-not-a-real-key", "OPENAI_BASE_URL": openai.url + "/v1",
            "NYXOPS_OPENAI_MAX_RETRIES": "8"}  # fmt: skip


def _stored(db_url: str) -> dict[str, np.ndarray]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            f"SELECT id, {TEXT}, embedding::text FROM workflow_insights WHERE id LIKE 'wi_n%%' AND embedding IS NOT NULL"
        ).fetchall()
    return {r[1]: np.array(r[2][1:-1].split(","), dtype=np.float32) for r in rows}


def test_incident_1719_nulls_filled_through_500s_and_429s(env, db_url) -> None:
    _null_out(db_url)
    original = scalar(db_url, "SELECT md5(string_agg(embedding::text, ',' ORDER BY id)) FROM workflow_insights"
                              " WHERE id NOT LIKE 'wi_n%%'")  # fmt: skip
    faults = Faults(rate_500=0.15, rate_429=0.10, retry_after=0.01)
    with FakeOpenAI(faults) as openai:
        result = nyxops(
            "backfill", "--target", "workflow_insights", "--batch-size", "50", env=_provider_env(env, openai)
        )
        assert result.code == 0, result.output
        assert openai.record.faults["500"] > 0 and openai.record.faults["429"] > 0
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL") == 0
    stored = _stored(db_url)
    assert len(stored) == 1719
    for text, vec in stored.items():
        np.testing.assert_allclose(vec, vector_for(text), rtol=1e-6)
    assert scalar(db_url, "SELECT md5(string_agg(embedding::text, ',' ORDER BY id)) FROM workflow_insights"
                          " WHERE id NOT LIKE 'wi_n%%'") == original  # fmt: skip
    assert "committed, 50 rows written" in result.stderr  # a log line per batch
    assert "waiting for the provider, retry 1 of 8" in result.stderr  # retries are visible while they happen
    assert "HTTP Request:" not in result.stderr  # httpx's per-request INFO lines stay quiet
    assert "sk-test-not-a-real-key" not in result.output
    verify = nyxops("verify", "--only", "schema", "--only", "embeddings", env=env)
    assert verify.code == 0, verify.output


@pytest.mark.parametrize(
    ("key_type", "key_sql"),
    [
        ("uuid", "md5(i::text)::uuid"),  # no min()/max() for uuid in PostgreSQL: the range must not need them
        ("bigint", "(i * 7919) % 10007 - 5000"),  # negative and positive, not in insertion order
        ('text COLLATE "C"', "chr(65 + i % 26) || lower(chr(65 + i % 26)) || i"),  # upper before lower in C
        ("text", "(CASE WHEN i % 2 = 0 THEN 'b' ELSE 'B' END) || i"),  # the database's collation decides
    ],
)
def test_ad_hoc_target_with_any_orderable_key(env, db_url, key_type: str, key_sql: str) -> None:
    """Batches are key ranges in the database's own order; every row is written whatever the key type."""
    with psycopg.connect(db_url) as conn:
        conn.execute(f"CREATE TABLE notes (id {key_type} PRIMARY KEY, body text NOT NULL, embedding vector(1536))")
        conn.execute(f"INSERT INTO notes SELECT {key_sql}, 'note ' || i FROM generate_series(1, 700) AS i")
    with FakeOpenAI() as openai:
        result = nyxops("backfill", "--table", "public.notes", "--text-sql", "body", "--batch-size", "64",
                        "--concurrency", "3", env=_provider_env(env, openai))  # fmt: skip
    assert result.code == 0, result.output
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT body, embedding::text FROM notes").fetchall()
    assert all(vec is not None for _, vec in rows), "a row was left NULL"
    for body, vec in rows:
        np.testing.assert_allclose(np.array(vec[1:-1].split(","), dtype=np.float32), vector_for(body), rtol=1e-6)


def test_retries_are_not_multiplied(env, db_url) -> None:
    """Every request fails: the client's own retries run once each, not nested in another layer."""
    _null_out(db_url, 10)
    with FakeOpenAI(Faults(rate_500=1.0)) as openai:
        result = nyxops("backfill", "--target", "workflow_insights", env={**_provider_env(env, openai),
                        "NYXOPS_OPENAI_MAX_RETRIES": "2"})  # fmt: skip
        assert openai.record.requests == 3  # the probe: 1 try + 2 retries, then the run stops
    assert result.code == 1
    assert "OpenAI answered 500 after retries" in result.stderr
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL") == 10


def test_failed_batch_left_null_and_run_ends_nonzero(env, db_url) -> None:
    _null_out(db_url, 300)
    with FakeOpenAI(Faults(rate_500=0.5, seed=3)) as openai:
        result = nyxops("backfill", "--target", "workflow_insights", "--batch-size", "20", env={
            **_provider_env(env, openai), "NYXOPS_OPENAI_MAX_RETRIES": "1"})  # fmt: skip
    nulls = scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL")
    assert result.code == 1, result.output
    assert 0 < nulls < 300  # some batches failed for good, the others were written
    assert "left NULL, run backfill again" in result.stdout
    stored = _stored(db_url)
    assert len(stored) == 300 - nulls
    for text, vec in stored.items():
        np.testing.assert_allclose(vec, vector_for(text), rtol=1e-6)  # never a partial or wrong vector


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        (Faults(dimension=768), "returned vectors of dimension 768"),
        (Faults(malformed=True), "OpenAI"),
        (Faults(duplicate_index=True), "does not hold exactly one embedding per input (index 0..49)"),
    ],
)
def test_bad_answers_refused_before_writing(env, db_url, faults: Faults, message: str) -> None:
    _null_out(db_url, 50)
    with FakeOpenAI(faults) as openai:
        result = nyxops("backfill", "--target", "workflow_insights", env={**_provider_env(env, openai),
                        "NYXOPS_OPENAI_MAX_RETRIES": "1"})  # fmt: skip
    assert result.code == 1
    assert message in result.stderr
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL") == 50


def test_dropped_connections_and_slow_answers_survived(env, db_url) -> None:
    _null_out(db_url, 200)
    faults = Faults(rate_drop=0.2, slow_rate=0.05, slow_seconds=1.5)
    with FakeOpenAI(faults) as openai:
        result = nyxops("backfill", "--target", "workflow_insights", "--batch-size", "25",
                        env={**_provider_env(env, openai), "NYXOPS_OPENAI_TIMEOUT": "1"})  # fmt: skip
        assert openai.record.faults["drop"] > 0
    assert result.code == 0, result.output
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL") == 0


def test_dry_run_counts_and_sends_nothing(env, db_url) -> None:
    _null_out(db_url, 250)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE workflow_insights SET title = '', content = '  ' WHERE id = 'wi_n00001'")
    with FakeOpenAI() as openai:
        result = nyxops("backfill", "--dry-run", "--batch-size", "100", env=_provider_env(env, openai))
        assert openai.record.requests == 0
    assert result.code == 0
    line = next(line for line in result.stdout.splitlines() if "workflow_insights" in line)
    assert [c.strip() for c in line.split("│")[3:6]] == ["250", "1", "3"]  # NULL rows, empty, requests


def test_empty_text_skipped_and_long_text_truncated(env, db_url) -> None:
    _null_out(db_url, 5)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE workflow_insights SET title = '', content = '' WHERE id = 'wi_n00001'")
        conn.execute("UPDATE workflow_insights SET content = repeat('word ', 12000) WHERE id = 'wi_n00002'")
    with FakeOpenAI() as openai:  # the fake refuses an input of more than 8,192 tokens, as the API does
        result = nyxops("backfill", "--target", "workflow_insights", env=_provider_env(env, openai))
        longest = max(openai.record.texts, key=len)
    assert result.code == 0, result.output
    assert "row wi_n00001 has no text to embed; skipped" in result.stderr
    assert "row wi_n00002: text cut to 8192 tokens" in result.stderr
    import bpe_openai

    assert len(bpe_openai.get_encoding("cl100k_base").encode_ordinary(longest)) == 8192
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL") == 1


def test_row_written_meanwhile_by_the_app_is_left_alone(env, db_url) -> None:
    """The write only fills rows still NULL: a vector the app stored in the meantime wins."""
    from nyxops.config import load_settings
    from nyxops.embeddings.backfill import Options, backfill_target

    _null_out(db_url, 3)
    settings = load_settings(database_url=db_url)
    target = settings.embedding_targets[0]
    with FakeOpenAI(Faults(delay=0.5)) as openai:
        settings.openai_api_key, settings.openai_base_url = "k", openai.url + "/v1"  # type: ignore[assignment]
        settings = load_settings(database_url=db_url, openai_api_key="k", openai_base_url=openai.url + "/v1")
        import threading

        def app_writes() -> None:
            time.sleep(0.7)  # after the probe, while the batch is in flight
            with psycopg.connect(db_url) as conn:
                conn.execute("UPDATE workflow_insights SET embedding = array_fill(0.5, ARRAY[1536])::vector"
                             " WHERE id = 'wi_n00002'")  # fmt: skip

        writer = threading.Thread(target=app_writes)
        writer.start()
        summary = backfill_target(settings, target, Options())
        writer.join()
    assert summary.embedded == 2
    assert scalar(db_url, "SELECT embedding::text LIKE '[0.5,0.5,%%' FROM workflow_insights WHERE id = 'wi_n00002'")


SILENCERS = {
    "a rule": "CREATE RULE keep AS ON UPDATE TO workflow_insights DO INSTEAD NOTHING",
    "a trigger": "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;"
    " CREATE TRIGGER keep BEFORE UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION keep()",
}


@pytest.mark.parametrize("silencer", sorted(SILENCERS))
def test_writes_that_store_nothing_stop_the_run_loudly(silencer: str, env, db_url) -> None:
    """The incident's second half: each write "succeeds" and stores nothing (UPDATE 0, no error).
    Made by hand outside nyxops' migrations, here by a rule or a trigger: the first batch says so
    and the run stops, instead of paying the provider for every row and reporting success."""
    _null_out(db_url, 200)
    with psycopg.connect(db_url) as conn:
        conn.execute(SILENCERS[silencer])
    with FakeOpenAI(Faults()) as openai:
        result = nyxops("backfill", "--target", "workflow_insights", "--batch-size", "20", "--concurrency", "1",
                        env=_provider_env(env, openai))  # fmt: skip
        requests = openai.record.requests
    said = " ".join(result.stderr.split())
    assert result.code == 1, result.output
    assert "workflow_insights: batch 1 wrote 0 of 20 rows, and 20 of them are still NULL" in said, said
    assert "something makes writes to public.workflow_insights do nothing without an error" in said
    assert requests <= 3, requests  # the probe, the first batch, at most one more in flight: not all ten
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL") == 200
    assert scalar(db_url, "SELECT count(embedding) FROM workflow_insights") == 382


def test_ollama_provider_with_tenacity_retries(env, db_url) -> None:
    _null_out(db_url, 120)
    embedder = OllamaModelSpec("nomic-embed-text", 300_000_000, capabilities=("embedding",), embedding_length=1536)
    with FakeOllama(Faults(rate_500=0.2), [embedder]) as ollama:
        result = nyxops("backfill", "--table", "public.workflow_insights", "--text-sql", TEXT, "--provider", "ollama",
                        "--model", "nomic-embed-text", "--dimension", "1536", "--batch-size", "30",
                        env={**env, "OLLAMA_BASE_URL": ollama.url})  # fmt: skip
        assert ollama.record.faults["500"] > 0
    assert result.code == 0, result.output
    for text, vec in _stored(db_url).items():
        np.testing.assert_allclose(vec, vector_for(text), rtol=1e-6)


def test_wrong_column_dimension_refused(env, db_url) -> None:
    result = nyxops("backfill", "--table", "public.workflow_insights", "--text-sql", "title", "--dimension", "768",
                    env={**env, "OPENAI_API_KEY": "x"})  # fmt: skip
    assert (
        result.code == 1 and "is vector(1536), but target public.workflow_insights expects vector(768)" in result.stderr
    )


def test_usage_errors(env) -> None:
    assert "--batch-size must be between 1 and 2048" in nyxops("backfill", "--batch-size", "5000", env=env).stderr
    assert "no target named 'nope'" in nyxops("backfill", "--target", "nope", env=env).stderr
    assert "--table needs --text-sql" in nyxops("backfill", "--table", "t", env=env).stderr
    bad_dimension = nyxops("backfill", "--table", "t", "--text-sql", "x", "--dimension", "0", env=env)
    assert bad_dimension.code == 2 and "--dimension: Input should be greater than 0" in bad_dimension.stderr
    assert "Traceback" not in bad_dimension.stderr


def test_killed_mid_run_then_rerun_embeds_nothing_twice(env, db_url) -> None:
    _null_out(db_url, 1719)
    with psycopg.connect(db_url) as conn:  # count every write of an embedding, per row
        conn.execute("CREATE TABLE embedding_writes (id text, at timestamptz DEFAULT clock_timestamp())")
        conn.execute("""CREATE FUNCTION count_write() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO embedding_writes (id) VALUES (NEW.id); RETURN NEW; END $$""")
        conn.execute("CREATE TRIGGER count_write AFTER UPDATE OF embedding ON workflow_insights"
                     " FOR EACH ROW EXECUTE FUNCTION count_write()")  # fmt: skip
    with FakeOpenAI(Faults(delay=0.15)) as openai:
        run_env = {**os.environ, **_provider_env(env, openai)}
        proc = subprocess.Popen([sys.executable, "-m", "nyxops", "backfill", "--target", "workflow_insights",
                                 "--batch-size", "50", "--concurrency", "2"], env=run_env, cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 60
        while scalar(db_url, "SELECT count(*) FROM embedding_writes") < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        time.sleep(1.0)  # requests and an UPDATE in flight at the kill finish on the other side
        written_before = scalar(db_url, "SELECT count(*) FROM embedding_writes")
        assert 400 <= written_before < 1719
        texts_before = set(openai.record.texts)
        asked_before = sum(openai.record.texts.values())
        result = nyxops(
            "backfill", "--target", "workflow_insights", "--batch-size", "50", env=_provider_env(env, openai)
        )
        assert result.code == 0, result.output
        asked_again = sum(openai.record.texts.values()) - asked_before
    assert scalar(db_url, "SELECT count(*) FROM embedding_writes") == 1719  # every row written once
    assert (
        scalar(db_url, "SELECT count(*) FROM (SELECT id FROM embedding_writes GROUP BY id HAVING count(*) > 1) d") == 0
    )
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL") == 0
    # rows already written were not sent again: only the rest, the batches in flight at the kill, and the probe
    assert asked_again <= 1719 - written_before + 1
    assert texts_before


def test_float_lists_answered_to_a_base64_request_are_read(env, db_url) -> None:
    """Several OpenAI-compatible servers answer float lists whatever encoding was asked."""
    _null_out(db_url, 60)
    with FakeOpenAI(Faults(floats_anyway=True)) as openai:
        result = nyxops("backfill", "--target", "workflow_insights", env=_provider_env(env, openai))
    assert result.code == 0, result.output
    stored = _stored(db_url)
    assert len(stored) == 60
    for text, vec in stored.items():
        np.testing.assert_allclose(vec, vector_for(text), rtol=1e-6)


def test_a_duplicated_index_writes_nothing_into_the_wrong_rows(env, db_url) -> None:
    _null_out(db_url, 300)
    with FakeOpenAI(Faults(duplicate_index=True)) as openai:
        result = nyxops("backfill", "--target", "workflow_insights", "--batch-size", "100",
                        env={**_provider_env(env, openai), "NYXOPS_OPENAI_MAX_RETRIES": "0"})  # fmt: skip
    assert result.code == 1 and "duplicated [0], missing [1]" in result.stderr
    assert (
        scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE id LIKE 'wi_n%%' AND embedding IS NOT NULL") == 0
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (OllamaModelSpec("qwen2.5:7b", 4_700_000_000), "qwen2.5:7b is not an embedding model"),
        (OllamaModelSpec("nomic-embed-text", 1, capabilities=("embedding",), embedding_length=768), "768 dimensions"),
    ],
)
def test_an_ollama_model_that_cannot_fill_the_column_is_refused_before_any_request(env, db_url, spec, message) -> None:
    _null_out(db_url, 20)
    with FakeOllama(models=[spec]) as ollama:
        result = nyxops("backfill", "--target", "workflow_insights", "--provider", "ollama", "--model", spec.name,
                        env={**env, "OLLAMA_BASE_URL": ollama.url})  # fmt: skip
        assert ollama.record.paths["/api/embed"] == 0
    assert result.code == 1 and message in result.stderr, result.output
    no_model = nyxops("backfill", "--target", "workflow_insights", "--provider", "ollama", env=env)
    assert no_model.code == 2 and "--provider ollama needs --model" in no_model.stderr


def test_ctrl_c_ends_a_run_against_a_hanging_provider_within_seconds(env, db_url) -> None:
    _null_out(db_url, 400)
    with FakeOpenAI(Faults(slow_rate=0.5, slow_seconds=600)) as openai:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nyxops", "backfill", "--target", "workflow_insights", "--batch-size", "20"],
            env={**os.environ, **_provider_env(env, openai), "NYXOPS_OPENAI_MAX_RETRIES": "3"},
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while openai.record.requests < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        asked = openai.record.requests
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, stderr = proc.communicate(timeout=30)
        ended = time.monotonic() - started
        time.sleep(1)
        after = openai.record.requests
    assert proc.returncode == 130 and "interrupted: committed work stays committed" in stderr
    assert ended < 10, f"the run lived {ended:.1f} s after Ctrl-C"
    assert after - asked <= 4, "requests kept being sent after Ctrl-C"
    committed = scalar(
        db_url, "SELECT count(*) FROM workflow_insights WHERE id LIKE 'wi_n%%' AND embedding IS NOT NULL"
    )
    assert committed % 20 == 0  # whole batches only: what was committed stays, nothing half-written


def test_requests_are_packed_by_tokens_within_the_apis_limits() -> None:
    from nyxops.providers.limits import pack

    counts = [100_000, 150_000, 60_000, 10, 10]
    packed = list(pack(list(range(5)), ["t"] * 5, counts))
    assert [p.keys for p in packed] == [[0, 1], [2, 3, 4]]  # 310,000 tokens would pass 300,000
    many = list(pack(list(range(5000)), ["t"] * 5000, [1] * 5000))
    assert [len(p.keys) for p in many] == [2048, 2048, 904]


def test_rate_limit_headers_throttle_before_the_first_429(env, db_url) -> None:
    """The fake allows 6 requests and 4,000 tokens a second and says so in its headers; nyxops waits."""
    _null_out(db_url, 600)
    faults = Faults(requests_per_window=6, tokens_per_window=4_000, window=1.0)
    with FakeOpenAI(faults) as openai:
        result = nyxops("backfill", "--target", "workflow_insights", "--batch-size", "40", "--concurrency", "2",
                        env={**_provider_env(env, openai), "NYXOPS_OPENAI_MAX_RETRIES": "0"})  # fmt: skip
        limited = openai.rate_limited
    assert result.code == 0, result.output[-2000:]
    assert limited == 0, f"{limited} requests were refused with 429: the throttle did not hold"
    assert "rate limit: waiting" in result.stderr
    assert scalar(db_url, "SELECT count(*) FROM workflow_insights WHERE embedding IS NULL") == 0


def test_requests_sent_after_a_window_ended_count_against_the_next() -> None:
    """A window can end with no worker waiting; what is sent then is in flight when the next
    window's first figure arrives, and must be taken off it (a busy CI machine sent one too many)."""
    from nyxops.providers.limits import Throttle

    throttle = Throttle()
    throttle.update({"x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "50ms"})
    throttle.wait_for(1)  # the window's last request
    time.sleep(0.06)  # the window ends; nobody slept through it
    for _ in range(3):
        throttle.wait_for(1)  # sent before any answer of the new window
    throttle.update({"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "1s"})  # counts one
    assert throttle.remaining_requests == 0  # not 3: the other two are on their way
    late = {"x-ratelimit-remaining-requests": "2", "x-ratelimit-reset-requests": "1.2s"}  # read late, same window
    throttle.update(late)
    assert throttle.remaining_requests == 0  # the lower count wins until the known window ends


def test_without_the_throttle_the_same_limits_refuse(env, db_url) -> None:
    """The test above can fail: the same limits, ignored, end in 429s (a client without headers)."""
    from tests.fakes import FakeOpenAI as Fake

    _null_out(db_url, 200)
    faults = Faults(requests_per_window=2, tokens_per_window=100_000, window=2.0)
    with Fake(faults) as openai:
        import httpx

        for _ in range(4):
            httpx.post(openai.url + "/v1/embeddings", json={"model": "m", "input": ["a", "b"]}, timeout=5)
        assert openai.rate_limited == 2


def test_each_read_stays_on_its_key_range_under_a_generic_plan(db_url) -> None:
    """A prepared read switched to its generic plan must still start at the last key read.

    PostgreSQL moves a prepared statement to a generic plan after a few runs; forced here from the
    first one. With one ``(first OR key > after)`` text, every batch scanned the key index from its
    start, so the rows the reads touched grew with the square of the table's (10,500 here).
    """
    from nyxops.config import load_settings
    from nyxops.embeddings.target_table import TargetTable

    _null_out(db_url, 3000)
    target = load_settings(database_url=db_url).embedding_targets[0]
    with psycopg.connect(db_url, prepare_threshold=0) as conn:
        conn.execute("ANALYZE workflow_insights")  # real statistics: with none, a seq scan is the honest plan
        conn.commit()
        conn.execute("SET plan_cache_mode = force_generic_plan")
        table = TargetTable(conn, target)
        batches = list(table.batches(conn, 500, None))
        touched = conn.execute(  # this transaction's own counts, before any flush to the shared statistics
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables"
            " WHERE relid = 'workflow_insights'::regclass"
        ).fetchone()[0]
    keys = [k for b in batches for k, _ in b]
    assert len(batches) == 6 and len(set(keys)) == 3000 and keys == sorted(keys)  # each NULL row once, in order
    assert touched < 2 * 3382, f"the reads touched {touched} rows of a 3,382-row table"


def test_vectors_are_sent_as_pgvector_s_type_whatever_else_is_called_vector(pg_server: str) -> None:
    """The batch's binary ``vector[]`` carries pgvector's type oid: the lookup by name alone took a
    ``vector`` type another schema had before the extension was installed, and the write failed."""
    from tests.conftest import _fresh_database

    for url in _fresh_database(pg_server, "template0"):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA legacy")
            conn.execute("CREATE TYPE legacy.vector AS (x int)")
            conn.execute("CREATE EXTENSION vector")
            register(conn)
            matrix = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
            row = conn.execute("SELECT (%s)[2]::text", (VectorArray(matrix),)).fetchone()
            assert row == ("[4,5,6]",)
