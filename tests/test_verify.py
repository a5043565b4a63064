"""``nyxops verify`` passes on a healthy setup and fails, with the reason, for each fault."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree

import psycopg
import pytest

from tests.fakes import FakeOllama, FakeOpenAI, OllamaModelSpec
from tests.helpers import nyxops, scalar

GB = 1_000_000_000


class FakeApp:
    """The app's health endpoint: answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.failed = threading.Event()
        """Set once the app has answered with an error status."""
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = b'{"ok": true}' if app.status < 400 else b'{"ok": false}'
                self.send_response(app.status if self.path == "/api/health" else 404)
                if app.status >= 400:
                    app.failed.set()
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _models() -> list[OllamaModelSpec]:
    return [OllamaModelSpec("qwen2.5:7b", int(4.7 * GB)), OllamaModelSpec("qwen2.5:3b", int(1.9 * GB))]


@pytest.fixture
def healthy(env: dict[str, str]) -> Iterator[dict[str, object]]:
    assert nyxops("migrate", "apply", env=env).code == 0
    assert nyxops("protect", "install", env=env).code == 0
    app = FakeApp()
    with FakeOllama(models=_models()) as ollama, FakeOpenAI() as openai:
        run_env = {
            **env,
            "OPENAI_API_KEY": "sk-test-secret",
            "OPENAI_BASE_URL": openai.url + "/v1",
            "OLLAMA_BASE_URL": ollama.url,
            "NYXOPS_APP_HEALTH_URL": app.url,
            "NYXOPS_OPENAI_MAX_RETRIES": "1",
        }
        yield {"env": run_env, "ollama": ollama, "openai": openai, "app": app}
    app.close()


def _results(result) -> dict[str, dict[str, object]]:
    return {r["name"]: r for r in json.loads(result.stdout)["checks"]}


