import exifReader from 'exif-reader';
import request from 'supertest';
import sharp, { type Metadata } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@nself/test-support';
import {
  corruptJpeg,
  EICAR,
  jpegWithGps,
  onePagePdf,
  orientedJpeg,
  pngDeclaring,
  QUADRANTS,
  testVideo,
  zipOf,
} from './fixtures.js';
import { newUser, startHarness, upload, type Harness } from './helpers.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    worker: true,
    env: {
      FILE_MAX_SIZE: '64MB',
      FILE_ALLOWED_TYPES: 'image/*,video/*,application/pdf,application/zip,text/plain',
      FILE_JOB_ATTEMPTS: '2',
    },
  });
});
afterAll(async () => {
  await h?.close();
});

async function uploadAndWait(headers: Record<string, string>, body: Buffer, filename: string, contentType = 'image/jpeg') {
  const res = await upload(h.app, headers, body, { filename, contentType });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const job = await h.waitForJob(res.body.jobId);
  const view = await request(h.app).get(`/v1/files/${res.body.fileId}`).set(headers);
  expect(view.status).toBe(200);
  return { fileId: res.body.fileId as string, jobId: res.body.jobId as string, job, view: view.body };
}

/** Downloads a URL the API handed out (a presigned S3 URL here). */
async function fetchUrl(url: string): Promise<{ status: number; body: Buffer; type: string | null }> {
  const res = await fetch(url);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') };
}

function assertNoMetadata(meta: Metadata, label: string) {
  expect(meta.exif, `${label} exif`).toBeUndefined();
  expect(meta.xmp, `${label} xmp`).toBeUndefined();
  expect(meta.iptc, `${label} iptc`).toBeUndefined();
  expect(meta.orientation, `${label} orientation`).toBeUndefined();
}

