import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildCli } from '../src/cli.js';
import { uniqueName, waitFor } from '@nself/test-support';
import { EICAR } from './fixtures.js';
import { newUser, spawnEntry, startHarness, upload, type Harness } from './helpers.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ env: { FILE_THUMBNAIL_SIZES: '64x64', FILE_THUMBNAIL_FORMATS: 'jpeg' } });
});
afterAll(async () => {
  await h?.close();
});

/** Runs a CLI command in this process (same code as the binary; one test below spawns the real thing). */
async function cli(...args: string[]): Promise<{ code: number | null; stdout: string }> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => {
    lines.push(parts.map(String).join(' '));
  });
  const savedEnv = { ...process.env };
  Object.assign(process.env, h.env, { LOG_LEVEL: 'silent' });
  process.exitCode = undefined;
  try {
    await buildCli().exitOverride().parseAsync(['node', 'nself-file-processing', ...args]);
    return { code: Number(process.exitCode ?? 0), stdout: lines.join('\n') };
  } finally {
    process.exitCode = undefined;
    log.mockRestore();
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  }
}

const jpeg = (seed: number) =>
  sharp({ create: { width: 80, height: 60, channels: 3, background: { r: seed, g: 100, b: 50 } } }).jpeg().toBuffer();

describe('CLI', { timeout: 120_000 }, () => {
  it('process <key> --inline registers an object already in the bucket and runs the pipeline', async () => {
    const account = uniqueName('acct');
    const key = `imports/${uniqueName('img')}.jpg`;
    await h.s3.send(new PutObjectCommand({ Bucket: h.config.storage.bucket, Key: key, Body: await jpeg(1) }));
    const out = await cli('process', key, '--account', account, '--owner', 'u-1', '--inline', '--json');
    expect(out.code, out.stdout).toBe(0);
    const result = JSON.parse(out.stdout.slice(out.stdout.indexOf('{')));
    expect(result).toMatchObject({ outcome: 'processed', thumbnails: 1 });
    const file = await h.runtime.repo.getFile(result.fileId);
    expect(file).toMatchObject({ sourceAccountId: account, ownerId: 'u-1', objectKey: key, status: 'ready' });
    expect(file!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await h.runtime.repo.getJob(result.jobId))?.status).toBe('completed');
    await waitFor(() => h.events.forFile(result.fileId).some((e) => e.type === 'file.processed'), { timeoutMs: 10_000 });
  });

  it('cleanup reports orphans on a dry run and deletes them only with --apply', async () => {
    const user = newUser();
    // A row whose object vanished, and an object no row references.
    const res = await upload(h.app, user.headers, await jpeg(2), { filename: 'gone.jpg' });
    const gone = await h.runtime.repo.getFile(res.body.fileId);
    await h.s3.send(new DeleteObjectCommand({ Bucket: h.config.storage.bucket, Key: gone!.objectKey }));
    const orphanKey = `${user.account}/${randomUUID()}/original.jpg`;
    await h.s3.send(new PutObjectCommand({ Bucket: h.config.storage.bucket, Key: orphanKey, Body: await jpeg(3) }));
    const foreignKey = `someone-else/${uniqueName('x')}.bin`; // outside the service's layout: never touched
    await h.s3.send(new PutObjectCommand({ Bucket: h.config.storage.bucket, Key: foreignKey, Body: Buffer.from('x') }));

    const dry = await cli('cleanup', '--grace-minutes', '0', '--json');
    expect(dry.code, dry.stdout).toBe(0);
    const report = JSON.parse(dry.stdout.slice(dry.stdout.indexOf('{')));
    expect(report.dryRun).toBe(true);
    expect(report.orphanObjects.map((o: { key: string }) => o.key)).toContain(orphanKey);
    expect(report.orphanObjects.map((o: { key: string }) => o.key)).not.toContain(foreignKey);
    expect(report.filesWithoutObject.map((f: { id: string }) => f.id)).toContain(gone!.id);
    expect(await h.runtime.storage.head(orphanKey)).not.toBeNull(); // nothing changed
    expect(await h.runtime.repo.getFile(gone!.id)).not.toBeNull();

    const applied = await cli('cleanup', '--grace-minutes', '0', '--apply');
    expect(applied.code, applied.stdout).toBe(0);
    expect(applied.stdout).toMatch(/orphaned objects: \d+ .* deleted/);
    expect(await h.runtime.storage.head(orphanKey)).toBeNull();
    expect(await h.runtime.storage.head(foreignKey)).not.toBeNull();
    expect(await h.runtime.repo.getFile(gone!.id)).toBeNull();
  });

  it('scan re-scans stored files and quarantines the ones that turn out infected', async () => {
    const user = newUser();
    const clean = await upload(h.app, user.headers, await jpeg(4), { filename: 'clean.jpg' });
    const later = await upload(h.app, user.headers, await jpeg(5), { filename: 'later.jpg' });
    // The stored bytes change behind the service's back (or new signatures arrive).
    const row = await h.runtime.repo.getFile(later.body.fileId);
    await h.s3.send(
      new PutObjectCommand({ Bucket: h.config.storage.bucket, Key: row!.objectKey, Body: Buffer.concat([await jpeg(5), EICAR]) }),
    );
    const out = await cli('scan', '--account', user.account, '--json');
    expect(out.code).toBe(1); // something was found
    const report = JSON.parse(out.stdout.slice(out.stdout.indexOf('{')));
    expect(report).toMatchObject({ scanned: 2, clean: 1, errors: [] });
    expect(report.infected).toEqual([{ fileId: later.body.fileId, signature: expect.stringMatching(/Eicar/i) }]);
    expect(await h.runtime.repo.getFile(clean.body.fileId)).toMatchObject({ quarantined: false });
    const infected = await h.runtime.repo.getFile(later.body.fileId);
    expect(infected).toMatchObject({ quarantined: true, status: 'infected' });
    expect(infected!.objectKey.startsWith(h.config.storage.quarantinePrefix)).toBe(true);
    await waitFor(() => h.events.forFile(later.body.fileId).some((e) => e.type === 'file.infected'), { timeoutMs: 10_000 });
  });

  it('stats prints counts for an account (run as its own process, like an operator would)', async () => {
    const user = newUser();
    await upload(h.app, user.headers, await jpeg(6), { filename: 'a.jpg' });
    const p = await spawnEntry('cli', { ...h.env, LOG_LEVEL: 'warn' }, ['stats', '--account', user.account, '--json']);
    expect(await p.exited, p.output()).toBe(0);
    const out = p.output();
    const stats = JSON.parse(out.slice(out.indexOf('{')));
    expect(stats).toMatchObject({ sourceAccountId: user.account, files: { uploaded: 1 }, jobs: { queued: 1 }, thumbnails: 0 });
    expect(stats.queue.waiting).toBeGreaterThan(0);
  });

  it('has every command of the plugin manifest', () => {
    const names = buildCli().commands.map((c) => c.name());
    expect(names.sort()).toEqual(['cleanup', 'init', 'process', 'scan', 'server', 'stats', 'worker']);
  });
});
