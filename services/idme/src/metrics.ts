import { Counter, Histogram, type Metrics } from '@nself/metrics';

export interface IdmeMetrics {
  /** Callback outcomes: verified, unverified, denied, or the refusal's problem code. */
  callbacks: Counter<'result'>;
  callbackSeconds: Histogram<'result'>;
  webhooks: Counter<'result'>;
  eventFailures: Counter<'type'>;
}

export function createIdmeMetrics(metrics: Metrics): IdmeMetrics {
  const registers = [metrics.registry];
  return {
    callbacks: new Counter({ name: 'idme_callbacks_total', help: 'OAuth callbacks by outcome', labelNames: ['result'], registers }),
    callbackSeconds: new Histogram({
      name: 'idme_callback_duration_seconds',
      help: 'Callback to verified record (code exchange, attributes, persistence)',
      labelNames: ['result'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    webhooks: new Counter({ name: 'idme_webhooks_total', help: 'Webhook deliveries by outcome', labelNames: ['result'], registers }),
    eventFailures: new Counter({ name: 'idme_event_publish_failures_total', help: 'Domain events that could not be published', labelNames: ['type'], registers }),
  };
}
