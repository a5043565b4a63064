"""Names of tables and columns, as PostgreSQL folds them, and URLs without their passwords."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

_IDENT = re.compile(r'"((?:[^"]|"")*)"|([^".\s]+)')
NAME_PATTERN = r'(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)'
"""One name as the text prefilters read it: quoted without escapes, or plain ASCII (folded by lower-casing)."""
_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")


def quote_part(name: str) -> str:
    """A name as it must be written to mean exactly it: ``Project`` -> ``"Project"``, ``embedding`` as is."""
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


@dataclass(frozen=True)
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
        return ".".join(
            p if p == "*" else quote_part(p) for p in (self.schema, self.table, self.column) if p is not None
        )

    def sql(self) -> str:
        """Quoted for SQL text: ``"public"."Project"``."""
        return ".".join('"' + p.replace('"', '""') + '"' for p in (self.schema, self.table, self.column) if p)


def redact_url(url: str) -> str:
    """A database URL safe to print: the password becomes ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unprintable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def with_database(url: str, name: str) -> str:
    """The same server URL with another database name (query parameters such as host= kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))
