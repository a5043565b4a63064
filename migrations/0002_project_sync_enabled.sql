-- Project Sync Phase 1: the per-project switch. NOT NULL with a constant default is instant on PostgreSQL 11+.
ALTER TABLE "Project" ADD COLUMN "syncEnabled" BOOLEAN NOT NULL DEFAULT FALSE;
