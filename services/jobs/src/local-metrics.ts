import type { Registry } from '@nself/metrics';

type Labels = Record<string, string>;

interface MetricValue {
  labels: Labels;
  value: number;
  metricName?: string;
}

const key = (labels: Labels) => Object.values(labels).join('\u0000');

/**
 * Per-job metrics kept as plain numbers in the worker and turned into Prometheus series only when
 * scraped. prom-client hashes the label set on every observation; on the worker's hot path (a few
 * observations per job, thousands of jobs per second) a pre-bound series costs one array write.
 * Registered with the same registry, so /metrics renders them like any other metric.
 */
export class LocalHistogram {
  private readonly series = new Map<string, { labels: Labels; counts: Float64Array; sum: number; count: number }>();
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    private readonly buckets: number[],
  ) {
    registry.registerMetric(this as never);
  }

  /** A bound observer for one label set. */
  child(labels: Labels): (value: number) => void {
    const k = key(labels);
    let entry = this.series.get(k);
    if (!entry) {
      entry = { labels, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      this.series.set(k, entry);
    }
    const series = entry;
    const buckets = this.buckets;
    return (value: number) => {
      let i = 0;
      while (i < buckets.length && value > buckets[i]!) i += 1;
      series.counts[i]! += 1;
      series.sum += value;
      series.count += 1;
    };
  }

  async get() {
    const values: MetricValue[] = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += counts[i]!;
        values.push({ labels: { ...labels, le: String(le) }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.series.clear();
  }
}

/** A counter with pre-bound label sets (see LocalHistogram). */
export class LocalCounter {
  private readonly series = new Map<string, { labels: Labels; value: number }>();
  readonly type = 'counter';
  readonly aggregator = 'sum';

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
  ) {
    registry.registerMetric(this as never);
  }

  child(labels: Labels): (by?: number) => void {
    const k = key(labels);
    let entry = this.series.get(k);
    if (!entry) {
      entry = { labels, value: 0 };
      this.series.set(k, entry);
    }
    const series = entry;
    return (by = 1) => {
      series.value += by;
    };
  }

  async get() {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: [...this.series.values()].map(({ labels, value }) => ({ labels, value })),
      aggregator: this.aggregator,
    };
  }

  reset(): void {
    this.series.clear();
  }
}
