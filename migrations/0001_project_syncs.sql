-- Project Sync Phase 1: one row per project that is kept in sync with a git repository.
CREATE TABLE project_syncs (
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES "Project"(id) ON DELETE CASCADE,
    provider text NOT NULL DEFAULT 'github' CHECK (provider IN ('github', 'gitlab')),
    repository text NOT NULL,
    branch text NOT NULL DEFAULT 'main',
    status text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'syncing', 'failed')),
    last_synced_at timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, repository, branch)
);

CREATE INDEX project_syncs_project_id_idx ON project_syncs (project_id);
