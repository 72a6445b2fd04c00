import type { DomainEvent } from '@nself/events';
import type { Logger } from '@nself/logging';
import type { Broadcaster } from '../adapters/broadcaster.js';
import type { DbWriter } from '../adapters/db-writer.js';
import { rooms as roomNames } from '../keys.js';

export interface RelayDeps {
  broadcaster: Broadcaster;
  logger: Logger;
  db?: DbWriter;
  onRelayed?: (type: string) => void;
}

/**
 * Relays a domain event from the event bus to the sockets of the user it concerns (event.userId),
 * within the app that published it (event.sourceAccountId): `file.processed` reaches the uploader.
 * One shared queue for all replicas: each event is consumed once and the adapter reaches every replica.
 */
export function createRelayHandler(deps: RelayDeps): (event: DomainEvent) => Promise<void> {
  return async (event) => {
    if (!event.userId || !event.sourceAccountId) {
      deps.logger.debug({ eventType: event.type, eventId: event.id }, 'event has no user; not relayed');
      return;
    }
    deps.broadcaster.emit([roomNames.user(event.sourceAccountId, event.userId)], 'domain:event', {
      id: event.id,
      type: event.type,
      source: event.source,
      occurredAt: event.occurredAt,
      data: event.data,
    });
    deps.onRelayed?.(event.type);
    deps.db?.logEvent({
      account: event.sourceAccountId,
      eventType: 'relay',
      userId: event.userId,
      payload: { type: event.type, eventId: event.id, source: event.source },
    });
  };
}
