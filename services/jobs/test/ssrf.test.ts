import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN_SECRET, uniqueName, waitFor } from '@nself/test-support';
import { createAddressPolicy } from '../src/adapters/ip-policy.js';
import { createSafeHttpClient, HttpRequestError, type SafeHttpClient } from '../src/adapters/safe-http.js';
import { startApiServer, startWorkerProcess, type ApiServer, type WorkerProcess } from '../src/runtime.js';
import { startDnsStandIn, type DnsStandIn } from './dns-stand-in.js';
import { db, quietLogger, startStandIn, testConfig, type StandIn } from './helpers.js';

describe('address policy', () => {
  const policy = createAddressPolicy([]);
  it.each([
    '127.0.0.1',
    '127.9.9.9',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '255.255.255.255',
    '224.0.0.1',
    '198.18.0.1',
    '::1',
    '::',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
    '::127.0.0.1',
    '::ffff:0:127.0.0.1',
    'fe80::1',
    'fc00::1',
    'fd00:ec2::254',
    '64:ff9b::a00:1',
    '2002:7f00:1::1',
    '2001::1',
    '2001:db8::1',
    'ff02::1',
  ])('refuses %s', (address) => {
    expect(policy(address).allowed).toBe(false);
  });

  it.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows %s', (address) => {
    expect(policy(address).allowed).toBe(true);
  });

  it('lets an allow-listed range through, and only that range', () => {
    const allowed = createAddressPolicy(['127.0.0.1/32', '10.1.0.0/16']);
    expect(allowed('127.0.0.1').allowed).toBe(true);
    expect(allowed('::ffff:127.0.0.1').allowed).toBe(true);
    expect(allowed('10.1.200.3').allowed).toBe(true);
    expect(allowed('127.0.0.2').allowed).toBe(false);
    expect(allowed('10.2.0.1').allowed).toBe(false);
    expect(allowed('169.254.169.254').allowed).toBe(false);
  });
});

