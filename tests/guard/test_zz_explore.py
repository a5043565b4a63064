import pytest
from pathlib import Path
from tests.helpers import add_migration, nyxops, scalar

NAME = "UPDATE workflow_insights SET title = title WHERE id = 'none';\n"
def dyn(*stmts):
    body = " ".join(f"EXECUTE {s};" for s in stmts)
    return NAME + "DO $$ DECLARE t text := (SELECT 'workflow_insights'); c text := (SELECT 'embedding'); BEGIN " + body + " END $$;\n"
CASES = {
 "rename_col": dyn("format('ALTER TABLE %I RENAME COLUMN %I TO e_old', t, c)"),
 "rename_col_readd": dyn("format('ALTER TABLE %I RENAME COLUMN %I TO e_old', t, c)", "format('ALTER TABLE %I ADD COLUMN %I vector(1536)', t, c)"),
 "rename_table_recreate": dyn("format('ALTER TABLE %I RENAME TO old_wi', t)", "format('CREATE TABLE %I (LIKE old_wi)', t)"),
 "set_schema": "CREATE SCHEMA arch;\n" + dyn("format('ALTER TABLE %I SET SCHEMA arch', t)"),
 "halfvec": dyn("format('ALTER TABLE %I ALTER COLUMN %I TYPE halfvec(1536)', t, c)"),
 "swap_values": dyn("format('UPDATE %I a SET %I = b.%I FROM %I b WHERE a.id < b.id AND a.id > %L', t, c, c, t, '')"),
}

@pytest.mark.parametrize("case", sorted(CASES))
def test_explore(case, env, db_url, migrations: Path) -> None:
    assert nyxops("migrate", "apply", env=env).code == 0
    add_migration(migrations, "0004_x.sql", CASES[case])
    before = scalar(db_url, "SELECT md5(string_agg(embedding::text, ',' ORDER BY id)) FROM workflow_insights")
    r = nyxops("migrate", "apply", env=env)
    try:
        after = scalar(db_url, "SELECT md5(string_agg(embedding::text, ',' ORDER BY id)) FROM workflow_insights")
    except Exception as e:
        after = repr(e)
    print(f"RESULT {case} apply={r.code} changed={before != after}")
    print(r.output[-400:])
    assert before == after
