"""guard/declared_types.py: the types libpg_query's PL/pgSQL parser refuses, renamed for the parse
alone. Each case: the function as written, and the text the parser is given instead (None: as written)."""

from __future__ import annotations

import pytest
from pglast.parser import ParseError, parse_plpgsql_json

from nyxops.guard.declared_types import readings

CASES = [
    (
        "CREATE FUNCTION app.f(v app.mood, n int DEFAULT 1) RETURNS SETOF app.jobs LANGUAGE plpgsql AS $$BEGIN END$$",
        "CREATE FUNCTION app.f(v public.mood, n int DEFAULT 1) RETURNS SETOF public.jobs LANGUAGE plpgsql AS $$BEGIN END$$",
    ),
    (  # arrays: the element, whichever schema; built-in arrays and typmods stay
        "CREATE FUNCTION f(a app.t[], b mood[], c text[], d double precision[]) RETURNS void LANGUAGE plpgsql AS "
        "$$DECLARE e varchar(20)[]; BEGIN END$$",
        "CREATE FUNCTION f(a pg_catalog.int4[], b pg_catalog.int4[], c text[], d double precision[]) RETURNS void "
        "LANGUAGE plpgsql AS $$DECLARE e varchar(20)[]; BEGIN END$$",
    ),
    (  # declarations: CONSTANT, quoted schemas, nested blocks; %TYPE, %ROWTYPE and cursors as written
        'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $b$DECLARE x CONSTANT app.mood := $$a$$; y "App".t; '
        "z app.t%ROWTYPE; w app.t.c%TYPE; c CURSOR FOR SELECT * FROM app.t; "
        "BEGIN DECLARE q storage.objects[]; BEGIN RETURN 1; END; END$b$",
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $b$DECLARE x CONSTANT public.mood := $$a$$; y public.t; "
        "z app.t%ROWTYPE; w app.t.c%TYPE; c CURSOR FOR SELECT * FROM app.t; "
        "BEGIN DECLARE q pg_catalog.int4[]; BEGIN RETURN 1; END; END$b$",
    ),
    (  # a body in a plain string, and a name before it that is not ASCII
        "CREATE FUNCTION übung() RETURNS app.t LANGUAGE plpgsql AS 'DECLARE v app.mood := ''x''; BEGIN END'",
        "CREATE FUNCTION übung() RETURNS public.t LANGUAGE plpgsql AS 'DECLARE v public.mood := ''x''; BEGIN END'",
    ),
    ("CREATE FUNCTION f(v public.t, w app.t%TYPE) RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN 1; END$$", None),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS E'DECLARE v app.mood; BEGIN RETURN 1; END'", None),
]


@pytest.mark.parametrize(("written", "read"), CASES)
def test_refused_types_are_renamed_and_nothing_else(written: str, read: str | None) -> None:
    assert next(readings(written), None) == read
    if read is not None:
        with pytest.raises(ParseError):
            parse_plpgsql_json(written)  # the case is one the parser refuses as written
        parse_plpgsql_json(read)  # and takes once renamed


INTO_LIST = (
    "CREATE FUNCTION f(job bigint) RETURNS void LANGUAGE plpgsql AS $$DECLARE s {status}; a boolean; r record; "
    "BEGIN SELECT status, aborted FROM jobs WHERE id = job INTO s, a; FOR r IN SELECT * FROM jobs LOOP END LOOP; END$$"
)


@pytest.mark.parametrize("status", ["job_status", "app.job_status"])
def test_a_type_taken_for_a_row_is_a_scalar_on_the_second_try(status: str) -> None:
    """procrastinate's functions: an enum variable in a multiple-item INTO list. Only the second try
    renames it; ``record`` stays, or the loop over rows would not parse."""
    written = INTO_LIST.format(status=status)
    *first, read = readings(written)  # a first reading only when a schema had to be renamed
    assert len(first) == (1 if "." in status else 0)
    with pytest.raises(ParseError, match="record variable cannot be part of multiple-item INTO list"):
        parse_plpgsql_json(first[0] if first else written)
    assert read == INTO_LIST.format(status="pg_catalog.int4")
    parse_plpgsql_json(read)


def test_a_row_whose_fields_the_body_assigns_keeps_its_error() -> None:
    written = "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$DECLARE r jobs; BEGIN r.id := 1; END$$"
    (read,) = readings(written)  # renamed, yet the parser refuses it: the caller keeps the first error
    with pytest.raises(ParseError):
        parse_plpgsql_json(read)
