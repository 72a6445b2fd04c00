import { Counter, Gauge, Histogram, type Metrics } from '@nself/metrics';
import { LocalCounter, LocalHistogram } from './local-metrics.js';
import type { JobsQueue } from './adapters/queues.js';

const STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;

export interface JobsMetrics {
  /** Per-job metrics (worker hot path): pre-bound series, see local-metrics.ts. */
  processed: LocalCounter;
  duration: LocalHistogram;
  waitTime: LocalHistogram;
  /** Sets where jobs_active reads the running jobs per queue from (the workers' attempt trackers). */
  setActiveSource(source: () => Map<string, number>): void;
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
  let activeSource: () => Map<string, number> = () => new Map();
  new Gauge({
    name: 'jobs_active',
    help: 'Jobs running in this worker',
    labelNames: ['queue'],
    registers,
    collect() {
      this.reset();
      for (const [queue, count] of activeSource()) this.set({ queue }, count);
    },
  });
  return {
    processed: new LocalCounter(
      metrics.registry,
      'jobs_processed_total',
      'Job attempts finished by this worker, by outcome (completed, retried, failed, cancelled)',
    ),
    duration: new LocalHistogram(metrics.registry, 'jobs_duration_seconds', 'Time from start to finish of successful attempts', [
      0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300,
    ]),
    waitTime: new LocalHistogram(
      metrics.registry,
      'jobs_wait_seconds',
      'Time from the moment a job was due (added or delay over) to its start',
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    ),
    setActiveSource(source) {
      activeSource = source;
    },
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
