import { Counter, Histogram, type Registry } from '@nself/metrics';

/** Delivery metrics of the worker (Prometheus, next to the default process metrics). */
export function createDeliveryMetrics(registry: Registry) {
  return {
    sent: new Counter({
      name: 'notifications_sent_total',
      help: 'Notifications accepted by a provider',
      labelNames: ['channel', 'provider'],
      registers: [registry],
    }),
    failed: new Counter({
      name: 'notifications_failed_total',
      help: 'Notifications that failed their last attempt (dead-lettered)',
      labelNames: ['channel'],
      registers: [registry],
    }),
    attemptsFailed: new Counter({
      name: 'notifications_attempt_failures_total',
      help: 'Failed delivery attempts by provider and kind (transient/permanent)',
      labelNames: ['channel', 'provider', 'kind'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'notifications_retries_total',
      help: 'Retries scheduled through the delay queues',
      labelNames: ['channel'],
      registers: [registry],
    }),
    inDoubt: new Counter({
      name: 'notifications_in_doubt_total',
      help: 'Claims taken over from a worker that died mid-delivery (delivered again)',
      registers: [registry],
    }),
    sendSeconds: new Histogram({
      name: 'notifications_provider_send_seconds',
      help: 'Time a provider took to accept a message',
      labelNames: ['provider'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    endToEndSeconds: new Histogram({
      name: 'notifications_enqueue_to_sent_seconds',
      help: 'From the accepted request to the provider accepting the message',
      labelNames: ['channel'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
  };
}

export type DeliveryMetrics = ReturnType<typeof createDeliveryMetrics>;

export function createApiMetrics(registry: Registry) {
  return {
    accepted: new Counter({
      name: 'notifications_accepted_total',
      help: 'Notification rows created by send requests, by channel and initial status',
      labelNames: ['channel', 'status'],
      registers: [registry],
    }),
    replayed: new Counter({
      name: 'notifications_idempotent_replays_total',
      help: 'Send requests answered from an earlier request with the same idempotency key',
      registers: [registry],
    }),
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
