-- The delivery path finds rows by id. The background sweeps (outbox relay, deferred release, expired
-- claims) each read one small in-flight set, so their indexes hold only that set: a sent row leaves
-- them, its updates insert no entries into them, and a statement keyed by id cannot be planned through
-- them (without statistics the planner took "dispatched_at IS NULL" over the primary key and scanned
-- every version of every row).
DROP INDEX "notifications_status_scheduled_for_idx";
DROP INDEX "notifications_status_dispatched_at_idx";

CREATE INDEX "notifications_outbox_idx" ON "notifications"("created_at") WHERE "status" = 'queued' AND "dispatched_at" IS NULL;
CREATE INDEX "notifications_deferred_idx" ON "notifications"("scheduled_for") WHERE "status" = 'deferred';
CREATE INDEX "notifications_sending_idx" ON "notifications"("claimed_until") WHERE "status" = 'sending';
