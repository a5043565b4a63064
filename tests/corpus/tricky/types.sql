-- Types a file creates or names itself (guard/created_types.py). Each "expect" line names the
-- blocking rules of the statement below it; the file is checked as one, in order.

-- Prisma's enum swap, as `prisma migrate dev` writes it to take a value out of "Role"
-- (its BEGIN and COMMIT left out: nyxops runs each file in a transaction of its own).
-- expect: none
CREATE TYPE "Role_new" AS ENUM ('USER', 'ADMIN');

-- expect: none
ALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;

-- The one statement that can refuse or change values: migrate plan counts them.
-- expect: alter-column-type
ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");

-- expect: none
ALTER TYPE "Role" RENAME TO "Role_old";

-- expect: none
ALTER TYPE "Role_new" RENAME TO "Role";

-- expect: none
DROP TYPE "Role_old";

-- expect: none
ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'USER';

-- A type of this file's own, even with CASCADE: every column of it was added by this file.
-- expect: none
CREATE DOMAIN scratch_email AS text CHECK (VALUE LIKE '%@%');

-- expect: none
ALTER DOMAIN scratch_email RENAME TO scratch_mail;

-- expect: none
DROP DOMAIN scratch_mail CASCADE;

-- expect: none
CREATE TYPE scratch_mood AS ENUM ('calm');

-- expect: none
ALTER TYPE scratch_mood RENAME VALUE 'calm' TO 'still';

-- Taken over, but the renamed type is kept: columns may still use it under its new name.
-- expect: rename-type
ALTER TYPE "Status" RENAME TO "Status_old";

-- expect: none
CREATE TYPE "Status" AS ENUM ('OPEN', 'DONE');

-- A swap in another schema, after SET search_path: names resolve there.
-- expect: none
SET search_path = billing, public;

-- expect: none
CREATE TYPE plan_new AS ENUM ('free', 'pro');

-- expect: rename-type
ALTER TYPE public.plan RENAME TO plan_old;

-- expect: none
ALTER TYPE plan RENAME TO plan_old;

-- expect: none
ALTER TYPE plan_new RENAME TO plan;

-- expect: none
DROP TYPE billing.plan_old;

-- public.plan_old is not the type that was swapped: its rename above stays blocking.
-- expect: drop-type
DROP TYPE public.plan_old CASCADE;
