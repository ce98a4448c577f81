-- CreateTable
CREATE TABLE "chord_contexts" (
    "context_id" TEXT COLLATE "C" NOT NULL,
    "context" JSONB NOT NULL,
    "version" BIGINT NOT NULL,
    "inserted_at" BIGINT NOT NULL,

    CONSTRAINT "chord_contexts_pkey" PRIMARY KEY ("context_id")
);

-- CreateTable
CREATE TABLE "chord_deltas" (
    "context_id" TEXT COLLATE "C" NOT NULL,
    "delta" JSONB NOT NULL,
    "version" BIGINT NOT NULL,
    "inserted_at" BIGINT NOT NULL,

    CONSTRAINT "chord_deltas_pkey" PRIMARY KEY ("context_id","version")
);

-- CreateIndex
CREATE INDEX "chord_contexts_inserted_at_idx" ON "chord_contexts"("inserted_at");

-- CreateIndex
CREATE INDEX "chord_deltas_inserted_at_idx" ON "chord_deltas"("inserted_at");
