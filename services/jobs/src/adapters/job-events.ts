import { EventBus } from '@nself/events';
import type { Logger } from '@nself/logging';

export interface JobEventsPublisher {
  completed(event: { jobId: string; queue: string; type: string; sourceAccountId: string; userId: string | null }): void;
  failed(event: {
    jobId: string;
    queue: string;
    type: string;
    error: string;
    attempts: number;
    sourceAccountId: string;
    userId: string | null;
  }): void;
  check(): Promise<void>;
  close(): Promise<void>;
}

/** job.completed / job.failed on the shared topic exchange; fire-and-forget so the worker never waits on AMQP. */
export function createJobEvents(options: {
  url?: string;
  exchange: string;
  logger: Logger;
  completedEvents: boolean;
}): JobEventsPublisher | undefined {
  if (!options.url) return undefined;
  const bus = new EventBus({ url: options.url, exchange: options.exchange, logger: options.logger, service: 'jobs' });
  void bus.start().catch((error: unknown) => options.logger.error({ err: error }, 'event bus did not start'));
  const publish = (promise: Promise<unknown>) =>
    void promise.catch((error: unknown) => options.logger.warn({ err: error }, 'publishing a job event failed'));
  return {
    completed(event) {
      if (!options.completedEvents) return;
      publish(
        bus.publish('job.completed', { jobId: event.jobId, queue: event.queue, type: event.type }, {
          sourceAccountId: event.sourceAccountId,
          userId: event.userId,
        }),
      );
    },
    failed(event) {
      publish(
        bus.publish(
          'job.failed',
          { jobId: event.jobId, queue: event.queue, type: event.type, error: event.error.slice(0, 1000), attempts: event.attempts },
          { sourceAccountId: event.sourceAccountId, userId: event.userId },
        ),
      );
    },
    check: () => bus.check(),
    close: () => bus.close(),
  };
}
