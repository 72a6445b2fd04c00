export { AmqpConnection, publishConfirmed, type ChannelSetup } from './amqp-connection.js';
export { DEFAULT_EVENTS_EXCHANGE, EventBus, type EventBusOptions, type Subscription } from './event-bus.js';
export type { DomainEvent, EventData, EventPayloads, EventType } from './contracts.js';
