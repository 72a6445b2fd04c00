import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { Errors } from '@nself/errors';
import { createHealth } from '@nself/health';
import { createMemoryLogger } from '@nself/logging';
import { createMetrics } from '@nself/metrics';
import { createServiceApp } from '../src/index.js';

function build(ready = true) {
  const { logger, lines } = createMemoryLogger('svc');
  const health = createHealth({ dep: async () => (ready ? 1 : Promise.reject(new Error('down'))) });
  const app = createServiceApp({
    logger,
    health,
    metrics: createMetrics('svc'),
    routes(app) {
      app.get('/v1/thing/:id', (req, res) => {
        logger.info({ id: req.params.id }, 'handling');
        res.json({ id: req.params.id });
      });
      app.get('/v1/missing', () => {
        throw Errors.notFound('Thing');
      });
    },
  });
  return { app, lines, health };
}

describe('service app', () => {
  it('serves /health, /ready and /metrics', async () => {
    const { app, health } = build();
    expect((await request(app).get('/health')).body.status).toBe('ok');
    expect((await request(app).get('/ready')).status).toBe(200);
    await request(app).get('/v1/thing/1');
    const metrics = await request(app).get('/metrics');
    expect(metrics.text).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/v1\/thing\/:id",status="200"\} 1/);
    health.markShuttingDown();
    expect((await request(app).get('/ready')).status).toBe(503);
  });

  it('reports a failing dependency with 503', async () => {
    const res = await request(build(false).app).get('/ready');
    expect(res.status).toBe(503);
    expect(res.body.checks.dep.status).toBe('error');
  });

  it('passes a well-formed request id through to the response and every log line', async () => {
    const { app, lines } = build();
    const res = await request(app).get('/v1/thing/7').set('x-request-id', 'abc-123');
    expect(res.headers['x-request-id']).toBe('abc-123');
    const handling = lines.find((l) => l.msg === 'handling');
    const access = lines.find((l) => l.msg === 'request');
    expect(handling?.requestId).toBe('abc-123');
    expect(access).toMatchObject({ requestId: 'abc-123', status: 200, path: '/v1/thing/7' });
  });

  it('replaces a malformed request id with a fresh one', async () => {
    const res = await request(build().app).get('/health').set('x-request-id', 'bad id\twith spaces');
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers unknown routes and thrown AppErrors with problem+json', async () => {
    const { app } = build();
    const missing = await request(app).get('/v1/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/problem\+json/);
    const notFound = await request(app).get('/v1/missing');
    expect(notFound.body).toMatchObject({ code: 'NOT_FOUND', detail: 'Thing not found' });
  });
});