describe('images', { timeout: 120_000 }, () => {
  it('makes AVIF, WebP and JPEG thumbnails at every size from a GPS-tagged JPEG, with no EXIF/GPS/XMP left', async () => {
    const user = newUser();
    const original = await jpegWithGps(1600, 1200);
    // The input really carries GPS (EXIF and XMP).
    const inputMeta = await sharp(original).metadata();
    expect(exifReader(inputMeta.exif!).GPSInfo?.GPSLatitude).toEqual([37, 46, 30]);
    expect(inputMeta.xmpAsString).toContain('GPSLatitude');

    const { fileId, jobId, job, view } = await uploadAndWait(user.headers, original, 'IMG_0001.JPG');
    expect(job.status).toBe('completed');
    expect(view).toMatchObject({ status: 'ready', width: 1600, height: 1200, format: 'jpeg', quarantined: false });
    expect(view.scan).toMatchObject({ status: 'clean', engine: 'clamav' });
    // Camera fields kept, location never.
    expect(view.exif).toMatchObject({ make: 'Canon', model: 'Canon EOS 5D Mark IV', iso: 200, fNumber: 2.8, lensModel: 'EF50mm f/1.8 STM' });
    expect(JSON.stringify(view.exif)).not.toMatch(/gps|latitude|longitude/i);

    expect(view.thumbnails).toHaveLength(9);
    const expected = { '100x100': [100, 75], '400x400': [400, 300], '1200x1200': [1200, 900] } as const;
    for (const [size, [w, hgt]] of Object.entries(expected)) {
      for (const format of ['avif', 'webp', 'jpeg']) {
        const thumb = view.thumbnails.find((t: { size: string; format: string }) => t.size === size && t.format === format);
        expect(thumb, `${size} ${format}`).toMatchObject({ width: w, height: hgt });
        // Read back what a client downloads through the presigned URL.
        const got = await fetchUrl(thumb.url);
        expect(got.status).toBe(200);
        expect(got.body.length).toBe(thumb.sizeBytes);
        const meta = await sharp(got.body).metadata();
        expect(meta.format).toBe(format === 'avif' ? 'heif' : format);
        expect([meta.width, meta.height]).toEqual([w, hgt]);
        assertNoMetadata(meta, `${size}.${format}`);
        expect(got.body.includes(Buffer.from('Canon'))).toBe(false);
        expect(got.body.includes(Buffer.from('GPSLatitude'))).toBe(false);
      }
    }
    // The optimized full-size copy is metadata-free too, and is what "download" points at.
    expect(view.optimized).not.toBeNull();
    const optimized = await fetchUrl(view.optimized.url);
    const optimizedMeta = await sharp(optimized.body).metadata();
    expect([optimizedMeta.width, optimizedMeta.height]).toEqual([1600, 1200]);
    assertNoMetadata(optimizedMeta, 'optimized');
    expect(view.download.url).toBe(view.optimized.url);
    // The original is kept byte for byte.
    expect((await fetchUrl(view.original.url)).body.equals(original)).toBe(true);

    await waitFor(() => h.events.forFile(fileId).some((e) => e.type === 'file.processed'), { timeoutMs: 10_000, label: 'file.processed' });
    const processed = h.events.forFile(fileId).filter((e) => e.type === 'file.processed');
    expect(processed).toHaveLength(1);
    expect(processed[0]).toMatchObject({ userId: user.sub, sourceAccountId: user.account, data: { fileId, jobId, thumbnails: 9 } });
  });

  it('turns all 8 EXIF orientations upright', async () => {
    const user = newUser();
    const runs = await Promise.all(
      [1, 2, 3, 4, 5, 6, 7, 8].map(async (orientation) => {
        const input = await orientedJpeg(orientation);
        expect((await sharp(input).metadata()).orientation ?? 1).toBe(orientation);
        return { orientation, ...(await uploadAndWait(user.headers, input, `o${orientation}.jpg`)) };
      }),
    );
    for (const { orientation, view } of runs) {
      expect(view.status, `orientation ${orientation}`).toBe('ready');
      expect([view.width, view.height], `orientation ${orientation}`).toEqual([120, 80]);
      const thumb = view.thumbnails.find((t: { size: string; format: string }) => t.size === '100x100' && t.format === 'jpeg');
      const { data, info } = await sharp((await fetchUrl(thumb.url)).body).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height], `orientation ${orientation}`).toEqual([100, 67]);
      const at = (fx: number, fy: number) => {
        const i = (Math.floor(fy * info.height) * info.width + Math.floor(fx * info.width)) * info.channels;
        return [data[i]!, data[i + 1]!, data[i + 2]!];
      };
      const close = (actual: number[], wanted: readonly number[]) => actual.every((v, i) => Math.abs(v - wanted[i]!) < 40);
      expect(close(at(0.25, 0.25), QUADRANTS.topLeft), `orientation ${orientation} top-left ${at(0.25, 0.25)}`).toBe(true);
      expect(close(at(0.75, 0.25), QUADRANTS.topRight), `orientation ${orientation} top-right ${at(0.75, 0.25)}`).toBe(true);
      expect(close(at(0.25, 0.75), QUADRANTS.bottomLeft), `orientation ${orientation} bottom-left`).toBe(true);
      expect(close(at(0.75, 0.75), QUADRANTS.bottomRight), `orientation ${orientation} bottom-right`).toBe(true);
    }
  });

  it('processes a PNG named .jpg as the PNG it is', async () => {
    const user = newUser();
    const png = await sharp({ create: { width: 300, height: 200, channels: 4, background: { r: 0, g: 128, b: 255, alpha: 0.5 } } })
      .png()
      .toBuffer();
    const { view } = await uploadAndWait(user.headers, png, 'photo.jpg');
    expect(view).toMatchObject({ status: 'ready', mimeType: 'image/png', format: 'png', width: 300, height: 200 });
    expect(view.thumbnails).toHaveLength(9);
  });

  it('fails a corrupt image with a clear error, without retrying', async () => {
    const user = newUser();
    const { fileId, jobId, job, view } = await uploadAndWait(user.headers, await corruptJpeg(), 'broken.jpg');
    expect(job).toMatchObject({ status: 'failed', errorCode: 'IMAGE_CORRUPT', attempts: 1 });
    expect(job.error).toMatch(/could not be decoded/);
    expect(view).toMatchObject({ status: 'failed', thumbnails: [], download: null, original: null });
    await waitFor(() => h.events.forFile(fileId).some((e) => e.type === 'file.failed'), { timeoutMs: 10_000, label: 'file.failed' });
    expect(h.events.forFile(fileId).find((e) => e.type === 'file.failed')).toMatchObject({
      userId: user.sub,
      data: { fileId, jobId, code: 'IMAGE_CORRUPT' },
    });
  });

  it('refuses a decompression bomb (a small PNG declaring 50,000 × 50,000 pixels)', async () => {
    const user = newUser();
    const bomb = pngDeclaring(50_000, 50_000);
    expect(bomb.length).toBeLessThan(2000);
    const { job, view } = await uploadAndWait(user.headers, bomb, 'bomb.png', 'image/png');
    expect(job).toMatchObject({ status: 'failed', errorCode: 'IMAGE_TOO_LARGE', attempts: 1 });
    expect(job.error).toMatch(/2500000000 pixels exceeds the limit/);
    expect(view.thumbnails).toEqual([]);
  });
});