def test_healthy_setup_passes_with_figures(healthy, tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    result = nyxops("verify", "--json", "--junit", str(junit), env=healthy["env"])
    assert result.code == 0, result.output
    results = _results(result)
    assert {name: r["status"] for name, r in results.items()} == {
        "app": "pass", "embeddings": "pass", "host": "skip", "migrations": "pass", "ollama": "pass",
        "openai": "pass", "public": "skip", "schema": "pass", "writes": "pass",
    }  # fmt: skip
    assert results["embeddings"]["figures"]["workflow_insights"]["embedded"] == 382
    assert results["embeddings"]["figures"]["workflow_insights"]["census_floor"] == 382
    assert results["ollama"]["figures"]["tokens_per_s"] == 20.0
    assert "no host configured" in results["host"]["reason"]
    assert "no public URL" in results["public"]["reason"]  # NYXOPS_PUBLIC_URL unset: the deploy sets it
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["counts"] == {"pass": 7, "fail": 0, "skip": 2}
    suite = ElementTree.parse(junit).getroot()
    assert suite.get("tests") == "9" and suite.get("failures") == "0" and suite.get("skipped") == "2"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["tokens_per_s"] == "20.0"  # name/value pairs, not a Python repr of a dict
    assert "{'" not in junit.read_text()
    assert "sk-test-secret" not in result.output
    table = nyxops("verify", env=healthy["env"])
    assert table.code == 0 and "all checks pass" in table.stdout


def _sql(env: dict[str, str], statement: str) -> None:
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        conn.execute("SET nyxops.allow_drop = 'public.workflow_insights.embedding'")
        conn.execute(statement)


EMBEDDINGS_AND_XMIN = "SELECT md5(string_agg(embedding::text || xmin::text, ',' ORDER BY id)) FROM workflow_insights"
SILENCERS = {
    "a rule": "CREATE RULE keep AS ON UPDATE TO workflow_insights DO INSTEAD NOTHING",
    "a trigger": "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;"
    " CREATE TRIGGER keep BEFORE UPDATE ON workflow_insights FOR EACH ROW EXECUTE FUNCTION keep()",
    "a row security policy": "CREATE ROLE app_rw LOGIN; GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA public TO app_rw;"
    " ALTER TABLE workflow_insights ENABLE ROW LEVEL SECURITY;"
    " CREATE POLICY app_reads ON workflow_insights FOR SELECT TO app_rw USING (true)",
}


@pytest.mark.parametrize("silencer", sorted(SILENCERS))
def test_writes_that_store_nothing_are_caught_and_nothing_is_changed(silencer: str, healthy) -> None:
    """Made by hand, outside any migration (a C trigger or a policy as much as these): verify
    writes as the app does, sees UPDATE 0, and rolls its write back."""
    env = healthy["env"]
    _sql(env, SILENCERS[silencer])
    if "policy" in silencer:  # the app's own role: a superuser bypasses row security
        env = {**env, "DATABASE_URL": env["DATABASE_URL"].replace("postgres:@", "app_rw:@")}
    before = scalar(healthy["env"]["DATABASE_URL"], EMBEDDINGS_AND_XMIN)
    result = nyxops("verify", "--only", "writes", "--json", env=env)
    assert result.code == 1, result.output
    reason = _results(result)["writes"]["reason"]
    assert "workflow_insights: writing another vector into one row's embedding reported 0 rows updated:" in reason
    assert "something makes writes to public.workflow_insights do nothing without an error" in reason
    assert "pipeline_insights" not in reason  # the other tables' writes land
    assert scalar(healthy["env"]["DATABASE_URL"], EMBEDDINGS_AND_XMIN) == before


def test_a_trigger_that_skips_only_redundant_updates_passes_and_nothing_is_changed(healthy) -> None:
    env = healthy["env"]
    _sql(env, "CREATE TRIGGER same BEFORE UPDATE ON workflow_insights FOR EACH ROW"
              " EXECUTE FUNCTION suppress_redundant_updates_trigger()")  # fmt: skip
    before = scalar(env["DATABASE_URL"], EMBEDDINGS_AND_XMIN)
    result = nyxops("verify", "--only", "writes", "--json", env=env)
    assert result.code == 0, result.output
    assert _results(result)["writes"]["figures"] == {"workflow_insights": 1, "pipeline_insights": 1,
                                                     "discussion_knowledge": 1}  # fmt: skip
    assert scalar(env["DATABASE_URL"], EMBEDDINGS_AND_XMIN) == before


def test_a_row_the_app_holds_locked_is_not_waited_for(healthy) -> None:
    env = healthy["env"]
    with psycopg.connect(env["DATABASE_URL"]) as app:  # the app holds every row of one table
        app.execute("SELECT id FROM workflow_insights FOR UPDATE").fetchall()
        started = time.monotonic()
        result = nyxops("verify", "--only", "writes", "--json", env=env)
        waited = time.monotonic() - started
    assert result.code == 0, result.output
    writes = _results(result)["writes"]
    assert writes["reason"].endswith("lands (tried, rolled back); 1 not tried, its row locked"), writes
    assert writes["figures"]["workflow_insights"] == "row locked by another session, not tried"
    assert waited < 10, waited


def test_column_dropped_and_readded_is_caught(healthy) -> None:
    env = healthy["env"]
    _sql(env, "ALTER TABLE workflow_insights DROP COLUMN embedding, ADD COLUMN embedding vector(1536)")
    result = nyxops("verify", "--only", "schema", "--only", "embeddings", "--json", env=env)
    results = _results(result)
    assert result.code == 1
    assert results["schema"]["status"] == "pass"  # the type is back...
    reason = results["embeddings"]["reason"]
    assert "workflow_insights: 382 rows without embedding" in reason  # ...the values are not
    assert "workflow_insights: 0 embeddings, 382 before the last migration" in reason


def test_nulls_fail_but_fresh_rows_are_in_grace(healthy) -> None:
    env = healthy["env"]
    _sql(env, "INSERT INTO workflow_insights (id, title, content) VALUES ('wi_fresh', 't', 'c')")
    assert nyxops("verify", "--only", "embeddings", env=env).code == 0
    _sql(env, "UPDATE workflow_insights SET created_at = now() - interval '1 hour' WHERE id = 'wi_fresh'")
    result = nyxops("verify", "--only", "embeddings", env=env)
    assert result.code == 1 and "workflow_insights: 1 rows without embedding (run nyxops backfill)" in result.stdout


def test_wrong_dimensions(healthy) -> None:
    env = healthy["env"]
    _sql(env, "ALTER TABLE pipeline_insights ALTER COLUMN embedding TYPE vector")
    _sql(env, "UPDATE pipeline_insights SET embedding = '[1,2,3]' WHERE id = 'pi_00001'")
    results = _results(nyxops("verify", "--only", "schema", "--only", "embeddings", "--json", env=env))
    assert "pipeline_insights.embedding is vector, expected vector(1536)" in results["schema"]["reason"]
    assert "pipeline_insights: 1 vectors not of dimension 1536" in results["embeddings"]["reason"]


def test_a_vector_column_read_through_a_domain_and_off_the_path(healthy) -> None:
    """A domain over ``vector(1536)`` (and one over that) holds vectors of 1536 dimensions: the
    schema check said "is emb1536, expected vector(1536)". With a login path that does not reach
    pgvector's schema (as Supabase keeps it in ``extensions``), the embeddings check crashed on
    ``vector_dims``."""
    env = healthy["env"]
    _sql(env, "CREATE DOMAIN emb1536 AS vector(1536)")
    _sql(env, "CREATE DOMAIN emb_checked AS emb1536 CHECK (VALUE IS NOT NULL)")
    _sql(env, "ALTER TABLE pipeline_insights ALTER COLUMN embedding TYPE emb1536")
    _sql(env, "ALTER TABLE discussion_knowledge ALTER COLUMN embedding TYPE emb_checked")
    _sql(env, "ALTER ROLE CURRENT_USER SET search_path = pg_catalog")
    try:
        results = _results(nyxops("verify", "--only", "schema", "--only", "embeddings", "--json", env=env))
    finally:
        _sql(env, "ALTER ROLE CURRENT_USER RESET search_path")
    assert results["schema"]["status"] == "pass", results["schema"]
    assert results["embeddings"]["status"] == "pass", results["embeddings"]
    _sql(env, "ALTER TABLE discussion_knowledge ALTER COLUMN embedding TYPE vector")
    schema = _results(nyxops("verify", "--only", "schema", "--json", env=env))["schema"]
    assert "discussion_knowledge.embedding is vector, expected vector(1536)" in schema["reason"]


def test_pending_migration_and_missing_protect(healthy, migrations: Path) -> None:
    env = healthy["env"]
    (migrations / "0004_new.sql").write_text("SELECT 1;\n")
    assert nyxops("protect", "remove", env=env).code == 0
    result = nyxops("verify", "--only", "migrations", env=env)
    assert result.code == 1
    assert "0004_new.sql: unreviewed" in result.stdout and "protect trigger not installed" in result.stdout


def test_a_stored_setting_that_switches_the_guards_off_fails(healthy) -> None:
    env = healthy["env"]
    _sql(
        env,
        "DO $$ BEGIN EXECUTE format('ALTER ROLE %I IN DATABASE %I SET session_replication_role = replica', current_user, current_database()); END $$",
    )
    try:
        result = nyxops("verify", "--only", "migrations", env=env)
        assert result.code == 1, result.output
        assert "stored session_replication_role=replica for every later session of database" in result.stdout
    finally:
        _sql(
            env,
            "DO $$ BEGIN EXECUTE format('ALTER ROLE %I IN DATABASE %I RESET session_replication_role', current_user, current_database()); END $$",
        )
    assert nyxops("verify", "--only", "migrations", env=env).code == 0


def test_an_unlogged_embeddings_table_and_a_detach_left_pending_fail(healthy) -> None:
    """Nothing is lost yet in either case: the next crash empties the unlogged table, and the
    half-detached partition is already missing from every query of its parent."""
    env = healthy["env"]
    _sql(env, "ALTER TABLE pipeline_insights SET UNLOGGED")
    _sql(env, "CREATE TABLE events (id int, at date) PARTITION BY RANGE (at)")
    _sql(env, "CREATE TABLE events_2019 PARTITION OF events FOR VALUES FROM ('2019-01-01') TO ('2020-01-01')")
    with psycopg.connect(env["DATABASE_URL"]) as reader:  # an old reader: the detach's second step waits for it
        reader.execute("SELECT count(*) FROM events")
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("SET lock_timeout = '500ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                conn.execute("ALTER TABLE events DETACH PARTITION events_2019 CONCURRENTLY")
        reader.rollback()
    results = _results(nyxops("verify", "--only", "schema", "--only", "migrations", "--json", env=env))
    assert results["schema"]["status"] == "fail"
    assert "public.pipeline_insights is UNLOGGED: the next crash empties it" in results["schema"]["reason"]
    assert results["migrations"]["status"] == "fail"
    assert "partition public.events_2019 is pending detach from public.events" in results["migrations"]["reason"]

    _sql(env, "ALTER TABLE pipeline_insights SET LOGGED")
    _sql(env, "ALTER TABLE events DETACH PARTITION events_2019 FINALIZE")
    results = _results(nyxops("verify", "--only", "schema", "--only", "migrations", "--json", env=env))
    assert {name: r["status"] for name, r in results.items()} == {"schema": "pass", "migrations": "pass"}, results


def test_a_column_tied_to_a_live_session_s_temporary_type_fails(healthy) -> None:
    """A psql session left open by hand that retyped a column to its ``pg_temp`` domain: nothing is
    lost while it lives, and the column with every value goes when it ends (no event trigger, no
    migration sees that)."""
    env = healthy["env"]
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as session:
        session.execute("CREATE DOMAIN pg_temp.words AS text")
        session.execute("ALTER TABLE workflow_insights ALTER COLUMN content TYPE words")
        results = _results(nyxops("verify", "--only", "schema", "--json", env=env))
        assert results["schema"]["status"] == "fail"
        reason = results["schema"]["reason"]
        assert "column content of table workflow_insights depends on temporary type pg_temp_" in reason
        assert "it goes when that session ends" in reason
        session.execute("ALTER TABLE workflow_insights ALTER COLUMN content TYPE text")
    results = _results(nyxops("verify", "--only", "schema", "--json", env=env))
    assert results["schema"]["status"] == "pass", results


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda o: o.models.pop("qwen2.5:7b"), "default model qwen2.5:7b not pulled"),
        (
            lambda o: o.models.__setitem__("qwen2.5:7b", OllamaModelSpec("qwen2.5:7b", 6 * GB)),
            "qwen2.5:7b needs about 6.1 GiB (5.6 GiB weights + 224 MiB KV cache at 4096 tokens x 1 + 256 MiB runner),"
            " more than the 5.0 GiB memory limit",
        ),
        (
            lambda o: o.models.__setitem__("qwen2.5:7b", OllamaModelSpec("qwen2.5:7b", int(4.7 * GB), reply="")),
            "qwen2.5:7b answered with empty text",
        ),
        (lambda o: setattr(o.faults, "down", True), "not answering /api/version"),
        (lambda o: setattr(o.faults, "rate_500", 1.0), "not answering /api/version"),
    ],
    ids=["model-missing", "too-large", "empty-answer", "down", "failing"],
)
def test_ollama_faults(healthy, setup, reason: str) -> None:
    setup(healthy["ollama"])
    result = nyxops("verify", "--only", "ollama", "--json", env=healthy["env"])
    assert result.code == 1
    assert reason in _results(result)["ollama"]["reason"]


