import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createMemoryLogger, runWithRequestId } from '@nself/logging';
import { AppError, Errors, errorMiddleware, notFoundMiddleware, parseInput } from '../src/index.js';

function buildApp() {
  const { logger, lines } = createMemoryLogger();
  const app = express();
  app.use((req, _res, next) => runWithRequestId('rid-1', next));
  app.use(express.json({ limit: '1kb' }));
  app.post('/items', (req, res) => {
    const body = parseInput(z.object({ name: z.string().min(1), count: z.number().int() }), req.body);
    res.json(body);
  });
  app.get('/conflict', () => {
    throw Errors.conflict('ALREADY_EXISTS', 'Item already exists');
  });
  app.get('/boom', async () => {
    throw new Error('database password is hunter2');
  });
  app.get('/limited', () => {
    throw Errors.tooManyRequests(7);
  });
  app.use(notFoundMiddleware());
  app.use(errorMiddleware(logger));
  return { app, lines };
}

describe('problem+json errors', () => {
  it('lists the offending fields of a validation error', async () => {
    const { app } = buildApp();
    const res = await request(app).post('/items').send({ name: '', count: 'x' });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', requestId: 'rid-1', instance: '/items' });
    expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['count', 'name']);
  });

  it('keeps the code and status of an AppError', async () => {
    const { app } = buildApp();
    const res = await request(app).get('/conflict');
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'ALREADY_EXISTS', detail: 'Item already exists', title: 'Conflict' });
  });

  it('turns malformed and oversized JSON into 400 and 413', async () => {
    const { app } = buildApp();
    const malformed = await request(app).post('/items').set('content-type', 'application/json').send('{"name":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('MALFORMED_JSON');
    const big = await request(app).post('/items').send({ name: 'x'.repeat(5000), count: 1 });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('hides internals of a 500 behind an error id that is in the log', async () => {
    const { app, lines } = buildApp();
    const res = await request(app).get('/boom');
    expect(res.status).toBe(500);
    expect(res.body.code).toBe('INTERNAL_ERROR');
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
    const logged = lines.find((l) => l.errorId === res.body.errorId);
    expect(logged).toBeDefined();
    expect(JSON.stringify(logged)).toContain('hunter2');
  });

  it('sets Retry-After on 429 and answers unknown routes with ROUTE_NOT_FOUND', async () => {
    const { app } = buildApp();
    const limited = await request(app).get('/limited');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    const missing = await request(app).get('/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('ROUTE_NOT_FOUND');
  });

  it('AppError keeps its fields', () => {
    const e = new AppError('X', 418, 'teapot');
    expect([e.code, e.status, e.message]).toEqual(['X', 418, 'teapot']);
  });
});
