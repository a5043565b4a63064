-- Names resolved as PostgreSQL resolves them, allow comments only where they really are, and
-- the file's own context that makes a finding safe (or not).

-- A TEMP table shadows the permanent one: dropping it loses nothing.
-- expect: none
CREATE TEMP TABLE workflow_insights (id int);

-- expect: none
DROP TABLE workflow_insights;

-- ... but the permanent one, named in full, is still the permanent one.
-- expect: none
CREATE TEMP TABLE projects (id int);

-- expect: drop-table
DROP TABLE public.projects;

-- After SET search_path an unqualified name may be in either schema: the protected column
-- is among the candidates, and no allow comment can allow it.
-- expect: none
SET search_path = app, public;

-- nyxops:allow drop-column app.workflow_insights.embedding
-- expect: drop-column
ALTER TABLE workflow_insights DROP COLUMN embedding;

-- expect: none
RESET search_path;

-- An allow comment inside a block comment is no allow comment (block comments nest).
/* review notes /* nested */
-- nyxops:allow drop-table public.legacy
*/
-- expect: drop-table
DROP TABLE legacy;

-- A rename followed by a view under the old name keeps the running app working.
-- expect: none
ALTER TABLE accounts RENAME TO users;

-- expect: none
CREATE VIEW accounts AS SELECT * FROM users;

-- Without the view it blocks.
-- expect: rename-table
ALTER TABLE teams RENAME TO groups;

-- A view that shows less than the whole renamed table does not keep the app working: some
-- columns, a WHERE, renamed columns, or another table under the old name.
-- expect: rename-table
ALTER TABLE members RENAME TO people;

-- expect: none
CREATE VIEW members AS SELECT id FROM people;

-- expect: rename-table
ALTER TABLE orgs RENAME TO companies;

-- expect: none
CREATE VIEW orgs AS SELECT * FROM companies WHERE active;

-- expect: rename-table
ALTER TABLE tags RENAME TO labels;

-- expect: none
CREATE VIEW tags (tag_id, tag_name) AS SELECT * FROM labels;

-- expect: rename-table
ALTER TABLE notes RENAME TO memos;

-- expect: none
CREATE VIEW notes AS SELECT * FROM accounts;

-- The view may name the table in its star: SELECT drafts_v2.* is all of its columns.
-- expect: none
ALTER TABLE drafts RENAME TO drafts_v2;

-- expect: none
CREATE VIEW drafts AS SELECT drafts_v2.* FROM drafts_v2;

-- A table the file created is scaffolding until existing data is attached to it.
-- expect: none
CREATE TABLE events_new (id int, at date) PARTITION BY RANGE (at);

-- expect: none
ALTER TABLE events_new ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');

-- expect: drop-table
DROP TABLE events_new;

-- Unquoted names fold only their ASCII letters: the allow comment for "Übung" must match it.
-- nyxops:allow drop-table public.Übung
-- expect: none
DROP TABLE Übung;

-- expect: guard-tamper
SET session_replication_role = replica;

-- expect: move-table
ALTER TABLE workflow_insights SET SCHEMA archive;

-- A view is read like a table: renamed, the app loses it, unless a view keeps the old name.
-- expect: rename-view
ALTER VIEW recent_insights RENAME TO insights_recent;

-- expect: rename-view
ALTER MATERIALIZED VIEW insight_stats RENAME TO insight_stats_2026;

-- expect: none
ALTER VIEW open_tasks RENAME TO tasks_open;

-- expect: none
CREATE VIEW open_tasks AS SELECT * FROM tasks_open;
