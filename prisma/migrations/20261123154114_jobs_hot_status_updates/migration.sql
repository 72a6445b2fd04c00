-- DropIndex
DROP INDEX "jobs_source_account_id_queue_status_idx";

-- CreateIndex
CREATE INDEX "jobs_source_account_id_id_idx" ON "jobs"("source_account_id", "id");

-- Free room on every page for HOT updates of the job mirror (status changes touch no index).
-- A storage parameter: invisible to Prisma's schema diff, so it never shows up as drift.
ALTER TABLE "jobs" SET (fillfactor = 70);
