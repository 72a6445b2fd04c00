import http from 'node:http';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHealth } from '@nself/health';
import { createServiceApp, listen } from '@nself/http';
import { createMemoryLogger } from '@nself/logging';
import { createMetrics } from '@nself/metrics';
import { testInfra, waitFor } from '@nself/test-support';
import { portOf, startEchoUpstream, startGateway } from './helpers.js';

type Echo = Awaited<ReturnType<typeof startEchoUpstream>>;

describe('gateway routing and limits', () => {
  const upstreams: Record<string, Echo> = {};
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  // A real service built with the kit, to follow a request id into its log lines.
  const serviceLogs = createMemoryLogger('notifications');
  let service: http.Server;

  beforeAll(async () => {
    for (const name of ['realtime', 'files', 'jobs', 'idme']) upstreams[name] = await startEchoUpstream(name);
    const serviceApp = createServiceApp({
      logger: serviceLogs.logger,
      health: createHealth({}),
      metrics: createMetrics('notifications'),
      routes(app) {
        app.post('/v1/notifications', (req, res) => {
          serviceLogs.logger.info({ template: req.body.template }, 'notification accepted');
          res.status(202).json({ received: req.body, path: req.path });
        });
      },
    });
    service = await listen(serviceApp, 0, '127.0.0.1');
    gateway = await startGateway({
      REALTIME_URLS: upstreams.realtime!.url,
      NOTIFICATIONS_URL: `http://127.0.0.1:${portOf(service)}`,
      FILES_URL: upstreams.files!.url,
      JOBS_URL: upstreams.jobs!.url,
      IDME_URL: upstreams.idme!.url,
      GATEWAY_BODY_LIMIT_BYTES: '2048',
      GATEWAY_TIMEOUT_MS: '400',
      GATEWAY_CORS_ORIGINS: 'https://app.example.com',
    });
  });

  afterAll(async () => {
    await gateway.close();
    for (const u of Object.values(upstreams)) {
      u.server.closeAllConnections();
      u.server.close();
    }
    service.close();
  });

  it.each([
    ['/realtime/v1/status', 'realtime', '/v1/status'],
    ['/files/v1/files/abc?x=1', 'files', '/v1/files/abc?x=1'],
    ['/jobs/v1/jobs', 'jobs', '/v1/jobs'],
    ['/idme/v1/auth/start', 'idme', '/v1/auth/start'],
    ['/jobs/dashboard/static/app.js', 'jobs', '/dashboard/static/app.js'],
  ])('routes %s to %s with the prefix stripped', async (path, service, upstreamPath) => {
    const res = await request(gateway.url).get(path).set('authorization', 'Bearer t');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ service, url: upstreamPath });
    expect(res.body.headers.authorization).toBe('Bearer t');
    expect(res.body.headers['x-forwarded-for']).toBeDefined();
  });

  it('forwards bodies to /notify and carries the request id into the service and its logs', async () => {
    const res = await request(gateway.url)
      .post('/notify/v1/notifications')
      .set('x-request-id', 'req-gw-1')
      .send({ template: 'welcome', userId: 'u1' });
    expect(res.status).toBe(202);
    expect(res.headers['x-request-id']).toBe('req-gw-1');
    expect(res.body).toEqual({ received: { template: 'welcome', userId: 'u1' }, path: '/v1/notifications' });
    expect(serviceLogs.lines.find((l) => l.msg === 'notification accepted')?.requestId).toBe('req-gw-1');
    expect(gateway.lines.find((l) => l.msg === 'request' && l.path === '/notify/v1/notifications')?.requestId).toBe(
      'req-gw-1',
    );
  });

  it('generates a request id when none (or a malformed one) is sent, and passes it upstream', async () => {
    const res = await request(gateway.url).get('/jobs/v1/jobs').set('x-request-id', 'bad id with spaces');
    const id = res.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.headers['x-request-id']).toBe(id);
  });

  it('refuses a declared body over the limit with 413 before it reaches the service', async () => {
    const before = upstreams.jobs!.state.open;
    const res = await request(gateway.url).post('/jobs/v1/jobs').send({ big: 'x'.repeat(5000) });
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
    expect(upstreams.jobs!.state.open).toBe(before);
  });

  it('answers a slow upstream with 504 and a resetting one with 502, and keeps serving', async () => {
    upstreams.idme!.state.delayMs = 2000;
    const slow = await request(gateway.url).get('/idme/v1/slow');
    expect(slow.status).toBe(504);
    expect(slow.body.code).toBe('UPSTREAM_TIMEOUT');
    upstreams.idme!.state.delayMs = 0;
    upstreams.idme!.state.resetNext = true;
    const reset = await request(gateway.url).get('/idme/v1/reset');
    expect(reset.status).toBe(502);
    expect(reset.body.code).toBe('UPSTREAM_CONNECTION_FAILED');
    expect((await request(gateway.url).get('/idme/v1/ok')).status).toBe(200);
  });

  it('does not leak the upstream request when the client aborts', async () => {
    const files = upstreams.files!;
    files.state.delayMs = 300;
    const closedBefore = files.state.closedEarly;
    await new Promise<void>((resolve) => {
      const req = http.get(`${gateway.url}/files/v1/slow-download`);
      req.on('error', () => resolve());
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 100);
    });
    await waitFor(() => files.state.closedEarly === closedBefore + 1 && files.state.open === 0, {
      label: 'upstream request closed after client abort',
    });
    files.state.delayMs = 0;
  });

  it('answers CORS preflights for allowed origins only', async () => {
    const allowed = await request(gateway.url)
      .options('/notify/v1/notifications')
      .set('origin', 'https://app.example.com')
      .set('access-control-request-method', 'POST');
    expect(allowed.status).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.com');
    const denied = await request(gateway.url)
      .options('/notify/v1/notifications')
      .set('origin', 'https://evil.example.com')
      .set('access-control-request-method', 'POST');
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers unknown paths with problem+json 404 and labels metrics by route', async () => {
    const res = await request(gateway.url).get('/nowhere');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('ROUTE_NOT_FOUND');
    const metrics = await request(gateway.url).get('/metrics');
    expect(metrics.text).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/jobs\/\*"/);
  });
});