def test_ollama_slow_answer_times_out(healthy) -> None:
    ollama = healthy["ollama"]
    ollama.faults.slow_rate, ollama.faults.slow_seconds = 1.0, 3.0
    result = nyxops("verify", "--only", "ollama", "--json", env={**healthy["env"], "NYXOPS_OLLAMA_TIMEOUT": "0.5"})
    assert result.code == 1
    assert "not answering /api/version (timed out" in _results(result)["ollama"]["reason"]


def test_openai_faults(healthy) -> None:
    healthy["openai"].faults.rate_500 = 1.0
    result = nyxops("verify", "--only", "openai", env=healthy["env"])
    assert result.code == 1 and "OpenAI answered 500 after retries" in result.stdout
    healthy["openai"].faults.rate_500 = 0.0
    healthy["openai"].faults.dimension = 3072
    result = nyxops("verify", "--only", "openai", env=healthy["env"])
    assert result.code == 1 and "returns 3072 dimensions, workflow_insights expects 1536" in result.stdout
    missing = {k: v for k, v in healthy["env"].items() if k != "OPENAI_API_KEY"}
    assert "OPENAI_API_KEY is not set" in nyxops("verify", "--only", "openai", env=missing).stdout


def test_app_faults(healthy) -> None:
    healthy["app"].status = 503
    result = nyxops("verify", "--only", "app", env=healthy["env"])
    assert result.code == 1 and "answered 503" in result.stdout
    down = {**healthy["env"], "NYXOPS_APP_HEALTH_URL": "http://127.0.0.1:9/api/health"}
    assert "unreachable" in nyxops("verify", "--only", "app", env=down).stdout


