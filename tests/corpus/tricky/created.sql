-- Tables this file creates itself: dropping its own scaffolding loses nothing the database had.

-- expect: none
CREATE TABLE staging_insights (id text PRIMARY KEY, body text, flag boolean);

-- expect: none
INSERT INTO staging_insights SELECT id, content, false FROM workflow_insights;

-- expect: none
UPDATE staging_insights SET flag = true;

-- expect: none
ALTER TABLE staging_insights DROP COLUMN flag, ALTER COLUMN body TYPE varchar(200);

-- expect: truncate
TRUNCATE staging_insights;

-- expect: delete-all
DELETE FROM staging_insights;

-- expect: none
ALTER TABLE staging_insights RENAME COLUMN body TO content;

-- expect: none
ALTER TABLE staging_insights RENAME TO staging_done;

-- expect: none
DROP TABLE public.staging_done;

-- expect: drop-table
DROP TABLE staging_done;

-- expect: none
CREATE TEMP TABLE scratch AS SELECT id FROM workflow_insights;

-- expect: drop-table
DROP TABLE scratch, pipeline_insights;

-- expect: none
CREATE TABLE IF NOT EXISTS maybe_full (id int);

-- expect: drop-table
DROP TABLE maybe_full;

-- expect: none
CREATE TABLE archive.old_runs (id int);

-- expect: drop-table
DROP TABLE old_runs;

-- expect: none
CREATE TABLE swap_target (id int);

-- expect: none
DROP TABLE swap_target;

-- expect: rename-table
ALTER TABLE discussion_knowledge RENAME TO swap_target;

-- expect: drop-table
DROP TABLE swap_target;

-- expect: none
CREATE TABLE moved (id int);

-- expect: none
ALTER TABLE moved SET SCHEMA archive;

-- expect: drop-table
DROP TABLE archive.moved;

-- expect: none
CREATE TABLE copy_of_insights (LIKE workflow_insights);

-- expect: none
ALTER TABLE copy_of_insights DROP COLUMN embedding, DROP COLUMN title;

-- expect: none
CREATE TABLE "Staging" (id int);

-- expect: drop-table
DROP TABLE staging;

-- expect: none
DROP TABLE "Staging";

-- expect: none
CREATE UNLOGGED TABLE Upper_Case(id int);

-- expect: none
DROP TABLE upper_case;

-- A view this file created is its own scaffolding too; one it replaced may be the app's.
-- expect: none
CREATE VIEW staging_view AS SELECT 1 AS one;

-- expect: none
ALTER VIEW staging_view RENAME TO staging_view_done;

-- expect: none
CREATE OR REPLACE VIEW recent_insights AS SELECT id FROM workflow_insights;

-- expect: rename-view
ALTER VIEW recent_insights RENAME TO recent_insights_old;
