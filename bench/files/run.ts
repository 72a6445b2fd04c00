/**
 * file-processing benchmark, in ONE run (1 and 2 alternate in rounds, so load drift hits both alike):
 *   1. direct: the service's own sharp transforms (renderImage: auto-orient, 3 sizes × AVIF/WebP/JPEG,
 *      metadata stripped) on 12-megapixel JPEGs in this process — images/s;
 *   2. pipeline: the same images through the whole service — HTTP multipart upload → API process →
 *      S3 (s3rver) → BullMQ → worker process → download → clamd INSTREAM scan → the same transforms →
 *      S3 → Postgres → file.processed on RabbitMQ — images/s and per-image latency; ratio = 2 / 1;
 *   3. upload throughput: large files streamed through POST /v1/files into S3 (MB/s), one at a time
 *      and two in parallel;
 *   4. AVIF effort trade-off for the 1200 px thumbnail (time and bytes).
 *
 *   npm run bench:files
 *   BENCH_FILES_IMAGES=20 BENCH_FILES_ROUNDS=4 BENCH_FILES_CONCURRENCY=2 BENCH_FILES_UPLOAD_MB=128 npm run bench:files
 *
 * Needs PostgreSQL, Redis, RabbitMQ and clamd (`. infra/local/ensure-infra.sh`); starts its own S3
 * server (s3rver), database, queue and exchange, and removes them afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import S3rver from 's3rver';
import sharp from 'sharp';
import { applyMigrations } from '@nself/db';
import { EventBus, type DomainEvent } from '@nself/events';
import { createLogger } from '@nself/logging';
import { configureSharp, loadFileConfig, renderImage, type ImageOptions } from '@nself/file-processing';
import { printTable, round, summarize } from '../lib/stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const IMAGES = Number(process.env.BENCH_FILES_IMAGES ?? 8);
const ROUNDS = Number(process.env.BENCH_FILES_ROUNDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_FILES_CONCURRENCY ?? 2);
const UPLOAD_MB = Number(process.env.BENCH_FILES_UPLOAD_MB ?? 32);
const UPLOADS = Number(process.env.BENCH_FILES_UPLOADS ?? 3);
const AVIF_EFFORT = process.env.BENCH_FILES_AVIF_EFFORT ?? '3';
const OPTIMIZE = process.env.BENCH_FILES_OPTIMIZE === '1';
const SHARP_CONCURRENCY = Number(process.env.BENCH_FILES_SHARP_CONCURRENCY ?? availableParallelism());
const EFFORTS = (process.env.BENCH_FILES_EFFORTS ?? '2,3,4').split(',').map(Number);

const adminUrl = process.env.NSELF_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.NSELF_REDIS_URL ?? 'redis://127.0.0.1:6379';
const amqpUrl = process.env.NSELF_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const clamdHost = process.env.NSELF_CLAMD_HOST ?? '127.0.0.1';
const clamdPort = process.env.NSELF_CLAMD_PORT ?? '3310';
const JWT_SECRET = 'bench-jwt-secret-that-is-at-least-32-chars';
const ADMIN_SECRET = 'bench-admin-secret-0123456789';

const children: ChildProcess[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Starts an entry of the service as its own process; resolves with the port from its "listening" log line. */
function startProcess(entry: 'main' | 'worker', env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', `services/file-processing/src/${entry}.ts`], {
      cwd: repo,
      env: { ...process.env, ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code}`)));
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      for (const line of buffer.split('\n').slice(0, -1)) {
        try {
          const parsed = JSON.parse(line) as { msg?: string; port?: number; level?: string };
          if (parsed.msg?.includes('listening') && parsed.port) resolve({ child, port: parsed.port });
          if (parsed.level === 'error') console.error(`[${entry}] ${line}`);
        } catch {
          // not JSON
        }
      }
      buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

async function bearer(): Promise<string> {
  const { default: jwt } = await import('jsonwebtoken');
  return `Bearer ${jwt.sign({ sub: 'bench-user', source_account_id: 'bench' }, JWT_SECRET, { algorithm: 'HS256', expiresIn: 3600 })}`;
}

/**
 * POST /v1/files as multipart, written with node:http from a prebuilt head and tail around the file's
 * bytes: the load generator shares the two cores with the pipeline, and fetch + FormData spent about
 * twice the CPU per 4.7 MB upload (it copies the body into a Blob and streams it in small chunks).
 */
const uploadAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
function uploadFile(port: number, auth: string, body: Buffer, name: string, type: string): Promise<{ fileId: string; jobId: string }> {
  const boundary = `----nself-bench-${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: ${type}\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/files',
        agent: uploadAgent,
        headers: {
          authorization: auth,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': head.length + body.length + tail.length,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          try {
            const json = JSON.parse(text) as { fileId: string; jobId: string; detail?: string };
            if (res.statusCode !== 202) reject(new Error(`upload answered ${res.statusCode}: ${json.detail ?? text}`));
            else resolve(json);
          } catch (error) {
            reject(error);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.write(head);
    req.write(body);
    req.end(tail);
  });
}

