-- CreateTable
CREATE TABLE "file_metadata" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "owner_id" TEXT,
    "bucket" TEXT NOT NULL,
    "object_key" TEXT NOT NULL,
    "original_name" TEXT,
    "mime_type" TEXT NOT NULL,
    "declared_mime_type" TEXT,
    "size_bytes" BIGINT NOT NULL,
    "sha256" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'uploaded',
    "width" INTEGER,
    "height" INTEGER,
    "format" TEXT,
    "pages" INTEGER,
    "duration_ms" INTEGER,
    "exif" JSONB NOT NULL DEFAULT '{}',
    "optimized_key" TEXT,
    "optimized_bytes" BIGINT,
    "poster_key" TEXT,
    "quarantined" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "file_metadata_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "file_processing_jobs" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "file_id" UUID NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'queued',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "error_code" TEXT,
    "error" TEXT,
    "request_id" TEXT,
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "file_processing_jobs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "file_thumbnails" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "file_id" UUID NOT NULL,
    "size_label" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "width" INTEGER NOT NULL,
    "height" INTEGER NOT NULL,
    "object_key" TEXT NOT NULL,
    "size_bytes" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "file_thumbnails_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "file_scans" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "file_id" UUID NOT NULL,
    "engine" TEXT NOT NULL DEFAULT 'clamav',
    "status" TEXT NOT NULL,
    "signature" TEXT,
    "error" TEXT,
    "duration_ms" INTEGER,
    "scanned_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "file_scans_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idme_verifications" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "user_id" TEXT NOT NULL,
    "idme_subject" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "scopes" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "access_token_enc" TEXT,
    "refresh_token_enc" TEXT,
    "token_expires_at" TIMESTAMPTZ(3),
    "verified_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idme_verifications_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idme_groups" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "verification_id" UUID NOT NULL,
    "user_id" TEXT NOT NULL,
    "group" TEXT NOT NULL,
    "subgroups" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "verified" BOOLEAN NOT NULL DEFAULT false,
    "verified_at" TIMESTAMPTZ(3),
    "expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idme_groups_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idme_badges" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "verification_id" UUID NOT NULL,
    "user_id" TEXT NOT NULL,
    "group" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "icon" TEXT,
    "color" TEXT,
    "display_order" INTEGER NOT NULL DEFAULT 0,
    "expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idme_badges_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idme_attributes" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "verification_id" UUID NOT NULL,
    "user_id" TEXT NOT NULL,
    "handle" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "value" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idme_attributes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idme_oauth_states" (
    "state_hash" TEXT NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "user_id" TEXT NOT NULL,
    "browser_hash" TEXT NOT NULL,
    "code_verifier_enc" TEXT NOT NULL,
    "nonce" TEXT NOT NULL,
    "return_to" TEXT,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "consumed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idme_oauth_states_pkey" PRIMARY KEY ("state_hash")
);

