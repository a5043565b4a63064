-- Project Sync Phase 1: a user sees and changes only the syncs of their own projects.
-- The app sets app.current_user_id per request; without it, no rows are visible.
ALTER TABLE project_syncs ENABLE ROW LEVEL SECURITY;

CREATE POLICY project_syncs_owner_select ON project_syncs
    FOR SELECT
    USING (project_id IN (
        SELECT id FROM "Project" WHERE "userId" = current_setting('app.current_user_id', true)
    ));

CREATE POLICY project_syncs_owner_write ON project_syncs
    FOR ALL
    USING (project_id IN (
        SELECT id FROM "Project" WHERE "userId" = current_setting('app.current_user_id', true)
    ))
    WITH CHECK (project_id IN (
        SELECT id FROM "Project" WHERE "userId" = current_setting('app.current_user_id', true)
    ));
