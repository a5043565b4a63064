-- Writes that hide below the top node, and bodies that run later. Each statement carries the
-- blocking rules it must raise (a body that is only created is a warning, so "none").

-- expect: delete-all
WITH gone AS (DELETE FROM workflow_insights RETURNING id) SELECT count(*) FROM gone;

-- expect: delete-all
INSERT INTO archive WITH gone AS (DELETE FROM projects RETURNING *) SELECT * FROM gone;

-- expect: delete-all
CREATE TABLE snapshot AS WITH gone AS (DELETE FROM projects RETURNING *) SELECT * FROM gone;

-- expect: write-protected
INSERT INTO workflow_insights (id, title) VALUES (1, 'x')
ON CONFLICT (id) DO UPDATE SET embedding = NULL, title = excluded.title;

-- expect: delete-all
MERGE INTO projects p USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE;

-- expect: update-all write-protected
EXPLAIN (ANALYZE, BUFFERS) UPDATE workflow_insights SET embedding = NULL;

-- expect: none
EXPLAIN UPDATE workflow_insights SET embedding = NULL WHERE id = 1;

-- expect: delete-all
COPY (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) TO STDOUT;

-- A prepared statement runs when executed.
-- expect: none
PREPARE wipe AS DELETE FROM workflow_insights;

-- expect: delete-all
EXECUTE wipe;

-- A rule's action runs when the rule fires.
-- expect: none
CREATE RULE log_insert AS ON INSERT TO audit DO ALSO DELETE FROM projects;

-- expect: delete-all
INSERT INTO audit VALUES (1);

-- An SQL function, as a string and as BEGIN ATOMIC: a warning while only created.
-- expect: none
CREATE FUNCTION purge() RETURNS void LANGUAGE sql AS $$ DELETE FROM workflow_insights $$;

-- expect: delete-all
SELECT purge();

-- expect: none
CREATE PROCEDURE reset_embeddings() LANGUAGE sql BEGIN ATOMIC UPDATE workflow_insights SET embedding = NULL WHERE id > 0; END;

-- expect: write-protected
CALL reset_embeddings();

-- PL/pgSQL: PERFORM, a FOR loop over a query, and a function that calls another.
-- expect: none
CREATE FUNCTION drop_old() RETURNS int LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN DELETE FROM sessions RETURNING * LOOP END LOOP;
    RETURN 1;
END $$;

-- expect: none
CREATE FUNCTION housekeeping() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM drop_old();
END $$;

-- expect: delete-all
DO $$ BEGIN PERFORM housekeeping(); END $$;

-- A trigger the file created fires on the write that follows.
-- expect: none
CREATE FUNCTION wipe_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE workflow_insights;
    RETURN NEW;
END $$;

-- It already blocks where it is created: the app's own inserts fire it from commit on, and
-- its body empties a protected column's table.
-- expect: truncate
CREATE TRIGGER wipe AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION wipe_on_insert();

-- expect: truncate
INSERT INTO events (id) VALUES (1);

-- A call of a function this file did not create is left to the run-time layer.
-- expect: none
SELECT app.cleanup();

-- format() of literals is folded and read as SQL.
-- expect: drop-table
DO $$ BEGIN EXECUTE format('DROP TABLE %I', 'projects'); END $$;

-- So are concat(), concat_ws(), quote_ident() and quote_literal() of literals.
-- expect: drop-table
DO $$ BEGIN EXECUTE concat('DROP TABLE ', 'projects'); END $$;

-- expect: drop-table
DO $$ BEGIN EXECUTE concat_ws(' ', 'DROP', 'TABLE', 'projects'); END $$;

-- expect: drop-table
DO $$ BEGIN EXECUTE 'DROP TABLE ' || quote_ident('Projects'); END $$;

-- expect: delete-all
DO $$ BEGIN EXECUTE 'DELETE FROM projects WHERE name = ' || quote_literal('x') || ' OR true'; END $$;

-- A prepared statement's parameter compared with itself is always true, as a column is.
-- expect: none
PREPARE purge (int) AS DELETE FROM projects WHERE $1 = $1;

-- expect: delete-all
EXECUTE purge(1);