-- CreateTable
CREATE TABLE "idme_webhook_events" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "event_id" TEXT NOT NULL,
    "event_type" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idme_webhook_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "jobs" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "queue" TEXT NOT NULL,
    "bullmq_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'waiting',
    "priority" INTEGER NOT NULL DEFAULT 0,
    "payload" JSONB NOT NULL DEFAULT '{}',
    "attempts_made" INTEGER NOT NULL DEFAULT 0,
    "max_attempts" INTEGER NOT NULL DEFAULT 1,
    "delay_ms" INTEGER NOT NULL DEFAULT 0,
    "timeout_ms" INTEGER,
    "schedule_id" UUID,
    "created_by" TEXT,
    "request_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "jobs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job_results" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "job_id" UUID NOT NULL,
    "result" JSONB,
    "duration_ms" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_results_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job_failures" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "job_id" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "error" TEXT NOT NULL,
    "error_name" TEXT,
    "is_final" BOOLEAN NOT NULL DEFAULT false,
    "failed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_failures_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job_schedules" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "name" TEXT NOT NULL,
    "queue" TEXT NOT NULL DEFAULT 'default',
    "type" TEXT NOT NULL,
    "cron" TEXT NOT NULL,
    "timezone" TEXT NOT NULL DEFAULT 'UTC',
    "payload" JSONB NOT NULL DEFAULT '{}',
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "last_run_at" TIMESTAMPTZ(3),
    "next_run_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_schedules_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job_types" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "signing_secret" TEXT NOT NULL,
    "timeout_ms" INTEGER NOT NULL DEFAULT 30000,
    "description" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_types_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "notification_templates" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "name" TEXT NOT NULL,
    "description" TEXT,
    "category" TEXT NOT NULL DEFAULT 'general',
    "channels" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "version" INTEGER NOT NULL DEFAULT 1,
    "subject" TEXT,
    "body_text" TEXT,
    "body_html" TEXT,
    "push_title" TEXT,
    "push_body" TEXT,
    "sms_body" TEXT,
    "variables" JSONB NOT NULL DEFAULT '[]',
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notification_templates_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "notification_preferences" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "user_id" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "category" TEXT NOT NULL DEFAULT '*',
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "address" TEXT,
    "quiet_hours_start" TEXT,
    "quiet_hours_end" TEXT,
    "timezone" TEXT NOT NULL DEFAULT 'UTC',
    "digest_frequency" TEXT NOT NULL DEFAULT 'none',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notification_preferences_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "notifications" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "user_id" TEXT NOT NULL,
    "template_name" TEXT NOT NULL,
    "template_version" INTEGER,
    "channel" TEXT NOT NULL,
    "category" TEXT NOT NULL DEFAULT 'general',
    "priority" TEXT NOT NULL DEFAULT 'normal',
    "status" TEXT NOT NULL DEFAULT 'queued',
    "recipient" TEXT,
    "subject" TEXT,
    "data" JSONB NOT NULL DEFAULT '{}',
    "provider" TEXT,
    "provider_message_id" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "max_attempts" INTEGER NOT NULL DEFAULT 5,
    "last_error" TEXT,
    "idempotency_key" TEXT,
    "batch_id" UUID,
    "request_id" TEXT,
    "scheduled_for" TIMESTAMPTZ(3),
    "sent_at" TIMESTAMPTZ(3),
    "delivered_at" TIMESTAMPTZ(3),
    "failed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notifications_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "notification_queue" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "notification_id" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "provider" TEXT,
    "error" TEXT,
    "next_attempt_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notification_queue_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "notification_providers" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "channel" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "priority" INTEGER NOT NULL DEFAULT 100,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "config" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notification_providers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "notification_batches" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "user_id" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    "frequency" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'open',
    "item_count" INTEGER NOT NULL DEFAULT 0,
    "send_after" TIMESTAMPTZ(3) NOT NULL,
    "sent_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notification_batches_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "realtime_rooms" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL DEFAULT 'channel',
    "visibility" TEXT NOT NULL DEFAULT 'public',
    "description" TEXT,
    "max_members" INTEGER,
    "owner_id" TEXT,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "last_message_seq" BIGINT NOT NULL DEFAULT 0,
    "last_message_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "realtime_rooms_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "realtime_room_members" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "room_id" UUID NOT NULL,
    "user_id" TEXT NOT NULL,
    "role" TEXT NOT NULL DEFAULT 'member',
    "muted_until" TIMESTAMPTZ(3),
    "banned_at" TIMESTAMPTZ(3),
    "ban_reason" TEXT,
    "last_read_seq" BIGINT NOT NULL DEFAULT 0,
    "joined_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "realtime_room_members_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "realtime_connections" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "socket_id" TEXT NOT NULL,
    "user_id" TEXT,
    "instance_id" TEXT NOT NULL,
    "transport" TEXT,
    "ip_address" TEXT,
    "user_agent" TEXT,
    "device" JSONB NOT NULL DEFAULT '{}',
    "status" TEXT NOT NULL DEFAULT 'connected',
    "latency_ms" INTEGER,
    "connected_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "disconnected_at" TIMESTAMPTZ(3),
    "disconnect_reason" TEXT,

    CONSTRAINT "realtime_connections_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "realtime_presence" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "user_id" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'offline',
    "status_text" TEXT,
    "status_emoji" TEXT,
    "connection_count" INTEGER NOT NULL DEFAULT 0,
    "last_active_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "realtime_presence_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "realtime_typing" (
    "id" UUID NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "room_id" UUID NOT NULL,
    "thread_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "realtime_typing_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "realtime_events" (
    "id" BIGSERIAL NOT NULL,
    "source_account_id" TEXT NOT NULL DEFAULT 'primary',
    "event_type" TEXT NOT NULL,
    "socket_id" TEXT,
    "user_id" TEXT,
    "room_id" UUID,
    "instance_id" TEXT,
    "ip_address" TEXT,
    "payload" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "realtime_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "file_metadata_source_account_id_sha256_idx" ON "file_metadata"("source_account_id", "sha256");

-- CreateIndex
CREATE INDEX "file_metadata_source_account_id_owner_id_created_at_idx" ON "file_metadata"("source_account_id", "owner_id", "created_at");

-- CreateIndex
CREATE INDEX "file_metadata_status_idx" ON "file_metadata"("status");

-- CreateIndex
CREATE UNIQUE INDEX "file_metadata_bucket_object_key_key" ON "file_metadata"("bucket", "object_key");

-- CreateIndex
CREATE INDEX "file_processing_jobs_file_id_idx" ON "file_processing_jobs"("file_id");

-- CreateIndex
CREATE INDEX "file_processing_jobs_source_account_id_status_idx" ON "file_processing_jobs"("source_account_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "file_thumbnails_file_id_size_label_format_key" ON "file_thumbnails"("file_id", "size_label", "format");

-- CreateIndex
CREATE INDEX "file_scans_file_id_scanned_at_idx" ON "file_scans"("file_id", "scanned_at");

-- CreateIndex
CREATE INDEX "file_scans_source_account_id_status_idx" ON "file_scans"("source_account_id", "status");

-- CreateIndex
CREATE INDEX "idme_verifications_idme_subject_idx" ON "idme_verifications"("idme_subject");

-- CreateIndex
CREATE UNIQUE INDEX "idme_verifications_source_account_id_user_id_key" ON "idme_verifications"("source_account_id", "user_id");

-- CreateIndex
CREATE INDEX "idme_groups_source_account_id_user_id_idx" ON "idme_groups"("source_account_id", "user_id");

-- CreateIndex
CREATE INDEX "idme_groups_source_account_id_group_verified_idx" ON "idme_groups"("source_account_id", "group", "verified");

-- CreateIndex
CREATE UNIQUE INDEX "idme_groups_verification_id_group_key" ON "idme_groups"("verification_id", "group");

-- CreateIndex
CREATE INDEX "idme_badges_source_account_id_user_id_idx" ON "idme_badges"("source_account_id", "user_id");

-- CreateIndex
CREATE UNIQUE INDEX "idme_badges_verification_id_group_key" ON "idme_badges"("verification_id", "group");

-- CreateIndex
CREATE INDEX "idme_attributes_source_account_id_user_id_idx" ON "idme_attributes"("source_account_id", "user_id");

-- CreateIndex
CREATE UNIQUE INDEX "idme_attributes_verification_id_handle_key" ON "idme_attributes"("verification_id", "handle");

-- CreateIndex
CREATE INDEX "idme_oauth_states_expires_at_idx" ON "idme_oauth_states"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "idme_webhook_events_event_id_key" ON "idme_webhook_events"("event_id");

-- CreateIndex
CREATE INDEX "jobs_source_account_id_queue_status_idx" ON "jobs"("source_account_id", "queue", "status");

-- CreateIndex
CREATE INDEX "jobs_source_account_id_type_created_at_idx" ON "jobs"("source_account_id", "type", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "jobs_queue_bullmq_id_key" ON "jobs"("queue", "bullmq_id");

-- CreateIndex
CREATE UNIQUE INDEX "job_results_job_id_key" ON "job_results"("job_id");

-- CreateIndex
CREATE INDEX "job_failures_source_account_id_failed_at_idx" ON "job_failures"("source_account_id", "failed_at");

-- CreateIndex
CREATE UNIQUE INDEX "job_failures_job_id_attempt_key" ON "job_failures"("job_id", "attempt");

-- CreateIndex
CREATE INDEX "job_schedules_enabled_idx" ON "job_schedules"("enabled");

-- CreateIndex
CREATE UNIQUE INDEX "job_schedules_source_account_id_name_key" ON "job_schedules"("source_account_id", "name");

-- CreateIndex
CREATE UNIQUE INDEX "job_types_source_account_id_name_key" ON "job_types"("source_account_id", "name");

-- CreateIndex
CREATE UNIQUE INDEX "notification_templates_source_account_id_name_key" ON "notification_templates"("source_account_id", "name");

-- CreateIndex
CREATE UNIQUE INDEX "notification_preferences_source_account_id_user_id_channel__key" ON "notification_preferences"("source_account_id", "user_id", "channel", "category");

-- CreateIndex
CREATE INDEX "notifications_source_account_id_user_id_created_at_idx" ON "notifications"("source_account_id", "user_id", "created_at");

-- CreateIndex
CREATE INDEX "notifications_status_scheduled_for_idx" ON "notifications"("status", "scheduled_for");

-- CreateIndex
CREATE INDEX "notifications_provider_message_id_idx" ON "notifications"("provider_message_id");

-- CreateIndex
CREATE UNIQUE INDEX "notifications_source_account_id_idempotency_key_channel_key" ON "notifications"("source_account_id", "idempotency_key", "channel");

-- CreateIndex
CREATE INDEX "notification_queue_notification_id_attempt_idx" ON "notification_queue"("notification_id", "attempt");

-- CreateIndex
CREATE UNIQUE INDEX "notification_providers_source_account_id_channel_name_key" ON "notification_providers"("source_account_id", "channel", "name");

-- CreateIndex
CREATE INDEX "notification_batches_status_send_after_idx" ON "notification_batches"("status", "send_after");

-- CreateIndex
CREATE INDEX "notification_batches_source_account_id_user_id_channel_cate_idx" ON "notification_batches"("source_account_id", "user_id", "channel", "category", "status");

-- CreateIndex
CREATE INDEX "realtime_rooms_source_account_id_visibility_is_active_idx" ON "realtime_rooms"("source_account_id", "visibility", "is_active");

-- CreateIndex
CREATE UNIQUE INDEX "realtime_rooms_source_account_id_name_key" ON "realtime_rooms"("source_account_id", "name");

-- CreateIndex
CREATE INDEX "realtime_room_members_source_account_id_user_id_idx" ON "realtime_room_members"("source_account_id", "user_id");

-- CreateIndex
CREATE UNIQUE INDEX "realtime_room_members_room_id_user_id_key" ON "realtime_room_members"("room_id", "user_id");

-- CreateIndex
CREATE UNIQUE INDEX "realtime_connections_socket_id_key" ON "realtime_connections"("socket_id");

-- CreateIndex
CREATE INDEX "realtime_connections_source_account_id_user_id_idx" ON "realtime_connections"("source_account_id", "user_id");

-- CreateIndex
CREATE INDEX "realtime_connections_status_last_seen_at_idx" ON "realtime_connections"("status", "last_seen_at");

-- CreateIndex
CREATE INDEX "realtime_connections_instance_id_status_idx" ON "realtime_connections"("instance_id", "status");

-- CreateIndex
CREATE INDEX "realtime_presence_source_account_id_status_idx" ON "realtime_presence"("source_account_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "realtime_presence_source_account_id_user_id_key" ON "realtime_presence"("source_account_id", "user_id");

-- CreateIndex
CREATE INDEX "realtime_typing_expires_at_idx" ON "realtime_typing"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "realtime_typing_room_id_thread_id_user_id_key" ON "realtime_typing"("room_id", "thread_id", "user_id");

-- CreateIndex
CREATE INDEX "realtime_events_source_account_id_created_at_idx" ON "realtime_events"("source_account_id", "created_at");

-- CreateIndex
CREATE INDEX "realtime_events_event_type_created_at_idx" ON "realtime_events"("event_type", "created_at");

-- CreateIndex
CREATE INDEX "realtime_events_room_id_created_at_idx" ON "realtime_events"("room_id", "created_at");

-- AddForeignKey
ALTER TABLE "file_processing_jobs" ADD CONSTRAINT "file_processing_jobs_file_id_fkey" FOREIGN KEY ("file_id") REFERENCES "file_metadata"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "file_thumbnails" ADD CONSTRAINT "file_thumbnails_file_id_fkey" FOREIGN KEY ("file_id") REFERENCES "file_metadata"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "file_scans" ADD CONSTRAINT "file_scans_file_id_fkey" FOREIGN KEY ("file_id") REFERENCES "file_metadata"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "idme_groups" ADD CONSTRAINT "idme_groups_verification_id_fkey" FOREIGN KEY ("verification_id") REFERENCES "idme_verifications"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "idme_badges" ADD CONSTRAINT "idme_badges_verification_id_fkey" FOREIGN KEY ("verification_id") REFERENCES "idme_verifications"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "idme_attributes" ADD CONSTRAINT "idme_attributes_verification_id_fkey" FOREIGN KEY ("verification_id") REFERENCES "idme_verifications"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_schedule_id_fkey" FOREIGN KEY ("schedule_id") REFERENCES "job_schedules"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "job_results" ADD CONSTRAINT "job_results_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "job_failures" ADD CONSTRAINT "job_failures_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_batch_id_fkey" FOREIGN KEY ("batch_id") REFERENCES "notification_batches"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "notification_queue" ADD CONSTRAINT "notification_queue_notification_id_fkey" FOREIGN KEY ("notification_id") REFERENCES "notifications"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "realtime_room_members" ADD CONSTRAINT "realtime_room_members_room_id_fkey" FOREIGN KEY ("room_id") REFERENCES "realtime_rooms"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "realtime_typing" ADD CONSTRAINT "realtime_typing_room_id_fkey" FOREIGN KEY ("room_id") REFERENCES "realtime_rooms"("id") ON DELETE CASCADE ON UPDATE CASCADE;
