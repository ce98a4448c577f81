-- AlterTable: each context row gets the epoch of its current life. Existing rows each get a new
-- one (a volatile default is evaluated per row), so a client's old (epoch-less) version never
-- matches and it is sent the full context once.
ALTER TABLE "chord_contexts" ADD COLUMN "epoch" TEXT NOT NULL DEFAULT (gen_random_uuid())::text;
