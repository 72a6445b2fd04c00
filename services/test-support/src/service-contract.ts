import type { Server } from 'node:http';
import type { Express } from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { signTestToken } from './tokens.js';

export interface ContractTarget {
  app: Express | Server;
  /** A route that requires authentication, e.g. { method: 'get', path: '/v1/rooms' }. */
  protectedRoute: { method: 'get' | 'post' | 'put' | 'delete'; path: string };
}

/**
 * The contract every service keeps (one line per service test suite): /health, /ready and /metrics,
 * problem+json 404s, request-id echo, and refusal of missing, forged and expired tokens.
 */
export function describeServiceContract(name: string, target: () => ContractTarget): void {
  describe(`${name} service contract`, () => {
    it('answers /health without touching dependencies and /ready with every check', async () => {
      const { app } = target();
      const health = await request(app).get('/health');
      expect(health.status).toBe(200);
      expect(health.body.status).toBe('ok');
      const ready = await request(app).get('/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('ok');
      expect(Object.keys(ready.body.checks).length).toBeGreaterThan(0);
    });

    it('serves Prometheus metrics', async () => {
      const { app } = target();
      await request(app).get('/health');
      const metrics = await request(app).get('/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.text).toContain('process_cpu_user_seconds_total');
      expect(metrics.text).toContain('http_request_duration_seconds');
    });

    it('answers unknown routes with a problem+json 404 and echoes the request id', async () => {
      const { app } = target();
      const res = await request(app).get('/v1/this-route-does-not-exist').set('x-request-id', 'contract-req-1');
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['x-request-id']).toBe('contract-req-1');
      expect(res.body).toMatchObject({ status: 404, code: 'ROUTE_NOT_FOUND', requestId: 'contract-req-1' });
    });

    it('refuses missing, forged and expired tokens with 401 problem+json', async () => {
      const { app, protectedRoute } = target();
      const send = (headers: Record<string, string>) =>
        request(app)[protectedRoute.method](protectedRoute.path).set(headers);
      const missing = await send({});
      expect(missing.status).toBe(401);
      expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
      const forged = await send({ authorization: `Bearer ${signTestToken({ secret: 'x'.repeat(40) })}` });
      expect(forged.status).toBe(401);
      expect(forged.body.code).toBe('INVALID_TOKEN');
      const expired = await send({ authorization: `Bearer ${signTestToken({ expiresInSeconds: -60 })}` });
      expect(expired.status).toBe(401);
      expect(expired.body.code).toBe('TOKEN_EXPIRED');
    });
  });
}
