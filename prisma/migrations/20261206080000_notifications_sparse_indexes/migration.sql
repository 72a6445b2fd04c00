-- Most notifications belong to no digest and have no provider message id until they are sent, yet a
-- btree keeps an entry for every NULL, and every row version (insert, dispatched, claimed, sent) adds
-- one. Indexing only the rows with a value keeps these indexes to the lookups they serve (closing a
-- digest, a provider's delivery webhook); an equality on the column implies the predicate.
DROP INDEX "notifications_provider_message_id_idx";
DROP INDEX "notifications_batch_id_idx";

CREATE INDEX "notifications_provider_message_id_idx" ON "notifications"("provider_message_id") WHERE "provider_message_id" IS NOT NULL;
CREATE INDEX "notifications_batch_id_idx" ON "notifications"("batch_id") WHERE "batch_id" IS NOT NULL;
