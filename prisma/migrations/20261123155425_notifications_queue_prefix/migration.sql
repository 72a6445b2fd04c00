-- AlterTable
ALTER TABLE "notification_batches" ADD COLUMN     "queue_prefix" TEXT NOT NULL DEFAULT 'nself.notifications';

-- AlterTable
ALTER TABLE "notifications" ADD COLUMN     "queue_prefix" TEXT NOT NULL DEFAULT 'nself.notifications';

