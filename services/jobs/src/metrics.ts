import { Counter, Gauge, Histogram, type Metrics } from '@nself/metrics';
import type { JobsQueue } from './adapters/queues.js';

const STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;

export interface JobsMetrics {
  processed: Counter<'queue' | 'type' | 'outcome'>;
  duration: Histogram<'queue' | 'type'>;
  waitTime: Histogram<'queue'>;
  active: Gauge<'queue'>;
  stalled: Counter<'queue'>;
  mirrorRows: Counter;
  mirrorFlush: Histogram;
  mirrorErrors: Counter;
  mirrorDropped: Counter;
  mirrorPending: Gauge;
}

/** Queue depths per state, read from Redis on each scrape (API and worker both expose them). */
export function registerQueueDepth(metrics: Metrics, queues: () => JobsQueue[]): void {
  new Gauge({
    name: 'jobs_queue_depth',
    help: 'Jobs per queue and state (read from Redis at scrape time)',
    labelNames: ['queue', 'state'],
    registers: [metrics.registry],
    async collect() {
      this.reset();
      await Promise.all(
        queues().map(async (queue) => {
          try {
            const counts = await queue.getJobCounts(...STATES);
            for (const state of STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
          } catch {
            // Redis down: /ready reports it; the scrape still answers.
          }
        }),
      );
    },
  });
}

export function createJobsMetrics(metrics: Metrics, pending: () => number): JobsMetrics {
  const registers = [metrics.registry];
  return {
    processed: new Counter({
      name: 'jobs_processed_total',
      help: 'Job attempts finished by this worker, by outcome (completed, retried, failed, cancelled)',
      labelNames: ['queue', 'type', 'outcome'],
      registers,
    }),
    duration: new Histogram({
      name: 'jobs_duration_seconds',
      help: 'Time from start to finish of successful attempts',
      labelNames: ['queue', 'type'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers,
    }),
    waitTime: new Histogram({
      name: 'jobs_wait_seconds',
      help: 'Time from the moment a job was due (added or delay over) to its start',
      labelNames: ['queue'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
      registers,
    }),
    active: new Gauge({ name: 'jobs_active', help: 'Jobs running in this worker', labelNames: ['queue'], registers }),
    stalled: new Counter({
      name: 'jobs_stalled_total',
      help: 'Jobs found stalled (lost lock) and moved back to wait by this worker',
      labelNames: ['queue'],
      registers,
    }),
    mirrorRows: new Counter({ name: 'jobs_mirror_rows_total', help: 'Lifecycle rows written to Postgres', registers }),
    mirrorFlush: new Histogram({
      name: 'jobs_mirror_flush_seconds',
      help: 'Duration of one batched mirror write',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    }),
    mirrorErrors: new Counter({ name: 'jobs_mirror_errors_total', help: 'Failed mirror writes (retried)', registers }),
    mirrorDropped: new Counter({
      name: 'jobs_mirror_dropped_total',
      help: 'Lifecycle rows dropped because the mirror buffer was full',
      registers,
    }),
    mirrorPending: new Gauge({
      name: 'jobs_mirror_pending',
      help: 'Lifecycle rows waiting to be written',
      registers,
      collect() {
        this.set(pending());
      },
    }),
  };
}