/** Runs tasks with at most `limit` in flight. */
async function pool<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

/** A 4000×3000 (12 MP) photo-like JPEG with camera EXIF and GPS, ~3–5 MB. */
async function twelveMegapixelJpeg(): Promise<Buffer> {
  const width = 4000;
  const height = 3000;
  const base = await sharp({
    create: { width: 400, height: 300, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } },
  })
    .resize(width, height, { kernel: 'cubic' })
    .raw()
    .toBuffer();
  const grain = await sharp({
    create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 12 } },
  })
    .raw()
    .toBuffer();
  for (let i = 0; i < base.length; i += 1) base[i] = Math.max(0, Math.min(255, base[i]! + grain[i]! - 128));
  return sharp(base, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 88 })
    .withExif({
      IFD0: { Make: 'Bench', Model: 'Camera 12MP' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 0/1', GPSLongitudeRef: 'E', GPSLongitude: '2/1 21/1 0/1' },
    })
    .toBuffer();
}

async function main(): Promise<void> {
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  console.log(`file-processing benchmark — ${IMAGES} images per path in ${ROUNDS} rounds, concurrency ${CONCURRENCY}, sharp threads ${SHARP_CONCURRENCY}, AVIF effort ${AVIF_EFFORT}, optimized original ${OPTIMIZE ? 'on' : 'off'}, virus scan on`);

  // --- infrastructure of this run -------------------------------------------------------------
  const database = `nself_bench_files_${runId}`;
  await admin(`CREATE DATABASE "${database}"`);
  cleanups.push(() => admin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`));
  cleanups.push(async () => uploadAgent.destroy());
  const databaseUrl = Object.assign(new URL(adminUrl), { pathname: `/${database}` }).toString();
  await applyMigrations(databaseUrl);
  const s3Dir = mkdtempSync(path.join(tmpdir(), 'bench-s3-'));
  cleanups.push(async () => rmSync(s3Dir, { recursive: true, force: true }));
  const s3 = new S3rver({ port: 0, address: '127.0.0.1', directory: s3Dir, silent: true });
  const { port: s3Port } = (await s3.run()) as { port: number };
  cleanups.push(() => s3.close());

  const env: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: `bench:${runId}`,
    AMQP_URL: amqpUrl,
    EVENTS_EXCHANGE: `bench.files.${runId}`,
    JWT_SECRET,
    ADMIN_SECRET,
    FILE_PORT: '0',
    FILE_WORKER_PORT: '0',
    FILE_STORAGE_PROVIDER: 'minio',
    FILE_STORAGE_ENDPOINT: `http://127.0.0.1:${s3Port}`,
    FILE_STORAGE_ACCESS_KEY: 'S3RVER',
    FILE_STORAGE_SECRET_KEY: 'S3RVER',
    FILE_STORAGE_BUCKET: `bench-${runId}`,
    FILE_MAX_SIZE: `${Math.max(UPLOAD_MB + 1, 100)}MB`,
    FILE_DEDUPLICATION: 'false',
    FILE_ENABLE_VIRUS_SCAN: 'true',
    FILE_CLAMD_HOST: clamdHost,
    FILE_CLAMD_PORT: clamdPort,
    FILE_ENABLE_OPTIMIZATION: OPTIMIZE ? 'true' : 'false',
    FILE_AVIF_EFFORT: AVIF_EFFORT,
    FILE_WORKER_CONCURRENCY: String(CONCURRENCY),
    FILE_SHARP_CONCURRENCY: String(SHARP_CONCURRENCY),
  };
  cleanups.push(async () => {
    const { Redis } = await import('ioredis');
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `bench:${runId}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  });
  const config = loadFileConfig(env);
  const options: ImageOptions = {
    sizes: config.processing.sizes,
    formats: config.processing.formats,
    optimize: OPTIMIZE,
    jpegQuality: config.processing.jpegQuality,
    webpQuality: config.processing.webpQuality,
    avifQuality: config.processing.avifQuality,
    avifEffort: config.processing.avifEffort,
    maxPixels: config.processing.maxPixels,
  };

  const image = await twelveMegapixelJpeg();
  const meta = await sharp(image).metadata();
  console.log(`input: ${meta.width}×${meta.height} JPEG, ${round(image.length / 1e6)} MB; outputs per image: ${options.sizes.length} sizes × ${options.formats.join('/')}`);

  // --- 1 + 2. direct and whole pipeline, in alternating rounds (a busy machine's drift hits both) ---
  configureSharp(SHARP_CONCURRENCY);
  await renderImage(image, options); // warm-up (libvips init, codec tables)
  const api = await startProcess('main', env);
  const worker = await startProcess('worker', env);
  const logger = createLogger({ service: 'bench', level: 'warn' });
  const bus = new EventBus({ url: amqpUrl, logger, service: 'bench', exchange: env.EVENTS_EXCHANGE });
  await bus.start();
  cleanups.push(() => bus.close());
  const processedAt = new Map<string, number>();
  const failures: DomainEvent[] = [];
  await bus.subscribe({
    queue: `bench.files.${runId}.events`,
    bindings: ['file.processed', 'file.failed', 'file.infected'],
    handler: async (event) => {
      const fileId = (event.data as { fileId: string }).fileId;
      if (event.type === 'file.processed') processedAt.set(fileId, performance.now());
      else failures.push(event);
    },
  });
  cleanups.push(async () => {
    const channel = await bus.connection.getChannel();
    await channel.deleteQueue(`bench.files.${runId}.events`).catch(() => undefined);
    await channel.deleteQueue(`bench.files.${runId}.events.dead`).catch(() => undefined);
    await channel.deleteExchange(env.EVENTS_EXCHANGE!).catch(() => undefined);
  });
  const auth = await bearer();
  const waitProcessed = async (ids: string[]) => {
    const deadline = Date.now() + 30 * 60_000;
    while (ids.some((id) => !processedAt.has(id))) {
      if (failures.length) throw new Error(`pipeline failure: ${JSON.stringify(failures[0])}`);
      if (Date.now() > deadline) throw new Error('pipeline did not finish in time');
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  // Warm-up image through the pipeline (process start-up, connections, JIT), not measured.
  await waitProcessed([(await uploadFile(api.port, auth, image, 'warmup.jpg', 'image/jpeg')).fileId]);
  const stagesBefore = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();

  // CPU seconds each process spends during the pipeline rounds (Linux /proc), to show where the
  // machine's cores go besides sharp: the API, the S3 server (+ this process's upload client), clamd.
  const clamdPid = (() => {
    try {
      return Number(readFileSync(path.join(process.env.NSELF_STATE_DIR ?? '/tmp/nself-infra', `clamd-${clamdPort}`, 'clamd.pid'), 'utf8').trim());
    } catch {
      return undefined;
    }
  })();
  const tracked: Record<string, number | undefined> = {
    'worker process (download, clamd client, sharp, S3 puts, DB)': worker.child.pid,
    'API process (multipart, sha256, S3 upload, DB, queue)': api.child.pid,
    'bench process (s3rver + upload client)': process.pid,
    clamd: clamdPid,
  };
  const cpuTotals: Record<string, number> = {};
  const cpuSnapshot = () =>
    Object.fromEntries(
      Object.entries(tracked).map(([name, pid]) => {
        try {
          const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
          return [name, (Number(fields[11]) + Number(fields[12])) / 100]; // utime + stime, clock ticks
        } catch {
          return [name, NaN];
        }
      }),
    ) as Record<string, number>;
  const addCpu = (before: Record<string, number>, after: Record<string, number>) => {
    for (const name of Object.keys(tracked)) cpuTotals[name] = (cpuTotals[name] ?? 0) + (after[name]! - before[name]!);
  };

  const perRound = Math.max(1, Math.round(IMAGES / ROUNDS));
  let directSeconds = 0;
  let pipelineSeconds = 0;
  let measured = 0;
  const directLatencies: number[] = [];
  const pipelineLatencies: number[] = [];
  let directCpu = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    const cpuAtStart = process.cpuUsage();
    let started = performance.now();
    directLatencies.push(
      ...(await pool(perRound, CONCURRENCY, async () => {
        const t = performance.now();
        const result = await renderImage(image, options);
        if (result.thumbnails.length !== options.sizes.length * options.formats.length) throw new Error('missing outputs');
        return performance.now() - t;
      })),
    );
    directSeconds += (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuAtStart);
    directCpu += (cpu.user + cpu.system) / 1e6;

    const uploadStarted = new Map<string, number>();
    const cpuBefore = cpuSnapshot();
    started = performance.now();
    const uploaded = await pool(perRound, CONCURRENCY, async (i) => {
      const t = performance.now();
      const res = await uploadFile(api.port, auth, image, `img-${round}-${i}.jpg`, 'image/jpeg');
      uploadStarted.set(res.fileId, t);
      return res;
    });
    await waitProcessed(uploaded.map((u) => u.fileId));
    pipelineSeconds += (Math.max(...uploaded.map((u) => processedAt.get(u.fileId)!)) - started) / 1000;
    addCpu(cpuBefore, cpuSnapshot());
    pipelineLatencies.push(...uploaded.map((u) => processedAt.get(u.fileId)! - uploadStarted.get(u.fileId)!));
    measured += perRound;
  }
  const directRate = measured / directSeconds;
  const pipelineRate = measured / pipelineSeconds;

  const direct = summarize(directLatencies);
  const piped = summarize(pipelineLatencies);
  printTable('12 MP JPEG → 3 sizes × 3 formats: images/s', [
    { path: 'direct (sharp in one process)', images: measured, seconds: round(directSeconds), 'images/s': round(directRate, 3), 'p50 ms': round(direct.p50, 0), 'max ms': round(direct.max, 0) },
    { path: 'whole pipeline (scan on)', images: measured, seconds: round(pipelineSeconds), 'images/s': round(pipelineRate, 3), 'p50 ms': round(piped.p50, 0), 'max ms': round(piped.max, 0) },
  ]);
  console.log(`\nratio pipeline / direct = ${round(pipelineRate / directRate, 3)} (target ≥ 0.8)`);

  // Where the worker's time went (its own histogram), per image over the measured rounds.
  const stagesAfter = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
  const read = (text: string, kind: 'sum' | 'count', stage: string) =>
    Number(new RegExp(`file_job_stage_seconds_${kind}\\{[^}]*stage="${stage}"[^}]*\\} ([0-9.e+-]+)`).exec(text)?.[1] ?? 0);
  const stageRows: Record<string, string | number>[] = [];
  for (const stage of ['download_scan', 'render', 'store', 'total']) {
    const sum = read(stagesAfter, 'sum', stage) - read(stagesBefore, 'sum', stage);
    const count = read(stagesAfter, 'count', stage) - read(stagesBefore, 'count', stage);
    stageRows.push({ stage: stage === 'download_scan' ? 'download + clamd scan (streamed together)' : stage, 'mean ms per image': count ? round((sum / count) * 1000, 0) : 'n/a' });
  }
  printTable('Worker time per pipeline stage (from its /metrics)', stageRows);
  printTable(
    'CPU seconds per image during the pipeline rounds, by process (2 cores shared by all of them)',
    [
      { process: 'direct path: sharp in the bench process (for comparison)', 'CPU s per image': round(directCpu / measured, 2) },
      ...Object.entries(cpuTotals).map(([name, seconds]) => ({
        process: name,
        'CPU s per image': Number.isFinite(seconds) ? round(seconds / measured, 2) : 'n/a',
      })),
    ],
  );

  // --- 3. upload throughput ---------------------------------------------------------------------
  // The worker stops first, so the measurement is the upload path alone (API, busboy, sha256, S3).
  await stop(worker.child);
  const blob = Buffer.concat([image.subarray(0, 4096), randomBytes(UPLOAD_MB * 1024 * 1024 - 4096)]);
  const uploadRows: Record<string, string | number>[] = [];
  for (const parallel of [1, 2]) {
    const t = performance.now();
    await pool(UPLOADS * parallel, parallel, (i) => uploadFile(api.port, auth, blob, `big-${parallel}-${i}.jpg`, 'image/jpeg'));
    const seconds = (performance.now() - t) / 1000;
    const mb = (blob.length * UPLOADS * parallel) / (1024 * 1024);
    uploadRows.push({ 'parallel uploads': parallel, files: UPLOADS * parallel, 'MB each': UPLOAD_MB, seconds: round(seconds), 'MB/s': round(mb / seconds, 1) });
  }
  // Reference: the same bytes PUT straight into the S3 server from here (the storage's own ceiling).
  const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint: env.FILE_STORAGE_ENDPOINT,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  let t = performance.now();
  for (let i = 0; i < UPLOADS; i += 1) {
    await client.send(new PutObjectCommand({ Bucket: env.FILE_STORAGE_BUCKET, Key: `reference/${i}`, Body: blob }));
  }
  const refSeconds = (performance.now() - t) / 1000;
  uploadRows.push({ 'parallel uploads': 'reference: S3 PutObject direct', files: UPLOADS, 'MB each': UPLOAD_MB, seconds: round(refSeconds), 'MB/s': round((blob.length * UPLOADS) / (1024 * 1024) / refSeconds, 1) });
  // …and as the service stores a stream of unknown length: a multipart upload in the same part size.
  const { Upload } = await import('@aws-sdk/lib-storage');
  const { Readable } = await import('node:stream');
  t = performance.now();
  for (let i = 0; i < UPLOADS; i += 1) {
    const chunks = Array.from({ length: Math.ceil(blob.length / 65536) }, (_, j) => blob.subarray(j * 65536, (j + 1) * 65536));
    await new Upload({
      client,
      params: { Bucket: env.FILE_STORAGE_BUCKET, Key: `reference-mpu/${i}`, Body: Readable.from(chunks) },
      partSize: config.storage.partSize,
      queueSize: 2,
    }).done();
  }
  const mpuSeconds = (performance.now() - t) / 1000;
  uploadRows.push({ 'parallel uploads': 'reference: S3 multipart stream direct', files: UPLOADS, 'MB each': UPLOAD_MB, seconds: round(mpuSeconds), 'MB/s': round((blob.length * UPLOADS) / (1024 * 1024) / mpuSeconds, 1) });
  client.destroy();
  printTable('Upload throughput (multipart → API → S3, sha256 + type sniffing, streamed)', uploadRows);

  // --- 4. AVIF effort ---------------------------------------------------------------------------
  const effortRows: Record<string, string | number>[] = [];
  const resized = await sharp(image).autoOrient().resize(1200, 1200, { fit: 'inside' }).raw().toBuffer({ resolveWithObject: true });
  for (const effort of EFFORTS) {
    t = performance.now();
    const out = await sharp(resized.data, { raw: resized.info }).avif({ quality: options.avifQuality, effort, chromaSubsampling: '4:2:0' }).toBuffer();
    effortRows.push({ 'AVIF effort': effort, 'ms (1200 px)': round(performance.now() - t, 0), KB: round(out.length / 1024, 1) });
  }
  printTable('AVIF effort for the 1200 px thumbnail (quality 50)', effortRows);

  await stop(api.child);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const child of children) await stop(child);
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    process.exit();
  });