def test_wait_retries_until_the_service_is_up(healthy) -> None:
    healthy["app"].status = 503

    def recover() -> None:
        healthy["app"].failed.wait(30)  # the first attempt must have seen it down
        time.sleep(1)
        healthy["app"].status = 200

    threading.Thread(target=recover, daemon=True).start()
    result = nyxops("verify", "--only", "app", "--wait", "15", env=healthy["env"])
    assert result.code == 0, result.output
    assert "still failing: app" in result.stderr


def test_wait_stops_at_once_at_a_failure_waiting_cannot_clear(healthy) -> None:
    """A missing trigger is not a service starting: --wait does not spend its minutes on it."""
    assert nyxops("protect", "remove", env=healthy["env"]).code == 0
    healthy["app"].status = 503  # a service still starting beside it does not keep the run waiting
    started = time.monotonic()
    result = nyxops("verify", "--only", "migrations", "--only", "app", "--wait", "60", env=healthy["env"])
    assert result.code == 1
    assert "protect trigger not installed" in result.stdout and "answered 503" in result.stdout
    assert time.monotonic() - started < 20
    assert "still failing" not in result.stderr


def test_unknown_check_name(healthy) -> None:
    result = nyxops("verify", "--only", "nope", env=healthy["env"])
    assert result.code == 2 and "unknown check(s) nope" in result.stderr
