-- CreateTable: per context and client, the last write id applied through the sync route and the
-- version and epoch it produced, so a retried write is answered from here instead of applied again.
CREATE TABLE "chord_writes" (
    "context_id" TEXT COLLATE "C" NOT NULL,
    "client_id" TEXT COLLATE "C" NOT NULL,
    "write_id" BIGINT NOT NULL,
    "version" BIGINT NOT NULL,
    "epoch" TEXT NOT NULL,
    "inserted_at" BIGINT NOT NULL,

    CONSTRAINT "chord_writes_pkey" PRIMARY KEY ("context_id","client_id")
);

-- CreateIndex
CREATE INDEX "chord_writes_inserted_at_idx" ON "chord_writes"("inserted_at");
