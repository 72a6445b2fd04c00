import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '@nself/test-support';
import { loadNotificationsConfig } from '../src/config.js';
import { startApi, startWorker, type RunningProcess } from '../src/runtime.js';
import { admin, parseMail, quietLogger, testEnv } from './helpers.js';

// The native development default: no SMTP server configured → the worker's embedded sink.
describe('embedded development SMTP sink', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nself-mail-'));
  let api: RunningProcess;
  let worker: RunningProcess;

  beforeAll(async () => {
    const config = loadNotificationsConfig(
      testEnv({ NOTIFICATIONS_SMTP_URL: undefined, NOTIFICATIONS_DEV_SMTP_SINK: 'true', NOTIFICATIONS_DEV_SMTP_DIR: dir }),
    );
    api = await startApi(config, { logger: quietLogger(), port: 0 });
    worker = await startWorker(config, { logger: quietLogger('worker'), port: 0 });
  });

  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes emails as .eml files when no SMTP server is configured, and the worker reports them', async () => {
    const account = uniqueName('acct');
    await request(api.server)
      .post('/v1/templates')
      .set(admin(account))
      .send({ name: 'hello', subject: 'Hello {{who}}', bodyText: 'Hi {{who}}' })
      .expect(201);
    const res = await request(api.server)
      .post('/v1/notifications')
      .set(admin(account))
      .send({ userId: 'dev', template: 'hello', data: { who: 'developer' }, to: { email: 'dev@example.com' } });
    expect(res.status).toBe(202);
    const file = await waitFor(() => readdirSync(dir).find((f) => f.endsWith('.eml')), { timeoutMs: 15_000, label: 'an .eml file' });
    const mail = await parseMail(readFileSync(path.join(dir, file), 'utf8'));
    expect(mail.subject).toBe('Hello developer');
    expect(mail.headers.get('x-notification-id')).toBe(res.body.id);

    const metrics = await waitFor(async () => {
      const text = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
      return text.includes('notifications_sent_total{channel="email",provider="smtp"') ? text : null;
    }, { label: 'the worker metrics' });
    expect(metrics).toMatch(/notifications_sent_total\{channel="email",provider="smtp",service="notifications-worker"\} 1/);
    const ready = await fetch(`http://127.0.0.1:${worker.port}/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: Record<string, unknown> }).checks).toHaveProperty('rabbitmq');
  });
});
