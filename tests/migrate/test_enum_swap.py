"""Prisma's enum swap, applied to real PostgreSQL: what lint lets through (guard/created_types.py)
loses nothing, and the premise it rests on holds: a drop without CASCADE is refused while
anything still uses the type, and the whole file rolls back with it."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.helpers import add_migration, nyxops, scalar, snapshot

SEED = """
CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN', 'GUEST');
CREATE TABLE "Member" (id serial PRIMARY KEY, role "Role" NOT NULL DEFAULT 'USER');
INSERT INTO "Member" (role) VALUES ('USER'), ('USER'), ('USER'), ('ADMIN'), ('ADMIN');
"""
SWAP = """-- AlterEnum (as Prisma writes it: nyxops leaves the pair out, the file is one transaction)
BEGIN;
CREATE TYPE "Role_new" AS ENUM ('USER', 'ADMIN');
ALTER TABLE "Member" ALTER COLUMN "role" DROP DEFAULT;
-- nyxops:allow alter-column-type public."Member".role
ALTER TABLE "Member" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "Member" ALTER COLUMN "role" SET DEFAULT 'USER';
COMMIT;
"""
BY_HAND = SWAP.replace(
    'ALTER TYPE "Role" RENAME TO "Role_old";\nALTER TYPE "Role_new" RENAME TO "Role";\nDROP TYPE "Role_old";\n',
    'DROP TYPE "Role";\nALTER TYPE "Role_new" RENAME TO "Role";\n',
)
"""The hand-written variant: the old type dropped before the new one takes its name."""
assert BY_HAND != SWAP
FORMS = pytest.mark.parametrize("swap", [SWAP, BY_HAND], ids=["prisma", "by-hand"])
ROLES = """SELECT string_agg(role::text || '=' || n, ',' ORDER BY role::text)
           FROM (SELECT role, count(*) AS n FROM "Member" GROUP BY role) counts"""
TYPES = "SELECT string_agg(typname, ',' ORDER BY typname) FROM pg_type WHERE typname LIKE 'Role%' AND typtype = 'e'"


def _seed(db_url: str, extra: str = "") -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(SEED + extra)


@FORMS
def test_prisma_enum_swap_lints_with_only_the_type_change_and_applies_with_every_value(
    env, db_url, migrations: Path, swap: str
) -> None:
    assert swap.count("DROP TYPE") == 1
    path = add_migration(migrations, "0004_role_without_guest.sql", swap.replace("-- nyxops:allow", "-- no allow"))
    lint = nyxops("lint", str(path), env=env)
    assert lint.code == 1, lint.output
    assert "1 blocking" in lint.output and "[alter-column-type]" in lint.output
    assert "keeps working" in lint.output  # the rename of Role, lifted and said why

    _seed(db_url)
    add_migration(migrations, "0004_role_without_guest.sql", swap)
    plan = nyxops("migrate", "plan", "--json", env=env)
    assert plan.code == 0, plan.output
    values = [v for s in json.loads(plan.stdout)["statements"] for v in s["values"]]
    assert values == ['public."Member".role to "Role_new": 0 of 5 values change']
    result = nyxops("migrate", "apply", env=env)
    assert result.code == 0, result.output
    assert scalar(db_url, ROLES) == "ADMIN=2,USER=3"
    assert scalar(db_url, TYPES) == "Role"
    assert scalar(db_url, """SELECT enum_range(NULL::"Role")::text""") == "{USER,ADMIN}"
    with psycopg.connect(db_url) as conn:  # the app's own cast, by the name it always used
        conn.execute("""INSERT INTO "Member" (role) VALUES (CAST('ADMIN' AS "Role"))""")
    assert scalar(db_url, ROLES) == "ADMIN=3,USER=3"


@FORMS
def test_a_column_left_on_the_old_type_makes_postgresql_refuse_the_drop_and_nothing_is_committed(
    env, db_url, migrations: Path, swap: str
) -> None:
    """Lint cannot see the database's other columns of "Role"; PostgreSQL can, and refuses the drop."""
    assert nyxops("migrate", "apply", env=env).code == 0  # the repository's own files first
    _seed(
        db_url, """CREATE TABLE "Invite" (id int PRIMARY KEY, role "Role"); INSERT INTO "Invite" VALUES (1, 'GUEST');"""
    )
    before = snapshot(db_url)
    add_migration(migrations, "0004_role_without_guest.sql", swap)
    result = nyxops("migrate", "apply", env=env)
    assert result.code != 0, result.output
    dropped = '"Role_old"' if swap is SWAP else '"Role"'
    assert f"cannot drop type {dropped}" in result.stderr
    assert f'column role of table "Invite" depends on type {dropped}' in result.stderr  # what holds it
    assert "Do not add CASCADE" in result.stderr and "Use DROP ... CASCADE" not in result.stderr
    assert snapshot(db_url) == before
    assert scalar(db_url, """SELECT enum_range(NULL::"Role")::text""") == "{USER,ADMIN,GUEST}"
    assert scalar(db_url, TYPES) == "Role"
    assert scalar(db_url, """SELECT role::text FROM "Invite" """) == "GUEST"


def test_the_plan_names_the_value_the_new_enum_lacks_before_anything_is_applied(env, db_url, migrations: Path) -> None:
    _seed(db_url, """INSERT INTO "Member" (role) VALUES ('GUEST');""")
    add_migration(migrations, "0004_role_without_guest.sql", SWAP)
    plan = nyxops("migrate", "plan", "--json", env=env)
    assert plan.code == 1, plan.output
    values = [v for s in json.loads(plan.stdout)["statements"] for v in s["values"]]
    assert values == [
        'public."Member".role to "Role_new": the cast fails on existing values '
        '(invalid input value for enum "Role_new": "GUEST")'
    ]
    assert scalar(db_url, ROLES) == "ADMIN=2,GUEST=1,USER=3"  # rolled back
