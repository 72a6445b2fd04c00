import { Counter, Gauge, type Metrics } from '@nself/metrics';

/** Per-second counts over a sliding window, for /v1/status ("events/s"). */
export class RateMeter {
  private readonly buckets: number[];
  private current = 0;
  private second = Math.floor(Date.now() / 1000);

  constructor(private readonly windowSeconds = 10) {
    this.buckets = new Array<number>(windowSeconds).fill(0);
  }

  private roll(): void {
    const now = Math.floor(Date.now() / 1000);
    while (this.second < now) {
      this.buckets[this.second % this.windowSeconds] = this.current;
      this.current = 0;
      this.second += 1;
      if (now - this.second > this.windowSeconds) this.second = now - this.windowSeconds;
    }
  }

  mark(n = 1): void {
    this.roll();
    this.current += n;
  }

  /** Average per second over the completed seconds of the window. */
  perSecond(): number {
    this.roll();
    return this.buckets.reduce((a, b) => a + b, 0) / this.windowSeconds;
  }
}

export interface RealtimeMetrics {
  clientEvents: Counter<'event' | 'outcome'>;
  clientEventRate: RateMeter;
  messages: Counter;
  relayed: Counter<'type'>;
  dbDropped: Counter;
  connectionsRefused: Counter<'reason'>;
}

export function createRealtimeMetrics(
  metrics: Metrics,
  live: { connections: () => number; rooms: () => number; pendingDbWrites: () => number },
): RealtimeMetrics {
  const registers = [metrics.registry];
  new Gauge({
    name: 'realtime_connections',
    help: 'Socket.IO connections on this replica',
    registers,
    collect() {
      this.set(live.connections());
    },
  });
  new Gauge({
    name: 'realtime_rooms',
    help: 'Rooms with at least one socket on this replica',
    registers,
    collect() {
      this.set(live.rooms());
    },
  });
  new Gauge({
    name: 'realtime_db_pending_writes',
    help: 'Rows buffered for the database mirror',
    registers,
    collect() {
      this.set(live.pendingDbWrites());
    },
  });
  const clientEventRate = new RateMeter();
  new Gauge({
    name: 'realtime_events_per_second',
    help: 'Client events handled per second on this replica (10 s average)',
    registers,
    collect() {
      this.set(clientEventRate.perSecond());
    },
  });
  return {
    clientEvents: new Counter({
      name: 'realtime_client_events_total',
      help: 'Client events handled, by event and outcome (ok or an error code)',
      labelNames: ['event', 'outcome'],
      registers,
    }),
    clientEventRate,
    messages: new Counter({ name: 'realtime_messages_total', help: 'Messages appended to room logs', registers }),
    relayed: new Counter({
      name: 'realtime_relayed_events_total',
      help: 'Domain events relayed to user sockets',
      labelNames: ['type'],
      registers,
    }),
    dbDropped: new Counter({ name: 'realtime_db_dropped_total', help: 'Mirror rows dropped (buffer full or write failed)', registers }),
    connectionsRefused: new Counter({
      name: 'realtime_connections_refused_total',
      help: 'Handshakes refused, by reason',
      labelNames: ['reason'],
      registers,
    }),
  };
}
