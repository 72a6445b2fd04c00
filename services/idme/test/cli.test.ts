import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { testInfra, waitFor } from '@nself/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, RETURN_URL, startHarness, verifyThroughBrowser, type FlowUser, type Harness } from './support/harness.js';

const run = promisify(execFile);

describe('nself-idme CLI', { timeout: 120_000 }, () => {
  let h: Harness;
  let user: FlowUser;

  beforeAll(async () => {
    const infra = testInfra();
    h = await startHarness({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl });
    user = newUser();
    expect((await verifyThroughBrowser(h, user, 'veteran')).callback.location).toBe(`${RETURN_URL}?idme=verified`);
  });
  afterAll(() => h?.close());

  async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const { repoRoot } = testInfra();
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', path.join(repoRoot, 'services/idme/src/cli.ts'), ...args],
        { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', ...h.env, ...env }, timeout: 60_000 },
      );
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  it('test: reports a good configuration against the provider and exits 0', async () => {
    const result = await cli(['test']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ok +pkce +S256 supported/m);
    expect(result.stdout).toContain('configuration OK');
  });

  it('test: names what is wrong and exits 1', async () => {
    const result = await cli(['test', '--json'], { IDME_ISSUER_URL: `${h.fake.issuer}/`, IDME_REDIRECT_URI: 'http://app.example.test/cb' });
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: { check: string; status: string }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.check)).toEqual(['redirect_uri', 'issuer']);
  });

  it('verify and groups: show a verified user and their groups with badges', async () => {
    const verify = await cli(['verify', user.userId, '--account', user.account]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^${user.userId}: verified \\(verified `));
    expect(verify.stdout).toContain('active groups: military, veteran');
    expect(verify.stdout).toContain('Branch: Army');

    const groups = await cli(['groups', user.userId, '--account', user.account, '--json']);
    expect(groups.code).toBe(0);
    const body = JSON.parse(groups.stdout) as { groups: { group: string; badge: { name: string } | null }[] };
    expect(body.groups.map((g) => [g.group, g.badge?.name])).toEqual([
      ['military', 'Military'],
      ['veteran', 'Veteran'],
    ]);

    const unknown = await cli(['verify', 'nobody', '--account', user.account]);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toContain('nobody: no verification');
  });

  it('stats and revoke', async () => {
    const other = newUser();
    expect((await verifyThroughBrowser(h, other, 'student')).callback.location).toBe(`${RETURN_URL}?idme=verified`);
    const revoke = await cli(['revoke', other.userId, '--account', other.account]);
    expect(revoke.code).toBe(0);
    expect(revoke.stdout.trim()).toBe(`${other.userId}: revoked`);
    const stats = await cli(['stats', '--account', other.account, '--json']);
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toEqual({ byStatus: { revoked: 1 }, verifiedGroups: {} });
  });

  it('names missing configuration instead of failing obscurely', async () => {
    const result = await cli(['verify', 'x'], { DATABASE_URL: '' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('DATABASE_URL');
  });
});

describe('the service entry point (src/main.ts)', { timeout: 120_000 }, () => {
  let h: Harness;
  beforeAll(async () => {
    const infra = testInfra();
    h = await startHarness({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl });
  });
  afterAll(() => h?.close());

  it('starts, is ready, and stops cleanly on SIGTERM', async () => {
    const { repoRoot } = testInfra();
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(repoRoot, 'services/idme/src/main.ts')], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', ...h.env, IDME_PORT: '0', IDME_HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const port = await waitFor(() => /"port":(\d+)[^\n]*"msg":"idme listening"/.exec(output)?.[1], { timeoutMs: 30_000, label: 'idme listening' });
      const ready = await fetch(`http://127.0.0.1:${port}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ok', checks: { database: { status: 'ok' }, rabbitmq: { status: 'ok' } } });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('shutdown step done');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses to start without IDME_ALLOWED_RETURN_URLS, naming it', async () => {
    const { repoRoot } = testInfra();
    const result = await run(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(repoRoot, 'services/idme/src/main.ts')], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', ...h.env, IDME_PORT: '0', IDME_ALLOWED_RETURN_URLS: '' },
      timeout: 60_000,
    }).catch((error: { code?: number; stderr?: string }) => error);
    expect((result as { code?: number }).code).toBe(1);
    expect((result as { stderr?: string }).stderr).toContain('IDME_ALLOWED_RETURN_URLS');
  });
});
