/**
 * The domain events services publish on the shared topic exchange. The routing key is the event type.
 * `userId` is the user the event concerns; realtime relays events that carry one to that user's sockets.
 */
export interface EventPayloads {
  'file.uploaded': { fileId: string; mimeType: string; sizeBytes: number };
  'file.processed': { fileId: string; jobId: string; thumbnails: number; mimeType: string };
  'file.infected': { fileId: string; jobId: string; signature: string };
  'file.failed': { fileId: string; jobId: string; code: string; error: string };
  'job.completed': { jobId: string; queue: string; type: string };
  'job.failed': { jobId: string; queue: string; type: string; error: string; attempts: number };
  'notification.sent': { notificationId: string; channel: string; provider: string };
  'notification.failed': { notificationId: string; channel: string; error: string };
  'idme.verified': { verificationId: string; groups: string[] };
  'idme.revoked': { verificationId: string };
}

export type EventType = keyof EventPayloads;
export type EventData<T extends EventType> = EventPayloads[T];

export interface DomainEvent<T extends EventType = EventType> {
  id: string;
  type: T;
  /** The publishing service. */
  source: string;
  sourceAccountId: string;
  userId: string | null;
  occurredAt: string;
  requestId: string | null;
  data: EventData<T>;
}