describe('gateway with upstreams down', () => {
  it('gives 502 for a killed upstream, reports it in /ready, and stays up', async () => {
    const jobs = await startEchoUpstream('jobs');
    const gateway = await startGateway({ JOBS_URL: jobs.url, REALTIME_URLS: jobs.url, NOTIFICATIONS_URL: jobs.url, FILES_URL: jobs.url, IDME_URL: jobs.url });
    try {
      expect((await request(gateway.url).get('/jobs/v1/jobs')).status).toBe(200);
      expect((await request(gateway.url).get('/ready')).status).toBe(200);
      jobs.server.closeAllConnections();
      await new Promise<void>((r) => jobs.server.close(() => r()));
      const res = await request(gateway.url).get('/jobs/v1/jobs');
      expect(res.status).toBe(502);
      expect(res.body).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', status: 502 });
      const ready = await request(gateway.url).get('/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.checks.jobs.status).toBe('error');
      expect((await request(gateway.url).get('/health')).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it('checks every piece of infrastructure in /ready', async () => {
    const infra = testInfra();
    const up = await startEchoUpstream('any');
    const gateway = await startGateway({
      REALTIME_URLS: `${up.url},${up.url.replace('127.0.0.1', 'localhost')}`,
      NOTIFICATIONS_URL: up.url,
      FILES_URL: up.url,
      JOBS_URL: up.url,
      IDME_URL: up.url,
      JOBS_WORKER_URL: up.url,
      DATABASE_URL: infra.databaseUrl,
      AMQP_URL: infra.amqpUrl,
      FILE_STORAGE_ENDPOINT: infra.s3.endpoint,
      FILE_CLAMD_HOST: infra.clamd.host,
      FILE_CLAMD_PORT: String(infra.clamd.port),
    });
    try {
      const ready = await request(gateway.url).get('/ready');
      expect(Object.keys(ready.body.checks).sort()).toEqual(
        ['clamd', 'file-processing', 'idme', 'jobs', 'jobs-worker', 'notifications', 'postgres', 'rabbitmq', 'realtime-1', 'realtime-2', 'redis', 's3'],
      );
      expect(ready.body.status).toBe('ok');
      expect(ready.status).toBe(200);
    } finally {
      await gateway.close();
      up.server.close();
    }
  });
});

describe('gateway rate limiting', () => {
  it('answers 429 with Retry-After once the limit is used up', async () => {
    const up = await startEchoUpstream('jobs');
    const gateway = await startGateway({
      JOBS_URL: up.url,
      GATEWAY_RATE_LIMIT: '5',
      GATEWAY_RATE_WINDOW_MS: '60000',
    });
    try {
      for (let i = 0; i < 5; i++) expect((await request(gateway.url).get('/jobs/v1/jobs')).status).toBe(200);
      const limited = await request(gateway.url).get('/jobs/v1/jobs');
      expect(limited.status).toBe(429);
      expect(limited.headers['content-type']).toMatch(/problem\+json/);
      expect(limited.body.code).toBe('RATE_LIMITED');
      const retryAfter = Number(limited.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      // Liveness is never rate limited.
      expect((await request(gateway.url).get('/health')).status).toBe(200);
    } finally {
      await gateway.close();
      up.server.close();
    }
  });

  it('lets requests through when Redis is unreachable, and says so in /ready', async () => {
    const up = await startEchoUpstream('jobs');
    const gateway = await startGateway({
      JOBS_URL: up.url,
      NOTIFICATIONS_URL: up.url,
      FILES_URL: up.url,
      IDME_URL: up.url,
      REALTIME_URLS: up.url,
      REDIS_URL: 'redis://127.0.0.1:1',
      GATEWAY_RATE_LIMIT: '5',
    });
    try {
      for (let i = 0; i < 7; i++) expect((await request(gateway.url).get('/jobs/v1/jobs')).status).toBe(200);
      const ready = await request(gateway.url).get('/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.checks.redis.status).toBe('error');
    } finally {
      await gateway.close();
      up.server.close();
    }
  });
});
