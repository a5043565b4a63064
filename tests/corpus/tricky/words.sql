-- Identifiers and strings that merely contain the words.

-- expect: none
CREATE TABLE IF NOT EXISTS drop_column_log (truncate_at timestamptz, "delete all" text, drop_table boolean);

-- expect: none
INSERT INTO drop_column_log ("delete all") VALUES ('DROP TABLE users; TRUNCATE x; DELETE FROM y');

-- expect: none
SELECT 'ALTER TABLE t DROP COLUMN c' AS sql_text;

-- expect: none
COMMENT ON TABLE drop_column_log IS 'never DROP COLUMN here; TRUNCATE is fine';

-- expect: none
UPDATE drop_column_log SET drop_table = true WHERE truncate_at IS NULL;

-- expect: none
DELETE FROM drop_column_log WHERE drop_table;

-- expect: update-all
UPDATE drop_column_log SET drop_table = false;

-- expect: delete-all
WITH doomed AS (SELECT 1) DELETE FROM drop_column_log;

-- expect: none
DROP VIEW IF EXISTS drop_table_view;

-- expect: none
DROP FUNCTION IF EXISTS truncate_everything();

-- expect: none
DROP MATERIALIZED VIEW IF EXISTS mv_delete;
