import type { Redis } from 'ioredis';

export interface CancelRequest {
  queue: string;
  bullmqId: string;
  reason: string;
}

/**
 * Cancels running jobs across processes: the API publishes on a Redis channel, every worker process
 * listens and aborts the job if it is running it (BullMQ's Worker.cancelJob → the processor's signal).
 */
export function cancelChannelName(bullPrefix: string): string {
  return `${bullPrefix}:cancel`;
}

export async function publishCancel(redis: Redis, bullPrefix: string, request: CancelRequest): Promise<number> {
  return redis.publish(cancelChannelName(bullPrefix), JSON.stringify(request));
}

export async function subscribeCancel(
  subscriber: Redis,
  bullPrefix: string,
  onCancel: (request: CancelRequest) => void,
): Promise<void> {
  const channel = cancelChannelName(bullPrefix);
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    try {
      const request = JSON.parse(message) as CancelRequest;
      if (typeof request.queue === 'string' && typeof request.bullmqId === 'string') onCancel(request);
    } catch {
      // not ours
    }
  });
  await subscriber.subscribe(channel);
}