describe('virus scanning', { timeout: 120_000 }, () => {
  async function expectQuarantined(fileId: string, jobId: string, headers: Record<string, string>, userId: string) {
    const view = (await request(h.app).get(`/v1/files/${fileId}`).set(headers)).body;
    expect(view).toMatchObject({ status: 'infected', quarantined: true, thumbnails: [], download: null, original: null, optimized: null, poster: null });
    expect(view.scan.status).toBe('infected');
    expect(view.scan.signature).toMatch(/Eicar/i);
    const row = await h.runtime.repo.getFile(fileId);
    expect(row!.objectKey.startsWith(h.config.storage.quarantinePrefix)).toBe(true);
    const keys = await h.listKeys();
    expect(keys.filter((k) => k.includes(fileId))).toEqual([row!.objectKey]); // only the quarantined original
    expect(await h.runtime.repo.thumbnails(fileId)).toEqual([]);
    await waitFor(() => h.events.forFile(fileId).some((e) => e.type === 'file.infected'), { timeoutMs: 10_000, label: 'file.infected' });
    expect(h.events.forFile(fileId).filter((e) => e.type === 'file.infected')).toHaveLength(1);
    expect(h.events.forFile(fileId).find((e) => e.type === 'file.infected')).toMatchObject({ userId, data: { fileId, jobId } });
    expect(h.events.forFile(fileId).some((e) => e.type === 'file.processed')).toBe(false);
  }

  it('quarantines a valid JPEG carrying EICAR: scanned before any thumbnail is made', async () => {
    const user = newUser();
    const infected = Buffer.concat([await jpegWithGps(400, 300), EICAR]);
    const { fileId, jobId, job } = await uploadAndWait(user.headers, infected, 'innocent.jpg');
    expect(job.status).toBe('completed');
    await expectQuarantined(fileId, jobId, user.headers, user.sub);
  });

  it('detects the EICAR file on its own', async () => {
    const user = newUser();
    const { fileId, jobId } = await uploadAndWait(user.headers, EICAR, 'eicar.com', 'text/plain');
    await expectQuarantined(fileId, jobId, user.headers, user.sub);
  });

  it('detects EICAR inside a zip archive', async () => {
    const user = newUser();
    const zip = zipOf({ 'readme.txt': Buffer.from('nothing to see'), 'tools/eicar.com': EICAR });
    const { fileId, jobId } = await uploadAndWait(user.headers, zip, 'archive.zip', 'application/zip');
    await expectQuarantined(fileId, jobId, user.headers, user.sub);
  });

  it('never reports a file over the scan limit as clean: a scan error, retried, then failed', async () => {
    const user = newUser();
    // clamd's StreamMaxLength is 20M: 21 MB of stored (incompressible) data in a zip is over it.
    const { randomBytes } = await import('node:crypto');
    const big = zipOf({ 'data.bin': randomBytes(21 * 1024 * 1024) }, 0);
    const { fileId, job, view } = await uploadAndWait(user.headers, big, 'big.zip', 'application/zip');
    expect(job).toMatchObject({ status: 'failed', errorCode: 'SCAN_FAILED', attempts: 2 });
    expect(job.error).toMatch(/size limit|Scan aborted|EPIPE|ECONNRESET/i);
    expect(view).toMatchObject({ status: 'failed', download: null, original: null });
    const scans = await h.runtime.prisma.fileScan.findMany({ where: { fileId } });
    expect(scans.length).toBe(2);
    expect(scans.every((s) => s.status === 'error')).toBe(true);
  });

  it('treats an unreachable clamd as an error, never as clean', async () => {
    const net = await import('node:net');
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as import('node:net').AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const other = await startHarness({ worker: true, env: { FILE_CLAMD_PORT: String(closed), FILE_JOB_ATTEMPTS: '2' } });
    try {
      const user = newUser();
      const res = await upload(other.app, user.headers, await jpegWithGps(200, 150), { filename: 'a.jpg' });
      const job = await other.waitForJob(res.body.jobId);
      expect(job).toMatchObject({ status: 'failed', errorCode: 'SCAN_FAILED', attempts: 2 });
      expect(job.error).toMatch(/ECONNREFUSED/);
      expect((await other.runtime.repo.getFile(res.body.fileId))?.status).toBe('failed');
      expect(await other.runtime.repo.thumbnails(res.body.fileId)).toEqual([]);
    } finally {
      await other.close();
    }
  });
});

