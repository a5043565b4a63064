-- Every blocking rule in its less common spellings.

-- expect: truncate truncate
TRUNCATE TABLE ONLY a, public.b RESTART IDENTITY CASCADE;

-- expect: drop-table drop-table
DROP TABLE IF EXISTS a, "Weird ""Name""" CASCADE;

-- expect: drop-schema
DROP SCHEMA IF EXISTS legacy CASCADE;

-- expect: drop-database
DROP DATABASE IF EXISTS nyxcore_old WITH (FORCE);

-- expect: drop-extension
DROP EXTENSION IF EXISTS vector CASCADE;

-- expect: drop-type
DROP DOMAIN email_address CASCADE;

-- expect: drop-owned
DROP OWNED BY legacy_role;

-- expect: alter-column-type
ALTER TABLE workflow_insights ALTER COLUMN embedding TYPE vector(768) USING embedding::vector(768);

-- expect: rename-table
ALTER TABLE IF EXISTS ONLY workflow_insights RENAME TO insights;

-- expect: drop-column
ALTER FOREIGN TABLE remote_items DROP COLUMN payload;

-- expect: drop-column
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE column_name = 'old_flag') THEN
        EXECUTE 'ALTER TABLE legacy DROP COLUMN old_flag';
    END IF;
END
$$;

-- format() of literals is folded like ||: the statement it builds is read as SQL.
-- expect: drop-column
DO $$
BEGIN
    EXECUTE format('ALTER TABLE %I DROP COLUMN %I', 'workflow_insights', 'embedding');
END
$$;

-- Built from a variable declared with literals and never written again: read as that literal.
-- expect: drop-column
DO $$
DECLARE col text := 'embed' || 'ding';
BEGIN
    EXECUTE format('ALTER TABLE %I DROP COLUMN %I', 'workflow_insights', col);
END
$$;

-- Built from a value read at run time: only the runtime guard can see it (a warning here).
-- expect: none
DO $$
DECLARE col text;
BEGIN
    SELECT attname INTO col FROM pg_attribute WHERE attrelid = 'workflow_insights'::regclass AND attnum = 3;
    EXECUTE format('ALTER TABLE %I DROP COLUMN %I', 'workflow_insights', col);
END
$$;

-- expect: delete-all
DO LANGUAGE plpgsql $$ BEGIN DELETE FROM pipeline_insights; END $$;

-- expect: none
CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := now(); RETURN NEW; END $$;

-- expect: drop-column
-- nyxops:allow drop-column public.legacy.keep_me
ALTER TABLE legacy DROP COLUMN keep_me, DROP COLUMN not_allowed;
