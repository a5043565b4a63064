"""Names of tables and columns, as PostgreSQL folds them, and URLs without their passwords."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

_IDENT = re.compile(r'"((?:[^"]|"")*)"|([^".\s]+)')
NAME_PATTERN = r'(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)'
"""One name as the text prefilters read it: quoted without escapes, or plain ASCII (folded by lower-casing)."""
_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")


@functools.lru_cache(maxsize=4096)
def quote_part(name: str) -> str:
    """A name as it must be written to mean exactly it: ``Project`` -> ``"Project"``, ``embedding`` as is.

    Cached: a file names the same few schemas and tables in thousands of findings.
    """
    return name if _PLAIN.match(name) else '"' + name.replace('"', '""') + '"'


def dotted(parts: list[str]) -> str:
    return ".".join(quote_part(p) for p in parts)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(name: str) -> str:
    """An unquoted name as PostgreSQL folds it in a UTF-8 database: ASCII letters only (``Übung`` stays)."""
    return name.translate(_ASCII_LOWER)


def split_identifier(text: str) -> list[str]:
    """``public."Project".id`` -> ``['public', 'Project', 'id']`` (unquoted parts fold to lower case)."""
    parts: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _IDENT.match(text, pos)
        if match is None:
            raise ValueError(f"not a valid SQL name: {text!r}")
        quoted = match.group(1)
        parts.append(quoted.replace('""', '"') if quoted is not None else fold(match.group(2)))
        pos = match.end()
        if pos < len(text):
            if text[pos] != ".":
                raise ValueError(f"not a valid SQL name: {text!r}")
            pos += 1
    if not parts:
        raise ValueError("empty SQL name")
    return parts


@dataclass(frozen=True, slots=True)
class QualifiedName:
    """A table (schema, table) or a column (schema, table, column); schema defaults to public."""

    schema: str
    table: str
    column: str | None = None

    @classmethod
    def parse(cls, text: str, parts: tuple[int, ...] = (1, 2)) -> QualifiedName:
        names = split_identifier(text)
        if len(names) not in parts:
            kind = "schema.table.column or table.column" if 3 in parts else "schema.table or table"
            raise ValueError(f"{text!r} is not {kind}")
        if 3 in parts:  # a column name
            if len(names) == 2:
                names = ["public", *names]
            return cls(names[0], names[1], names[2])
        if len(names) == 1:
            names = ["public", *names]
        return cls(names[0], names[1])

    @property
    def table_name(self) -> QualifiedName:
        return QualifiedName(self.schema, self.table)

    def __str__(self) -> str:
        """As SQL needs it written (``public."Project"."syncEnabled"``): pasted into an allow comment, it matches."""
        parts = [self.schema, self.table] if self.column is None else [self.schema, self.table, self.column]
        return ".".join([p if p == "*" else quote_part(p) for p in parts])

    def sql(self) -> str:
        """Quoted for SQL text: ``"public"."Project"``."""
        return ".".join('"' + p.replace('"', '""') + '"' for p in (self.schema, self.table, self.column) if p)


UNPARSEABLE = "<a connection string libpq cannot read>"


def redact_url(conninfo: str) -> str:
    """A connection string safe to print, in any form libpq reads: the password becomes ``***``.

    Read with libpq's own parser (``conninfo_to_dict``: URLs, ``?password=`` parameters and
    ``host=… password=…`` keyword strings alike), then written back as a URL. A string libpq
    cannot read is never echoed, since the password may be anywhere in it.
    """
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(conninfo)
    except Exception:  # psycopg.ProgrammingError; any failure must not print the text
        return UNPARSEABLE
    user = quote(str(params.pop("user", "")), safe="")
    password = params.pop("password", None)
    host = str(params.pop("host", ""))
    port = str(params.pop("port", ""))
    dbname = quote(str(params.pop("dbname", "")), safe="")
    auth = (user + (":***" if password is not None else "")) + ("@" if user or password is not None else "")
    netloc = ("[" + host + "]" if ":" in host and "," not in host else host) if not host.startswith("/") else ""
    if host.startswith("/"):
        params["host"] = host
    if port:
        netloc += ":" + port
    query = urlencode({k: str(v) for k, v in sorted(params.items())}, safe="/")
    return f"postgresql://{auth}{netloc}/{dbname}" + (f"?{query}" if query else "")


def secret_of(conninfo: str) -> str | None:
    """The password in a connection string, to scrub from any text (None when there is none)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        value = conninfo_to_dict(conninfo).get("password")
    except Exception:
        return None
    return str(value) if value else None


_SECRET_NAMES = ("PASSWORD", "SECRET", "API_KEY", "TOKEN")
_URL_NAMES = ("DATABASE_URL", "NYXOPS_REMOTE_DATABASE_URL", "NYXOPS_TEST_DATABASE_URL")


def known_secrets(environ: dict[str, str] | None = None) -> list[str]:
    """The secret values this process was given: passwords in connection strings, keys, tokens."""
    import os

    env = os.environ if environ is None else environ
    found = {
        v
        for k, v in env.items()
        if any(n in k.upper() for n in _SECRET_NAMES) and not k.upper().endswith(("_FILE", "_DIR")) and len(v) >= 4
    }  # NYXOPS_SECRETS_FILE names a path, which error messages must still show
    for name in _URL_NAMES:
        secret = secret_of(env.get(name, "")) if env.get(name) else None
        if secret:
            found.add(secret)
    return sorted(found, key=len, reverse=True)


def scrub_secrets(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every known secret value replaced by ``***`` (logs, verify JSON and JUnit)."""
    for secret in known_secrets() if secrets is None else secrets:
        text = text.replace(secret, "***")
    return text


def with_database(url: str, name: str) -> str:
    """The same server URL with another database name (query parameters such as host= kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))
