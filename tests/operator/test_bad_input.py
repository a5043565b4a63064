"""What an operator can get wrong, or a file can hold by accident: a sentence, the right exit code, no secret.

Exit 2 is bad input (with file:line where there is one), exit 1 is "the guard blocked something":
CI must be able to tell the two apart.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from nyxops.names import UNPARSEABLE, redact_url
from tests.helpers import REPO, nyxops

SECRET = "s3cr3t-Pa55"
FORMS = {
    "url": f"postgresql://app:{SECRET}@127.0.0.1:1/nyxcore",
    "url with an encoded password": "postgresql://app:s3cr3t%2DPa55@127.0.0.1:1/nyxcore",
    "query parameter": f"postgresql://app@127.0.0.1:1/nyxcore?password={SECRET}&sslmode=disable",
    "keyword string": f"host=127.0.0.1 port=1 user=app password={SECRET} dbname=nyxcore",
    "quoted keyword": f"host=127.0.0.1 port=1 user=app password='{SECRET} x' dbname=nyxcore",
    "postgres scheme": f"postgres://app:{SECRET}@127.0.0.1:1/nyxcore",
    "unix socket": f"postgresql://app:{SECRET}@/nyxcore?host=/tmp/no-such-dir",
}
MALFORMED = {
    "unclosed IPv6 bracket": f"postgresql://app:{SECRET}@[::1/nyxcore",
    "another database's URL": f"mysql://app:{SECRET}@127.0.0.1/nyxcore",
    "bare words": f"app {SECRET} nyxcore",
    "unterminated quote": f"host=127.0.0.1 password='{SECRET}",
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_redaction_reads_every_form_libpq_reads(form: str) -> None:
    redacted = redact_url(FORMS[form])
    assert SECRET not in redacted and "s3cr3t" not in redacted
    assert "***" in redacted and "nyxcore" in redacted, redacted


@pytest.mark.parametrize("form", sorted(MALFORMED))
def test_a_string_libpq_cannot_read_is_never_echoed(form: str) -> None:
    assert redact_url(MALFORMED[form]) == UNPARSEABLE


@pytest.mark.parametrize("form", sorted(FORMS))
def test_no_command_prints_the_password_in_any_form(form: str, tmp_path: Path) -> None:
    for args in (
        ["migrate", "status"],
        ["migrate", "plan", "--dir", str(REPO / "migrations")],
        ["verify", "--only", "schema", "--json"],
    ):
        result = nyxops(*args, env={"DATABASE_URL": FORMS[form]}, cwd=tmp_path)
        assert result.code != 0
        assert "s3cr3t" not in result.output, (args, result.output)
        assert "Traceback" not in result.output


@pytest.mark.parametrize("form", sorted(MALFORMED))
def test_a_malformed_url_is_bad_input_not_a_traceback(form: str, tmp_path: Path) -> None:
    result = nyxops("migrate", "status", env={"DATABASE_URL": MALFORMED[form]}, cwd=tmp_path)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output and "s3cr3t" not in result.output
    assert "postgresql://user:password@host:5432/dbname" in result.stderr


def test_a_role_without_the_grant_gets_the_grant_named(env, db_url, pg_server) -> None:
    role = "nyx_readonly"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS nyxops")
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        database = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(database), sql.Identifier(role))
        )
    try:
        limited = psycopg.conninfo.make_conninfo(db_url, user=role)
        result = nyxops("migrate", "apply", env={**env, "DATABASE_URL": limited})
        assert result.code == 2 and "Traceback" not in result.output
        assert "permission denied for schema nyxops" in result.stderr
        assert "GRANT USAGE, CREATE ON SCHEMA nyxops TO" in result.stderr
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _closed_loopback_port() -> int:
    import socket

    with socket.socket() as sock:  # a port the kernel just gave out, closed again: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_server_that_cannot_be_reached_is_named_with_all_libpq_said(env, db_url, tmp_path: Path) -> None:
    """libpq's reason spans two lines (what failed, then its hint): both reach the operator, on one line."""
    refused = f"postgresql://app:{SECRET}@127.0.0.1:{_closed_loopback_port()}/nyxcore"
    no_role = psycopg.conninfo.make_conninfo(db_url, user="nobody_here", password=SECRET)
    for url, said in (
        (refused, "failed: Connection refused. Is the server running on that host and accepting TCP/IP connections?"),
        (no_role, 'failed: FATAL: role "nobody_here" does not exist. Check DATABASE_URL'),
    ):
        result = nyxops("migrate", "status", env={**env, "DATABASE_URL": url}, cwd=tmp_path)
        assert result.code != 0 and "Traceback" not in result.output
        assert "cannot connect to PostgreSQL at " in result.stderr and said in result.stderr, result.stderr
        assert SECRET not in result.output


