-- Shapes prisma migrate / db push writes. Each "expect" line names the blocking rules of the statement below it.

-- expect: drop-column
ALTER TABLE "workflow_insights" DROP COLUMN "embedding",
ADD COLUMN     "embedding" vector(1536);

-- expect: none
ALTER TABLE "Project" ADD COLUMN "syncEnabled" BOOLEAN NOT NULL DEFAULT false;

-- expect: alter-column-type
ALTER TABLE "User" ALTER COLUMN "email" SET DATA TYPE VARCHAR(320);

-- expect: drop-table
DROP TABLE "_prisma_old_Sessions";

-- expect: none
ALTER TABLE "project_syncs" DROP CONSTRAINT "project_syncs_project_id_fkey";

-- expect: none
DROP INDEX "User_email_key";

-- expect: drop-type
DROP TYPE "Role_old";

-- expect: none
ALTER TYPE "Role" ADD VALUE 'OWNER';

-- expect: rename-column
ALTER TABLE "Project" RENAME COLUMN "userId" TO "ownerId";

-- expect: none
ALTER TABLE "Project" ALTER COLUMN "name" DROP NOT NULL, ALTER COLUMN "name" DROP DEFAULT;

-- expect: none
CREATE UNIQUE INDEX CONCURRENTLY "Project_name_key" ON "Project"("name");

-- expect: drop-column drop-column
ALTER TABLE ONLY public."Project" DROP "a" CASCADE, DROP COLUMN IF EXISTS b RESTRICT;
