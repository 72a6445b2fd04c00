import type { EventData, EventType } from '@nself/events';

/** The part of EventBus the use cases need (tests pass a recorder). */
export interface EventPublisher {
  publish<T extends EventType>(
    type: T,
    data: EventData<T>,
    meta: { sourceAccountId: string; userId?: string | null },
  ): Promise<unknown>;
}
