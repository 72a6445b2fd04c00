import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '@nself/logging';

export const STICKY_COOKIE = 'nself_rt';

interface Replica {
  url: string;
  id: string;
  healthy: boolean;
}

/**
 * The realtime replicas behind /realtime. Engine.IO long-polling sends several HTTP requests per
 * session and they must all reach the replica that holds the session, so the first request gets a
 * cookie naming its replica (like HAProxy's `cookie SERVERID insert`) and later ones follow it.
 * WebSocket-only clients need no cookie. Replicas failing their /health are skipped; a client whose
 * replica died is moved (its Socket.IO client reconnects and its SDK re-joins its rooms).
 */
export class ReplicaPool {
  private readonly replicas: Replica[];
  private next = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    urls: string[],
    private readonly logger: Logger,
  ) {
    this.replicas = urls.map((url) => ({
      url,
      id: createHash('sha256').update(url).digest('hex').slice(0, 12),
      healthy: true,
    }));
  }

  get urls(): string[] {
    return this.replicas.map((r) => r.url);
  }

  /** The replica for this request, and the Set-Cookie value when the client must be (re)pinned. */
  route(req: IncomingMessage): { target: string; cookie?: string } {
    const pinned = this.fromCookie(req.headers.cookie);
    if (pinned?.healthy) return { target: pinned.url };
    const chosen = this.choose();
    // A single replica needs no stickiness; say nothing rather than set a pointless cookie.
    if (this.replicas.length === 1) return { target: chosen.url };
    return {
      target: chosen.url,
      cookie: `${STICKY_COOKIE}=${chosen.id}; Path=/realtime; HttpOnly; SameSite=Lax`,
    };
  }

  markDown(url: string): void {
    const replica = this.replicas.find((r) => r.url === url);
    if (replica?.healthy) {
      replica.healthy = false;
      this.logger.warn({ replica: url }, 'realtime replica marked down');
    }
  }

  /** Polls every replica's /health; a replica comes back once it answers again. */
  startHealthChecks(intervalMs = 2000): void {
    if (this.replicas.length < 2) return;
    const probe = async () => {
      await Promise.all(
        this.replicas.map(async (replica) => {
          const ok = await fetch(`${replica.url}/health`, { signal: AbortSignal.timeout(1000) })
            .then((r) => r.ok)
            .catch(() => false);
          if (ok && !replica.healthy) this.logger.info({ replica: replica.url }, 'realtime replica is back');
          if (!ok) this.markDown(replica.url);
          else replica.healthy = true;
        }),
      );
    };
    this.timer = setInterval(() => void probe(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private fromCookie(header: string | undefined): Replica | undefined {
    if (!header) return undefined;
    const match = new RegExp(`(?:^|;\\s*)${STICKY_COOKIE}=([0-9a-f]+)`).exec(header);
    return match ? this.replicas.find((r) => r.id === match[1]) : undefined;
  }

  private choose(): Replica {
    const healthy = this.replicas.filter((r) => r.healthy);
    const candidates = healthy.length ? healthy : this.replicas;
    this.next = (this.next + 1) % candidates.length;
    return candidates[this.next]!;
  }
}
