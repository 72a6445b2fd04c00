-- AlterTable
ALTER TABLE "notifications" ADD COLUMN     "claim_token" UUID,
ADD COLUMN     "claimed_until" TIMESTAMPTZ(3),
ADD COLUMN     "content" JSONB,
ADD COLUMN     "dispatched_at" TIMESTAMPTZ(3),
ADD COLUMN     "kind" TEXT NOT NULL DEFAULT 'single';

-- CreateTable
CREATE TABLE "notification_template_versions" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "template_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "category" TEXT NOT NULL,
    "channels" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "subject" TEXT,
    "body_text" TEXT,
    "body_html" TEXT,
    "push_title" TEXT,
    "push_body" TEXT,
    "sms_body" TEXT,
    "variables" JSONB NOT NULL DEFAULT '[]',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notification_template_versions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "notification_idempotency_keys" (
    "source_account_id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "status_code" INTEGER,
    "response" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "notification_idempotency_keys_pkey" PRIMARY KEY ("source_account_id","key")
);

-- CreateIndex
CREATE INDEX "notification_template_versions_template_id_idx" ON "notification_template_versions"("template_id");

-- CreateIndex
CREATE UNIQUE INDEX "notification_template_versions_source_account_id_name_versi_key" ON "notification_template_versions"("source_account_id", "name", "version");

-- CreateIndex
CREATE INDEX "notification_idempotency_keys_expires_at_idx" ON "notification_idempotency_keys"("expires_at");

-- CreateIndex
CREATE INDEX "notifications_status_dispatched_at_idx" ON "notifications"("status", "dispatched_at");

-- CreateIndex
CREATE INDEX "notifications_batch_id_idx" ON "notifications"("batch_id");

-- AddForeignKey
ALTER TABLE "notification_template_versions" ADD CONSTRAINT "notification_template_versions_template_id_fkey" FOREIGN KEY ("template_id") REFERENCES "notification_templates"("id") ON DELETE CASCADE ON UPDATE CASCADE;

