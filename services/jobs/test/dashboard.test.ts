import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, TEST_ADMIN_SECRET, testInfra } from '@nself/test-support';
import { startApiServer, type ApiServer } from '../src/runtime.js';
import { quietLogger, spawnService, testConfig, type ServiceProcess } from './helpers.js';

const USER = 'ops';
const PASSWORD = 'correct horse battery staple';
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('BullBoard dashboard', () => {
  const { config } = testConfig({ JOBS_DASHBOARD_USER: USER, JOBS_DASHBOARD_PASSWORD: PASSWORD });
  let api: ApiServer;
  let gateway: ServiceProcess;

  beforeAll(async () => {
    api = await startApiServer(config, quietLogger());
    const infra = testInfra();
    gateway = await spawnService('gateway/src/main.ts', {
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      JOBS_URL: `http://127.0.0.1:${api.port}`,
      REDIS_URL: infra.redisUrl,
      REDIS_KEY_PREFIX: infra.redisPrefix,
      GATEWAY_RATE_LIMIT: '100000',
      SHUTDOWN_TIMEOUT_MS: '3000',
    });
  }, 90_000);

  afterAll(async () => {
    await gateway?.stop();
    await api?.stop();
  });

  it('is never open: 401 without credentials, 401 with wrong ones, 403 for non-operators', async () => {
    for (const path of ['/dashboard', '/dashboard/api/queues', '/jobs/dashboard/static/favicon.ico']) {
      const none = await request(api.app).get(path);
      expect(none.status, path).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Basic realm=/);
      expect(none.headers['content-type']).toMatch(/problem\+json/);
    }
    expect((await request(api.app).get('/dashboard').set(basic(USER, 'wrong password!!'))).status).toBe(401);
    expect((await request(api.app).get('/dashboard').set(basic('root', PASSWORD))).status).toBe(401);
    expect((await request(api.app).get('/dashboard').set({ 'x-admin-secret': 'not-the-admin-secret' })).status).toBe(401);
    // An admin of an ordinary app must not see every app's queues; neither may a user.
    expect((await request(api.app).get('/dashboard').set(bearer({ roles: ['admin'], sourceAccountId: 'tenant-b' }))).status).toBe(403);
    expect((await request(api.app).get('/dashboard').set(bearer({ sourceAccountId: 'primary' }))).status).toBe(403);
  });

  it('opens with basic auth, the admin secret or an operator admin JWT', async () => {
    for (const credentials of [basic(USER, PASSWORD), { 'x-admin-secret': TEST_ADMIN_SECRET }, bearer({ roles: ['admin'] })]) {
      const page = await request(api.app).get('/dashboard').set(credentials);
      expect(page.status).toBe(200);
      expect(page.text).toContain('<base href="/jobs/dashboard/" />');
    }
    const queues = await request(api.app).get('/dashboard/api/queues').set(basic(USER, PASSWORD));
    expect(queues.status).toBe(200);
    expect(queues.body.queues.map((q: { name: string }) => q.name).sort()).toEqual([...config.queues].sort());
  });

  it('loads its HTML, assets and API through the gateway with credentials, and 401 without', async () => {
    const base = `http://127.0.0.1:${gateway.port}`;
    const anonymous = await fetch(`${base}/jobs/dashboard`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic/);

    const page = await fetch(`${base}/jobs/dashboard`, { headers: basic(USER, PASSWORD) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    const baseHref = /<base href="([^"]+)"/.exec(html)?.[1];
    expect(baseHref).toBe('/jobs/dashboard/');
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)]
      .map((m) => m[1]!)
      .filter((u) => !/^https?:/.test(u))
      .map((u) => new URL(u, `${base}${baseHref}`).toString());
    expect(assets.some((u) => u.endsWith('.js'))).toBe(true);
    expect(assets.some((u) => u.endsWith('.css'))).toBe(true);
    for (const asset of assets) {
      const withCredentials = await fetch(asset, { headers: basic(USER, PASSWORD) });
      expect(withCredentials.status, asset).toBe(200);
      const type = withCredentials.headers.get('content-type') ?? '';
      if (asset.endsWith('.js')) expect(type).toMatch(/javascript/);
      if (asset.endsWith('.css')) expect(type).toMatch(/text\/css/);
      expect((await withCredentials.arrayBuffer()).byteLength).toBeGreaterThan(0);
      expect((await fetch(asset)).status, asset).toBe(401);
    }
    const apiCall = await fetch(`${base}/jobs/dashboard/api/queues`, { headers: { 'x-admin-secret': TEST_ADMIN_SECRET } });
    expect(apiCall.status).toBe(200);
    const body = (await apiCall.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual([...config.queues].sort());
  });

  it('is not mounted at all when JOBS_DASHBOARD_ENABLED=false', async () => {
    const { config: off } = testConfig({ JOBS_DASHBOARD_ENABLED: 'false' });
    const server = await startApiServer(off, quietLogger());
    try {
      expect((await request(server.app).get('/dashboard').set({ 'x-admin-secret': TEST_ADMIN_SECRET })).status).toBe(404);
    } finally {
      await server.stop();
    }
  });
});
