import type { Channel } from '../config.js';

export type { Channel } from '../config.js';

export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const DIGEST_FREQUENCIES = ['none', 'interval', 'hourly', 'daily', 'weekly'] as const;
export type DigestFrequency = (typeof DIGEST_FREQUENCIES)[number];

/** Row statuses of `notifications`. */
export type NotificationStatus =
  | 'queued' // waiting for (or in) the delivery queue
  | 'deferred' // held until scheduled_for: a scheduled send or the end of quiet hours
  | 'batched' // collected into a digest (notification_batches)
  | 'sending' // claimed by a worker
  | 'sent'
  | 'delivered'
  | 'failed'
  | 'bounced'
  | 'skipped'; // the user opted out

export const TERMINAL_STATUSES: NotificationStatus[] = ['sent', 'delivered', 'failed', 'bounced', 'skipped'];

/** What a template rendered for one channel; stored on the notification row and sent as is. */
export interface RenderedContent {
  subject?: string;
  text?: string;
  html?: string;
  title?: string;
  body?: string;
  sms?: string;
}

/** The queue message: a batch of notification ids to deliver (one publish per batch). */
export interface DeliverMessage {
  v: 1;
  ids: string[];
  /** Why it was published: first delivery, a retry, a wait for another worker's claim, a relay. */
  reason: 'new' | 'retry' | 'wait' | 'relay' | 'scheduled';
  /**
   * The attempt count the rows had when this was published (0 for a first delivery). A queued row
   * is only claimed by a message that expects its current count, so a stale copy of an old message
   * cannot start a retry early. null: any attempt (outbox relay, or an expired claim of a dead worker).
   */
  attempts: number | null;
}

export function channelAllows(channel: Channel, content: RenderedContent): boolean {
  if (channel === 'email') return Boolean(content.subject && (content.text || content.html));
  if (channel === 'push') return Boolean(content.title || content.body);
  return Boolean(content.sms);
}
