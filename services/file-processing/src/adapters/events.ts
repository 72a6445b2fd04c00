import type { EventData, EventType } from '@nself/events';

/** What the use cases need from the event bus (EventBus from @nself/events satisfies it). */
export interface EventPublisher {
  publish<T extends EventType>(
    type: T,
    data: EventData<T>,
    meta: { sourceAccountId: string; userId?: string | null },
  ): Promise<unknown>;
}
