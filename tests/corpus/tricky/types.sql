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

-- A swap in another schema, after SET search_path = billing, public: unqualified, a name may be
-- either schema's (PostgreSQL looks an existing type up along the path, and creates a new one in
-- the first schema of it that exists), so nothing is lifted; written qualified, the swap passes.
-- expect: none
SET search_path = billing, public;

-- expect: none
CREATE TYPE plan_new AS ENUM ('free', 'pro');

-- expect: rename-type
ALTER TYPE plan RENAME TO plan_old;

-- expect: rename-type
ALTER TYPE plan_new RENAME TO plan;

-- expect: drop-type
DROP TYPE plan_old;

-- expect: none
CREATE TYPE billing.seat_new AS ENUM ('one', 'many');

-- expect: none
ALTER TYPE billing.seat RENAME TO seat_old;

-- expect: none
ALTER TYPE billing.seat_new RENAME TO seat;

-- expect: none
DROP TYPE billing.seat_old;

-- public.seat_old is not the type that was swapped: with CASCADE it blocks.
-- expect: drop-type
DROP TYPE public.seat_old CASCADE;

-- The hand-written swap: the old type dropped (without CASCADE) before the new one takes its name.
-- expect: none
RESET search_path;

-- expect: none
CREATE TYPE "Tier_new" AS ENUM ('FREE', 'PRO');

-- expect: alter-column-type
ALTER TABLE public."Account" ALTER COLUMN tier TYPE "Tier_new" USING (tier::text::"Tier_new");

-- expect: none
DROP TYPE public."Tier";

-- expect: none
ALTER TYPE "Tier_new" RENAME TO "Tier";

-- Renamed away, dropped under the new name, then the name taken over: the same as the drop above.
-- expect: none
ALTER TYPE public."Kind" RENAME TO "Kind_old";

-- expect: none
DROP TYPE public."Kind_old";

-- expect: none
CREATE TYPE public."Kind" AS ENUM ('A');

-- Dropped and never taken over: the app's casts to "Plan" break.
-- expect: drop-type
DROP TYPE public."Plan";
