import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpReceiver, testInfra, uniqueName, waitFor, type SmtpReceiver } from '@nself/test-support';
import { loadNotificationsConfig } from '../src/config.js';
import { startWorker, type RunningProcess } from '../src/runtime.js';
import { parseMail, quietLogger, testEnv } from './helpers.js';

const run = promisify(execFile);

describe('nself-notifications CLI', { timeout: 120_000 }, () => {
  let receiver: SmtpReceiver;
  let env: Record<string, string>;
  let worker: RunningProcess;
  const account = uniqueName('acct');

  beforeAll(async () => {
    receiver = await startSmtpReceiver();
    env = testEnv({ NOTIFICATIONS_SMTP_URL: `smtp://${receiver.host}:${receiver.port}?ignoreTLS=true` });
    worker = await startWorker(loadNotificationsConfig(env), { logger: quietLogger('worker'), port: 0 });
  });

  afterAll(async () => {
    await worker?.stop();
    await receiver?.close();
  });

  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', 'services/notifications/src/cli.ts', ...args],
        { cwd: testInfra().repoRoot, env: { ...process.env, ...env }, timeout: 60_000 },
      );
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  it('creates and lists templates, and refuses an invalid one', async () => {
    const created = await cli('template', 'create', 'welcome', '--subject', 'Hi {{name}}', '--text', 'Hello {{name}}, {{plan}}', '--variables', 'name,plan?', '--account', account, '--json');
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      name: 'welcome',
      version: 1,
      channels: ['email'],
      variables: [{ name: 'name', required: true }, { name: 'plan', required: false }],
    });
    const list = await cli('template', 'list', '--account', account, '--json');
    expect(JSON.parse(list.stdout).items.map((t: { name: string }) => t.name)).toEqual(['welcome']);
    const bad = await cli('template', 'create', 'broken', '--subject', '{{oops', '--text', 'x', '--account', account);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/INVALID_TEMPLATE/);
  });

  it('sends a test notification through the queue and the worker, and directly through the provider', async () => {
    const to = `${uniqueName('cli')}@example.com`;
    const queued = await cli('test', to, '--account', account);
    expect(queued.code, queued.stdout + queued.stderr).toBe(0);
    expect(queued.stdout).toMatch(/sent via smtp after 1 attempt/);
    const direct = await cli('test', to, '--account', account, '--direct');
    expect(direct.code, direct.stdout + direct.stderr).toBe(0);
    expect(direct.stdout).toMatch(/^smtp: sent in \d+ ms/m);
    await waitFor(() => receiver.messages.filter((m) => m.to.includes(to)).length === 2, { label: 'both test emails' });
    const mail = await parseMail(receiver.messages.find((m) => m.to.includes(to))!.raw);
    expect(mail.subject).toBe('nself notifications test');

    const stats = await cli('stats', '--account', account, '--json');
    expect(JSON.parse(stats.stdout)).toMatchObject({ total: 1, byStatus: { sent: 1 }, byChannel: { email: { sent: 1 } } });
  });
});
