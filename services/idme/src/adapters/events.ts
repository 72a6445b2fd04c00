import type { DomainEvent, EventData, EventType } from '@nself/events';

/** What the use cases need from the event exchange (EventBus implements it). */
export interface EventPublisher {
  publish<T extends EventType>(
    type: T,
    data: EventData<T>,
    meta: { sourceAccountId: string; userId?: string | null },
  ): Promise<DomainEvent<T>>;
}