describe('failures outside the pipeline steps', { timeout: 120_000 }, () => {
  it('records a job that failed for good in the database and announces it (no job stays "running")', async () => {
    // A worker whose scratch directory does not exist fails every attempt before any pipeline step.
    const broken = await startHarness({ worker: true, env: { FILE_TMP_DIR: '/nonexistent/nself-scratch', FILE_JOB_ATTEMPTS: '2' } });
    try {
      const user = newUser();
      const res = await upload(broken.app, user.headers, await jpegWithGps(120, 90), { filename: 'a.jpg' });
      const job = await broken.waitForJob(res.body.jobId);
      expect(job).toMatchObject({ status: 'failed', errorCode: 'INTERNAL_ERROR', attempts: 2 });
      expect(job.error).toMatch(/ENOENT/);
      expect((await broken.runtime.repo.getFile(res.body.fileId))?.status).toBe('failed');
      await waitFor(() => broken.events.forFile(res.body.fileId).some((e) => e.type === 'file.failed'), { timeoutMs: 10_000 });
    } finally {
      await broken.close();
    }
  });
});

describe('video and PDF', { timeout: 120_000 }, () => {
  it('makes a poster frame and thumbnails of a video (ffmpeg)', async () => {
    expect(h.runtime.tools.ffmpeg.available, 'ffmpeg is installed by infra/local/ensure-infra.sh').toBe(true);
    const video = await testVideo();
    expect(video).not.toBeNull();
    const user = newUser();
    const { view } = await uploadAndWait(user.headers, video!, 'clip.mp4', 'video/mp4');
    expect(view).toMatchObject({ status: 'ready', mimeType: 'video/mp4', width: 320, height: 240 });
    expect(view.durationMs).toBeGreaterThanOrEqual(1900);
    expect(view.poster).not.toBeNull();
    const poster = await fetchUrl(view.poster.url);
    expect((await sharp(poster.body).metadata()).format).toBe('jpeg');
    expect(view.thumbnails).toHaveLength(9);
    expect(view.thumbnails.find((t: { size: string }) => t.size === '100x100')).toMatchObject({ width: 100, height: 75 });
  });

  it('renders the first page of a PDF (pdftoppm)', async () => {
    expect(h.runtime.tools.pdftoppm.available, 'poppler-utils is installed by infra/local/ensure-infra.sh').toBe(true);
    const user = newUser();
    const { view } = await uploadAndWait(user.headers, onePagePdf(), 'doc.pdf', 'application/pdf');
    expect(view).toMatchObject({ status: 'ready', mimeType: 'application/pdf', pages: 1, width: 300, height: 200 });
    expect(view.thumbnails).toHaveLength(9);
    const jpeg = view.thumbnails.find((t: { size: string; format: string }) => t.size === '400x400' && t.format === 'jpeg');
    const { data, info } = await sharp((await fetchUrl(jpeg.url)).body).raw().toBuffer({ resolveWithObject: true });
    const mid = (Math.floor(info.height / 2) * info.width + Math.floor(info.width / 2)) * info.channels;
    // The page's blue rectangle fills its middle.
    expect(data[mid + 2]!).toBeGreaterThan(150);
    expect(data[mid]!).toBeLessThan(100);
  });
});

describe('reprocessing', { timeout: 120_000 }, () => {
  it('runs again on POST /process and replaces the results', async () => {
    const user = newUser();
    const { fileId } = await uploadAndWait(user.headers, await jpegWithGps(500, 400), 'again.jpg');
    const again = await request(h.app).post(`/v1/files/${fileId}/process`).set(user.headers);
    expect(again.status).toBe(202);
    expect(again.body.existing).toBe(false);
    const job = await h.waitForJob(again.body.jobId);
    expect(job.status).toBe('completed');
    expect(await h.runtime.repo.thumbnails(fileId)).toHaveLength(9);
    const metrics = await request(h.app).get('/metrics');
    expect(metrics.text).toMatch(/file_jobs_total\{[^}]*result="processed"[^}]*\} \d+/);
  });
});
