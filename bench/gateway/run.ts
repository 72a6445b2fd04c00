/**
 * Gateway benchmark: in ONE run, requests/s and p50/p99 latency at 50 and 100 connections for
 *   (a) the service direct, (b) a bare http-proxy-middleware proxy in front of it, (c) the real gateway
 *   with all its middleware (request id, access log, metrics, CORS, Redis rate limiting, keep-alive),
 * plus variants that show what each piece costs: the bare proxy with a keep-alive agent (connection
 * reuse alone), the gateway without rate limiting, the gateway without access logs.
 *
 *   npm run bench:gateway                 # 10 s per measurement
 *   BENCH_DURATION=5 npm run bench:gateway
 *
 * Needs Redis on REDIS_URL (default redis://127.0.0.1:6379).
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { printTable, round } from '../lib/stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const duration = Number(process.env.BENCH_DURATION ?? 10);
const connectionCounts = (process.env.BENCH_CONNECTIONS ?? '50,100').split(',').map(Number);
const children: ChildProcess[] = [];

function start(script: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = fork(script, [], {
      cwd: repo,
      execArgv: ['--conditions=source', '--import', 'tsx'],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    children.push(child);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    child.on('message', (m: { port?: number }) => m.port && resolve(m.port));
  });
}

/** The gateway announces nothing over IPC (and logs nothing at LOG_LEVEL=warn): give it a port, poll /health. */
async function startGateway(env: Record<string, string>): Promise<number> {
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const exited = start(path.join(repo, 'gateway/src/main.ts'), { ...env, GATEWAY_PORT: String(port) });
  exited.catch(() => undefined); // killed at the end of the run: not an error then
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    const up = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (up) return port;
    await Promise.race([exited, new Promise((r) => setTimeout(r, 200))]);
  }
  throw new Error(`the gateway did not answer on port ${port} within 60 s`);
}

async function measure(url: string, connections: number) {
  // Warm up (JIT, keep-alive pools) before measuring.
  await autocannon({ url, connections, duration: 2 });
  const result = await autocannon({ url, connections, duration });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

async function main() {
  const upstreamPort = await start(path.join(here, 'upstream.ts'), {});
  const upstream = `http://127.0.0.1:${upstreamPort}`;
  const barePort = await start(path.join(here, 'bare-proxy.ts'), { TARGET: upstream });
  const gatewayEnv = (extra: Record<string, string>) => ({
    GATEWAY_HOST: '127.0.0.1',
    JOBS_URL: upstream,
    REDIS_KEY_PREFIX: `bench:${Date.now()}`,
    GATEWAY_RATE_LIMIT: '1000000000',
    LOG_LEVEL: 'info',
    ...extra,
  });
  const targets: [string, number][] = [
    ['direct', upstreamPort],
    ['bare proxy', barePort],
    ['gateway', await startGateway(gatewayEnv({}))],
  ];
  if (process.env.BENCH_VARIANTS !== '0') {
    targets.push(
      ['bare proxy, keep-alive', await start(path.join(here, 'bare-proxy.ts'), { TARGET: upstream, KEEP_ALIVE: '1' })],
      ['gateway, no rate limit', await startGateway(gatewayEnv({ GATEWAY_RATE_LIMIT: '0' }))],
      ['gateway, no access log', await startGateway(gatewayEnv({ LOG_LEVEL: 'warn' }))],
    );
  }

  const rows: Record<string, string | number>[] = [];
  const results = new Map<string, { rps: number; p99: number }>();
  for (const connections of connectionCounts) {
    for (const [name, port] of targets) {
      const route = name === 'direct' ? '/v1/ping' : '/jobs/v1/ping';
      process.stderr.write(`measuring ${name} at ${connections} connections\n`);
      const r = await measure(`http://127.0.0.1:${port}${route}`, connections);
      results.set(`${name}@${connections}`, r);
      rows.push({ target: name, connections, 'req/s': Math.round(r.rps), 'p50 ms': r.p50, 'p99 ms': r.p99, errors: r.errors });
    }
  }
  printTable(`Gateway benchmark (${duration} s per row, GET /v1/ping)`, rows);

  const ratios = connectionCounts.map((c) => {
    const direct = results.get(`direct@${c}`)!;
    const bare = results.get(`bare proxy@${c}`)!;
    const gateway = results.get(`gateway@${c}`)!;
    const bareKeepAlive = results.get(`bare proxy, keep-alive@${c}`);
    return {
      connections: c,
      'bare/direct req/s': round(bare.rps / direct.rps),
      ...(bareKeepAlive
        ? {
            'gateway/bare keep-alive req/s': round(gateway.rps / bareKeepAlive.rps),
            'gateway/bare keep-alive p99': round(gateway.p99 / bareKeepAlive.p99),
          }
        : {}),
      'gateway/bare req/s (target >= 0.9)': round(gateway.rps / bare.rps),
      'gateway/bare p99 (target <= 1.2)': round(gateway.p99 / bare.p99),
      'gateway/direct req/s': round(gateway.rps / direct.rps),
    };
  });
  printTable('Ratios', ratios);
}

try {
  await main();
} finally {
  for (const child of children) child.kill('SIGKILL');
}
