-- Bodies whose types libpg_query's PL/pgSQL parser cannot resolve on its own: a schema other than
-- public (graphile-worker writes every function so), an array of a type it does not know. The
-- guard reads them (guard/declared_types.py) as it reads any other: what they destroy blocks
-- where the file runs them. Each "expect" line names the blocking rules of the statement below it.

-- expect: none
CREATE FUNCTION worker.purge(specs worker.job_spec[], keep worker.jobs) RETURNS SETOF worker.jobs
LANGUAGE plpgsql AS $$
DECLARE
    j worker.jobs;
    flags CONSTANT worker.flag[] := ARRAY[]::worker.flag[];
BEGIN
    DELETE FROM worker.jobs;
    RETURN;
END $$;

-- expect: delete-all
SELECT * FROM worker.purge(ARRAY[]::worker.job_spec[], NULL);

-- A DO block runs at once: its nested block declares a type of another schema.
-- expect: write-protected
DO $$
BEGIN
    DECLARE
        r "Billing".invoice;
    BEGIN
        UPDATE workflow_insights SET embedding = NULL WHERE id = 1;
    END;
END $$;

-- The body in a string, not dollar quotes, and an array of an unqualified type of the app's.
-- expect: none
CREATE FUNCTION wipe(kinds mood[]) RETURNS void LANGUAGE plpgsql AS '
DECLARE
    m storage.objects;
BEGIN
    TRUNCATE projects;
END';

-- expect: truncate
SELECT wipe(ARRAY[]::mood[]);

-- procrastinate's shape: an enum variable in a multiple-item INTO list, which the parser takes
-- for a row until its type is read as a scalar.
-- expect: none
CREATE FUNCTION retry_job(job bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    _status job_status;
    _aborted boolean;
BEGIN
    SELECT status, aborted FROM jobs WHERE id = job FOR UPDATE INTO _status, _aborted;
    IF _status = 'doing' THEN
        UPDATE workflow_insights SET embedding = NULL;
    END IF;
END $$;

-- expect: update-all write-protected
SELECT retry_job(1);
