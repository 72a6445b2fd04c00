/** A dependency check: resolves when the dependency answers, rejects (or times out) when it does not. */
export type Check = () => Promise<unknown>;

export interface CheckResult {
  status: 'ok' | 'error';
  latencyMs: number;
  error?: string;
}

export interface Readiness {
  status: 'ok' | 'error' | 'shutting_down';
  checks: Record<string, CheckResult>;
}

export interface Health {
  /** Liveness: the process runs and its event loop turns. No dependency is touched. */
  liveness(): { status: 'ok'; uptimeSeconds: number };
  /** Readiness: every dependency answers within the timeout, and the process is not shutting down. */
  readiness(): Promise<Readiness>;
  /** From now on readiness answers shutting_down, so load balancers stop sending traffic. */
  markShuttingDown(): void;
  isShuttingDown(): boolean;
  addCheck(name: string, check: Check): void;
}

async function runCheck(check: Check, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { status: 'ok', latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { status: 'error', latencyMs: Math.round(performance.now() - started), error: message.slice(0, 200) };
  } finally {
    clearTimeout(timer);
  }
}

export function createHealth(checks: Record<string, Check> = {}, timeoutMs = 2000): Health {
  const all = new Map(Object.entries(checks));
  let shuttingDown = false;
  return {
    liveness: () => ({ status: 'ok', uptimeSeconds: Math.round(process.uptime()) }),
    async readiness() {
      const names = [...all.keys()];
      const results = await Promise.all(names.map((name) => runCheck(all.get(name)!, timeoutMs)));
      const byName = Object.fromEntries(names.map((name, i) => [name, results[i]!]));
      const failing = results.some((r) => r.status === 'error');
      return { status: shuttingDown ? 'shutting_down' : failing ? 'error' : 'ok', checks: byName };
    },
    markShuttingDown() {
      shuttingDown = true;
    },
    isShuttingDown: () => shuttingDown,
    addCheck(name, check) {
      all.set(name, check);
    },
  };
}