def test_lint_says_what_a_path_is_when_it_is_no_file(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe.sql")
    (tmp_path / "gone.sql").symlink_to(tmp_path / "deleted.sql")
    (tmp_path / "loop.sql").symlink_to(tmp_path / "loop.sql")
    expected = {
        "pipe.sql": "neither a file nor a folder (a named pipe, socket or device)",
        "gone.sql": f"a symbolic link to {tmp_path / 'deleted.sql'}, which does not exist",
        "loop.sql": "a symbolic link to",
        "never.sql": "no such file or folder",
    }
    for name, message in expected.items():
        result = nyxops("lint", str(tmp_path / name), timeout=30)
        assert result.code == 2, (name, result.output)
        assert f"{tmp_path / name}: {message}" in " ".join(result.stderr.split()), (name, result.stderr)


FILES = {
    "nul.sql": (b"SELECT 1;\nSELECT 2;\x00DROP TABLE workflow_insights;\n", ":2:10: contains a NUL byte"),
    "bom.sql": (b"\xef\xbb\xbfSELECT 1;\n", ":1:1: starts with a UTF-8 byte-order mark (BOM)"),
    "latin1.sql": (b"SELECT 1;\nSELECT '\xe9t\xe9';\n", ":2:1: not UTF-8 text"),
    "deep.sql": (
        b"DELETE FROM t WHERE a = " + b"ARRAY[" * 3000 + b"1" + b"]" * 3000 + b";\n",
        ":1:1: nested too deeply",
    ),
    "syntax.sql": (b"SELECT 1;\nALTER TABEL t ADD x int;\n", "(nyxops reads PostgreSQL 18 syntax)"),
    # another database's SQL, or text another tool fills in: said so, not blamed on the version
    "sqlite.sql": (b"PRAGMA foreign_keys=OFF;\n", ':1:1: syntax error at or near "PRAGMA" (SQLite syntax'),
    "mysql.sql": (b"CREATE TABLE `t` (id int);\n", ':1:14: syntax error at or near "`" (MySQL syntax'),
    "psql.sql": (b"ALTER TABLE :schema.jobs ADD x int;\n", ':1:13: syntax error at or near ":" (a psql variable:'),
    "template.sql": (b"SELECT * FROM t WHERE id = %(id)s;\n", "(a placeholder of a template or a client library:"),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_file_that_is_not_plain_sql_is_bad_input_with_its_place(name: str, tmp_path: Path) -> None:
    data, message = FILES[name]
    path = tmp_path / name
    path.write_bytes(data)
    result = nyxops("lint", str(path))
    assert result.code == 2, result.output
    assert message in result.stdout and "Traceback" not in result.output


def test_lint_reads_standard_input() -> None:
    sql_text = "ALTER TABLE workflow_insights DROP COLUMN embedding;\n"
    done = subprocess.run(
        [sys.executable, "-m", "nyxops", "lint", "-"], input=sql_text, capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 1 and "<stdin>:1:13: error [drop-column]" in done.stdout
    clean = subprocess.run(
        [sys.executable, "-m", "nyxops", "lint", "-"], input="SELECT 1;", capture_output=True, text=True
    )
    assert clean.returncode == 0


def test_lint_takes_upper_case_suffixes_and_excludes(tmp_path: Path) -> None:
    (tmp_path / "0001_up.SQL").write_text("DROP TABLE a;\n")
    (tmp_path / "0001_up.down.sql").write_text("DROP TABLE b;\n")
    result = nyxops("lint", "--format", "json", "--exclude", "*.down.sql", str(tmp_path))
    assert result.code == 1
    assert "0001_up.SQL" in result.stdout and "down.sql" not in result.stdout


def test_lint_changed_since_a_git_ref_skips_history(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "root")
    (tmp_path / "0001_old.sql").write_text("DROP TABLE legacy;\n")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "history")
    git("tag", "v1")
    (tmp_path / "0002_new.sql").write_text("SELECT 1;\n")
    clean = nyxops("lint", "--changed-since", "v1", ".", cwd=tmp_path)
    assert clean.code == 0, clean.output
    (tmp_path / "0003_bad.sql").write_text("DROP TABLE t;\n")
    blocked = nyxops("lint", "--changed-since", "v1", "--format", "json", ".", cwd=tmp_path)
    assert blocked.code == 1 and "0003_bad.sql" in blocked.stdout and "0001_old" not in blocked.stdout
    unknown = nyxops("lint", "--changed-since", "no-such-ref", ".", cwd=tmp_path)
    assert unknown.code == 2 and "--changed-since no-such-ref" in unknown.stderr


def test_the_lock_holder_named_is_the_one_in_the_same_database(env, db_url, pg_server) -> None:
    from nyxops.migrate.lock import LOCK_KEY
    from nyxops.names import with_database

    other = with_database(pg_server, "postgres")
    with psycopg.connect(other, autocommit=True, application_name="holder-elsewhere") as elsewhere:
        elsewhere.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        with psycopg.connect(db_url, autocommit=True, application_name="holder-here") as here:
            here.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            result = nyxops("migrate", "apply", env=env)
    assert result.code == 1
    assert "holder-here" in result.stderr and "holder-elsewhere" not in result.stderr


def test_log_lines_never_carry_a_secret_the_process_was_given(monkeypatch, capsys) -> None:
    import logging

    from rich.console import Console

    from nyxops import logs

    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abcdef123456")
    monkeypatch.setenv("DATABASE_URL", f"host=db user=app password={SECRET} dbname=nyxcore")
    logs.configure(Console(stderr=True, width=300))
    logging.getLogger("nyxops.test").warning("request with key %s to %s", "sk-live-abcdef123456", f"pw {SECRET}")
    logging.getLogger().handlers.clear()
    captured = capsys.readouterr().err
    assert "request with key *** to pw ***" in captured
    assert "abcdef123456" not in captured and SECRET not in captured


def test_a_path_named_like_a_secret_is_not_taken_for_one() -> None:
    from nyxops.names import known_secrets

    env = {"NYXOPS_SECRETS_FILE": "/etc/nyxcore/secrets.env", "NYXCORE_ADMIN_SECRET": "adm1n-s3cret"}
    assert known_secrets(env) == ["adm1n-s3cret"]


@pytest.mark.parametrize("variable", ["NYXOPS_PROTECTED_COLUMNS", "NYXOPS_EMBEDDING_TARGETS"])
def test_a_list_setting_that_is_not_json_names_the_variable_and_its_form(variable: str, tmp_path: Path) -> None:
    """``NYXOPS_PROTECTED_COLUMNS=embedding`` is the natural first try; pydantic-settings only says it failed to parse."""
    (tmp_path / "a.sql").write_text("SELECT 1;\n")
    result = nyxops("lint", str(tmp_path / "a.sql"), env={variable: "public.workflow_insights.embedding"})
    assert result.code == 2, result.output
    assert f"{variable} is not JSON" in result.stderr and f"{variable}='[" in result.stderr
    assert "EnvSettingsSource" not in result.output and "Traceback" not in result.output
    fixed = nyxops(
        "lint", str(tmp_path / "a.sql"), env={variable: result.stderr.split(f"{variable}=")[1].strip()[1:-1]}
    )
    assert fixed.code == 0, fixed.output
