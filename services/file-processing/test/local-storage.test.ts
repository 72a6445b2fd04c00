import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLinkSigner } from '../src/adapters/signed-links.js';
import { LocalStorage } from '../src/adapters/storage.js';
import { jpegWithGps } from './fixtures.js';
import { newUser, startHarness, upload, type Harness } from './helpers.js';

let h: Harness;
let dir: string;
const PUBLIC = 'http://files.example.test/files';

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'fp-local-'));
  // No endpoint: the embedded local-disk storage, links signed and served by the service itself.
  h = await startHarness({
    worker: true,
    env: {
      FILE_STORAGE_PROVIDER: '',
      FILE_STORAGE_ENDPOINT: '',
      FILE_STORAGE_LOCAL_DIR: dir,
      FILE_PUBLIC_URL: PUBLIC,
      FILE_ENABLE_VIRUS_SCAN: 'false',
      FILE_THUMBNAIL_SIZES: '64x64,256x256',
      FILE_THUMBNAIL_FORMATS: 'webp,jpeg',
    },
  });
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

const pathOf = (url: string) => new URL(url).pathname.replace(/^\/files/, '');

describe('local-disk storage', { timeout: 90_000 }, () => {
  it('stores on disk, processes, and serves signed, expiring links', async () => {
    expect(h.runtime.storage).toBeInstanceOf(LocalStorage);
    const user = newUser();
    const jpeg = await jpegWithGps(640, 480);
    const res = await upload(h.app, user.headers, jpeg, { filename: 'local.jpg' });
    expect(res.status).toBe(202);
    const job = await h.waitForJob(res.body.jobId);
    expect(job.status).toBe('completed');
    const storage = h.runtime.storage as LocalStorage;
    const row = await h.runtime.repo.getFile(res.body.fileId);
    expect(readFileSync(storage.pathOf(row!.objectKey)).equals(jpeg)).toBe(true);

    const view = (await request(h.app).get(`/v1/files/${res.body.fileId}`).set(user.headers)).body;
    expect(view.scan).toBeNull(); // scanning is off in this instance
    expect(view.thumbnails.map((t: { size: string; format: string }) => `${t.size}.${t.format}`).sort()).toEqual([
      '256x256.jpeg',
      '256x256.webp',
      '64x64.jpeg',
      '64x64.webp',
    ]);
    const thumb = view.thumbnails.find((t: { size: string; format: string }) => t.size === '256x256' && t.format === 'webp');
    expect(thumb.url.startsWith(`${PUBLIC}/v1/download/`)).toBe(true);
    const got = await request(h.app).get(pathOf(thumb.url)).buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('image/webp');
    expect(got.headers['x-content-type-options']).toBe('nosniff');
    const meta = await sharp(got.body as Buffer).metadata();
    expect([meta.format, meta.width, meta.height, meta.exif]).toEqual(['webp', 256, 192, undefined]);

    const original = await request(h.app).get(pathOf(view.original.url));
    expect(original.status).toBe(200);
    expect(original.headers['content-disposition']).toContain('local.jpg');

    // Tampered and expired links are refused.
    const token = pathOf(thumb.url).split('/').pop()!;
    const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await request(h.app).get(`/v1/download/${tampered}`)).status).toBe(403);
    const signer = createLinkSigner(h.config.links.signingSecret);
    const expired = signer.sign({ key: row!.objectKey, expiresAt: Math.floor(Date.now() / 1000) - 1 });
    expect((await request(h.app).get(`/v1/download/${expired}`)).status).toBe(403);
    const forged = createLinkSigner('another-secret-entirely-0123456789').sign({ key: row!.objectKey, expiresAt: 2e9 });
    expect((await request(h.app).get(`/v1/download/${forged}`)).body.code).toBe('LINK_INVALID');

    // Deleted: the links stop working.
    expect((await request(h.app).delete(`/v1/files/${res.body.fileId}`).set(user.headers)).status).toBe(204);
    expect((await request(h.app).get(pathOf(thumb.url))).status).toBe(404);
    expect((await h.listKeys()).filter((k) => k.includes(res.body.fileId))).toEqual([]);
  });

  it('refuses keys that would escape the bucket directory', () => {
    const storage = h.runtime.storage as LocalStorage;
    expect(() => storage.pathOf('../etc/passwd')).toThrow(/unsafe/);
    expect(() => storage.pathOf('/etc/passwd')).toThrow(/unsafe/);
    expect(() => storage.pathOf('a/../../b')).toThrow(/unsafe/);
  });
});