describe('SSRF-guarded HTTP client', () => {
  let dns: DnsStandIn;
  let allowedTarget: StandIn; // 127.0.0.1, allow-listed
  let forbiddenTarget: StandIn; // 127.0.0.2, loopback but not allow-listed: must never be reached
  let http: SafeHttpClient;

  beforeAll(async () => {
    forbiddenTarget = await startStandIn((_req, res) => void res.end('secret internal data'), '127.0.0.2');
    allowedTarget = await startStandIn((req, res) => {
      if (req.url.startsWith('/redirect?to=')) {
        res.writeHead(302, { location: decodeURIComponent(req.url.slice('/redirect?to='.length)) });
        res.end();
        return;
      }
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.alloc(64 * 1024, 1));
        return;
      }
      if (req.url === '/big-chunked') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        for (let i = 0; i < 64; i += 1) res.write(Buffer.alloc(1024, 1));
        res.end();
        return;
      }
      if (req.url === '/hang') return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, host: req.headers.host }));
    });
    dns = await startDnsStandIn({
      'good.test': ['127.0.0.1'],
      'evil.test': ['127.0.0.2'],
      'metadata.test': ['169.254.169.254'],
      'private.test': ['10.1.2.3'],
      'mixed.test': ['127.0.0.1', '10.0.0.1'],
      'mapped.test': ['::ffff:127.0.0.2'],
    });
    http = createSafeHttpClient({
      allowedHosts: [],
      allowedCidrs: ['127.0.0.1/32'],
      dnsServers: [dns.server],
      maxTimeoutMs: 10_000,
      maxResponseBytes: 32 * 1024,
      maxRedirects: 3,
    });
  });

  afterAll(async () => {
    http?.close();
    await dns?.close();
    await allowedTarget?.close();
    await forbiddenTarget?.close();
  });

  async function refused(url: string): Promise<HttpRequestError> {
    const error = await http.request({ url, timeoutMs: 3000 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HttpRequestError);
    return error as HttpRequestError;
  }

  it('refuses private, loopback, link-local and metadata literals (IPv4 and IPv6 forms)', async () => {
    const port = forbiddenTarget.port;
    for (const host of ['127.0.0.2', '10.0.0.1', '169.254.169.254', '[::1]', '[::ffff:127.0.0.2]', '[::ffff:7f00:2]', '[fd00:ec2::254]', '100.64.0.1', '0.0.0.0']) {
      const error = await refused(`http://${host}:${port}/`);
      expect(error.code, host).toBe('SSRF_BLOCKED');
      expect(error.retryable).toBe(false);
    }
    expect(forbiddenTarget.requests).toHaveLength(0);
  });

  it('refuses hostnames that resolve to forbidden addresses, after resolution', async () => {
    const port = forbiddenTarget.port;
    for (const host of ['evil.test', 'metadata.test', 'private.test', 'mixed.test', 'mapped.test']) {
      const error = await refused(`http://${host}:${port}/`);
      expect(error.code, host).toBe('SSRF_BLOCKED');
    }
    expect(dns.queries).toContain('evil.test/A');
    expect(forbiddenTarget.requests).toHaveLength(0);
  });

  it('connects to the vetted address of an allowed hostname', async () => {
    const response = await http.request({ url: `http://good.test:${allowedTarget.port}/hello`, timeoutMs: 3000 });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toEqual({ ok: true, host: `good.test:${allowedTarget.port}` });
  });

  it('vets every redirect hop', async () => {
    const base = `http://127.0.0.1:${allowedTarget.port}`;
    for (const to of [
      `http://127.0.0.2:${forbiddenTarget.port}/`,
      'http://169.254.169.254/latest/meta-data/',
      `http://evil.test:${forbiddenTarget.port}/`,
      `http://[::ffff:127.0.0.2]:${forbiddenTarget.port}/`,
      'file:///etc/passwd',
    ]) {
      const error = await refused(`${base}/redirect?to=${encodeURIComponent(to)}`);
      expect(['SSRF_BLOCKED', 'INVALID_URL'], to).toContain(error.code);
    }
    expect(forbiddenTarget.requests).toHaveLength(0);
    const followed = await http.request({
      url: `${base}/redirect?to=${encodeURIComponent(`http://good.test:${allowedTarget.port}/final`)}`,
      timeoutMs: 3000,
    });
    expect(followed.status).toBe(200);
    expect(followed.redirects).toEqual([`http://good.test:${allowedTarget.port}/final`]);
  });

  it('caps the response size (declared or streamed) and times out a silent target', async () => {
    const base = `http://127.0.0.1:${allowedTarget.port}`;
    expect((await refused(`${base}/big`)).code).toBe('RESPONSE_TOO_LARGE');
    expect((await refused(`${base}/big-chunked`)).code).toBe('RESPONSE_TOO_LARGE');
    const started = Date.now();
    const error = await http.request({ url: `${base}/hang`, timeoutMs: 300 }).catch((e: unknown) => e as HttpRequestError);
    expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('honours the host allow-list and, without any allow-list, refuses localhost through the system resolver', async () => {
    const byHost = createSafeHttpClient({
      allowedHosts: ['evil.test'],
      allowedCidrs: [],
      dnsServers: [dns.server],
      maxTimeoutMs: 5000,
      maxResponseBytes: 1024,
      maxRedirects: 0,
    });
    const plain = createSafeHttpClient({ allowedHosts: [], allowedCidrs: [], dnsServers: [], maxTimeoutMs: 5000, maxResponseBytes: 1024, maxRedirects: 0 });
    try {
      const response = await byHost.request({ url: `http://evil.test:${forbiddenTarget.port}/allowed`, timeoutMs: 3000 });
      expect(response.body.toString()).toBe('secret internal data');
      forbiddenTarget.requests.length = 0;
      const error = await plain.request({ url: `http://localhost:${allowedTarget.port}/`, timeoutMs: 3000 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'SSRF_BLOCKED' });
    } finally {
      byHost.close();
      plain.close();
    }
  });
});

describe('http-request jobs without an allow-list', () => {
  let api: ApiServer;
  let worker: WorkerProcess;
  let target: StandIn;
  const { config } = testConfig();

  beforeAll(async () => {
    target = await startStandIn((_req, res) => void res.end('internal'));
    api = await startApiServer(config, quietLogger());
    worker = await startWorkerProcess(config, quietLogger());
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await target?.close();
  });

  it('fail permanently on the first attempt when the target is loopback, and never reach it', async () => {
    const account = uniqueName('acc');
    const res = await request(api.app)
      .post('/v1/jobs')
      .set({ 'x-admin-secret': TEST_ADMIN_SECRET, 'x-source-account-id': account })
      .send({ type: 'http-request', attempts: 3, payload: { url: `${target.url}/admin` } });
    expect(res.status).toBe(201);
    const job = await waitFor(
      async () => {
        const row = await db().job.findUnique({ where: { id: res.body.id }, include: { failures: true } });
        return row?.status === 'failed' ? row : null;
      },
      { timeoutMs: 15_000, label: 'blocked job to fail' },
    );
    expect(job.attemptsMade).toBe(1);
    expect(job.failures).toEqual([expect.objectContaining({ attempt: 1, errorName: 'SSRF_BLOCKED', isFinal: true })]);
    expect(target.requests).toHaveLength(0);
  });
});
