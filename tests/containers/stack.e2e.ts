// End to end against the containerized stack (compose.yaml, and compose.yaml + compose.scale.yaml),
// only through the gateway: readiness, chat, upload → thumbnails → event on the uploader's socket, a job,
// BullBoard, a notification into the SMTP sink, the ID.me start redirect.
import { createRealtimeClient, type RealtimeClient, type RelayedEvent } from '@nself/realtime-client';
import { afterAll, describe, expect, it } from 'vitest';
import {
  adminSecret,
  api,
  containerOf,
  dashboardPassword,
  dashboardUser,
  gatewayUrl,
  mailpitUrl,
  makePng,
  podman,
  project,
  runId,
  token,
  variant,
  waitFor,
} from './support.js';

const account = `e2e-${runId}`;
const clients: RealtimeClient[] = [];

function realtime(user: string, transports: ('websocket' | 'polling')[] = ['polling', 'websocket']): RealtimeClient {
  const client = createRealtimeClient({
    url: gatewayUrl,
    token: () => token(user, { sourceAccountId: account }),
    transports,
    reconnectionDelayMs: 200,
    reconnectionDelayMaxMs: 1000,
    socketOptions: { withCredentials: true, forceNew: true },
  });
  clients.push(client);
  return client;
}

afterAll(() => {
  for (const client of clients) client.disconnect();
});

describe(`the stack through the gateway (${variant})`, () => {
  it('/health answers and /ready is green for every service and every dependency', async () => {
    const health = await api('GET', '/health', { headers: { 'x-request-id': `e2e-${runId}-health` } });
    expect(health.status).toBe(200);
    expect(health.headers.get('x-request-id')).toBe(`e2e-${runId}-health`);

    const realtimeChecks = variant === 'scale' ? ['realtime-1', 'realtime-2', 'realtime-3'] : ['realtime'];
    const expected = [
      ...realtimeChecks, 'notifications', 'file-processing', 'jobs', 'idme', 'redis', 'postgres', 'rabbitmq', 's3', 'clamd',
      // compose.yaml gives the gateway the workers' health URLs, so a dead worker turns /ready red too
      'notifications-worker', 'file-processing-worker', 'jobs-worker',
    ];
    // green within a minute of `up` (service readiness may trail container health by a probe)
    const ready = await waitFor(
      async () => {
        const res = await api<{ status: string; checks: Record<string, { status: string; error?: string }> }>('GET', '/ready');
        return res.status === 200 ? res : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000, label: 'gateway /ready 200' },
    );
    expect(ready.body.status).toBe('ok');
    expect(Object.keys(ready.body.checks).sort()).toEqual([...expected].sort());
    for (const [name, check] of Object.entries(ready.body.checks)) expect(check.status, `${name}: ${check.error ?? ''}`).toBe('ok');
  });

  it('two Socket.IO clients chat in a room (long-polling, then the WebSocket upgrade)', async () => {
    const alice = realtime(`alice-${runId}`);
    const bob = realtime(`bob-${runId}`);
    await Promise.all([alice.connect(), bob.connect()]);
    const created = await api<{ room: { id: string; name: string } }>('POST', '/realtime/v1/rooms', {
      token: token(`alice-${runId}`, { sourceAccountId: account }),
      json: { name: `chat-${runId}`, visibility: 'public' },
    });
    expect(created.status, created.text).toBe(201);
    const roomId = created.body.room.id;
    await alice.join(roomId);
    await bob.join(roomId);

    const bobSees: string[] = [];
    const aliceSees: string[] = [];
    bob.on('message:new', (m) => bobSees.push(`${m.senderId}: ${m.content}`));
    alice.on('message:new', (m) => aliceSees.push(`${m.senderId}: ${m.content}`));
    await alice.send(roomId, 'hello bob');
    await waitFor(() => bobSees.includes(`alice-${runId}: hello bob`), { timeoutMs: 10_000, label: 'bob gets alice\'s message' });
    await bob.send(roomId, 'hi alice');
    await waitFor(() => aliceSees.includes(`bob-${runId}: hi alice`), { timeoutMs: 10_000, label: 'alice gets bob\'s reply' });
    // the polling session upgraded to a WebSocket through the gateway
    await waitFor(() => alice.socket.io.engine.transport.name === 'websocket', { timeoutMs: 10_000, label: 'websocket upgrade' });
  });

  it('an uploaded image gets thumbnails, and file.processed reaches the uploader\'s socket', async () => {
    const uploader = `uploader-${runId}`;
    const socket = realtime(uploader, ['websocket']);
    await socket.connect();
    const events: RelayedEvent[] = [];
    socket.on('domain:event', (event) => events.push(event));

    const form = new FormData();
    form.append('file', new Blob([await makePng(640, 480)], { type: 'image/png' }), `e2e-${runId}.png`);
    const upload = await api<{ fileId: string; jobId: string; mimeType: string }>('POST', '/files/v1/files', {
      token: token(uploader, { sourceAccountId: account }),
      body: form,
    });
    expect(upload.status, upload.text).toBe(202);
    expect(upload.body.mimeType).toBe('image/png');
    const { fileId } = upload.body;

    const processed = await waitFor(
      () => events.find((e) => e.type === 'file.processed' && (e.data as { fileId?: string }).fileId === fileId),
      { timeoutMs: 90_000, intervalMs: 200, label: 'file.processed on the uploader\'s socket' },
    );
    expect(processed.source).toBe('file-processing');

    const file = await api<{
      status: string;
      width: number;
      height: number;
      scan: { status: string } | null;
      thumbnails: { size: string; format: string; width: number; height: number; contentType: string; url: string | null }[];
    }>('GET', `/files/v1/files/${fileId}`, { token: token(uploader, { sourceAccountId: account }) });
    expect(file.status).toBe(200);
    expect(file.body.status).toBe('ready');
    expect([file.body.width, file.body.height]).toEqual([640, 480]);
    expect(file.body.scan?.status).toBe('clean'); // clamd scanned it inside the stack
    const formats = new Set(file.body.thumbnails.map((t) => t.format));
    expect(formats).toEqual(new Set(['avif', 'webp', 'jpeg']));
    const small = file.body.thumbnails.filter((t) => t.size === '100x100');
    expect(small).toHaveLength(3);
    for (const t of small) {
      expect(Math.max(t.width, t.height)).toBe(100);
      expect(t.url).toMatch(/^http/);
    }
    // the presigned URLs point at the storage endpoint browsers use (MinIO's S3 port on loopback)
    const jpeg = small.find((t) => t.format === 'jpeg')!;
    const image = await fetch(jpeg.url!, { signal: AbortSignal.timeout(10_000) });
    expect(image.status).toBe(200);
    const bytes = Buffer.from(await image.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
    // another app's user cannot see it
    const foreign = await api('GET', `/files/v1/files/${fileId}`, { token: token(uploader, { sourceAccountId: `${account}-other` }) });
    expect(foreign.status).toBe(404);
  });

  it('a job added over HTTP runs on the jobs worker and completes', async () => {
    const owner = token(`jobber-${runId}`, { sourceAccountId: account });
    const added = await api<{ id: string; status: string }>('POST', '/jobs/v1/jobs', {
      token: owner,
      json: { type: 'noop', payload: { sleepMs: 50 } },
    });
    expect(added.status, added.text).toBe(201);
    const done = await waitFor(
      async () => {
        const job = await api<{ id: string; status: string }>('GET', `/jobs/v1/jobs/${added.body.id}`, { token: owner });
        return job.body.status === 'completed' ? job.body : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, label: 'job completed' },
    );
    expect(done.id).toBe(added.body.id);
  });

  it('BullBoard loads through the gateway with the dashboard credentials, and not without', async () => {
    const anonymous = await api('GET', '/jobs/dashboard');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
    const wrong = await api('GET', '/jobs/dashboard', {
      headers: { authorization: `Basic ${Buffer.from(`${dashboardUser}:not-the-password`).toString('base64')}` },
    });
    expect(wrong.status).toBe(401);

    const basic = { authorization: `Basic ${Buffer.from(`${dashboardUser}:${dashboardPassword}`).toString('base64')}` };
    const page = await api('GET', '/jobs/dashboard', { headers: basic, redirect: 'follow' });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.text).toMatch(/nself jobs/);
    // its assets and API resolve under the gateway's prefix (relative to <base href>)
    expect(/<base href="([^"]+)"/.exec(page.text)?.[1]).toBe('/jobs/dashboard/');
    const asset = /<link href="(static\/css\/[^"]+\.css)"/.exec(page.text)?.[1];
    expect(asset, 'the stylesheet under static/').toBeDefined();
    const css = await api('GET', `/jobs/dashboard/${asset}`, { headers: basic });
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/text\/css/);
    const queues = await api<{ queues: { name: string }[] }>('GET', '/jobs/dashboard/api/queues', { headers: basic });
    expect(queues.status).toBe(200);
    expect(queues.body.queues.length).toBeGreaterThan(0);
  });

  it('a notification is delivered by the notifications worker into the SMTP sink', async () => {
    const admin = { admin: true, headers: { 'x-source-account-id': account } };
    const template = `e2e-welcome-${runId}`;
    const created = await api('POST', '/notify/v1/templates', {
      ...admin,
      json: {
        name: template,
        channels: ['email'],
        subject: 'Welcome {{name}} ({{run}})',
        bodyText: 'Hello {{name}}, this came through the containers.',
        variables: [{ name: 'name' }, { name: 'run' }],
      },
    });
    expect(created.status, created.text).toBe(201);

    const email = `user-${runId}@e2e.test`;
    const sent = await api<{ id: string }>('POST', '/notify/v1/notifications', {
      ...admin,
      json: { userId: `user-${runId}`, to: { email }, template, channel: 'email', data: { name: 'Ada', run: runId } },
    });
    expect(sent.status, sent.text).toBe(202);

    const message = await waitFor(
      async () => {
        const res = await fetch(`${mailpitUrl}/api/v1/search?query=${encodeURIComponent(`to:${email}`)}`);
        const list = (await res.json()) as { messages: { ID: string; Subject: string; To: { Address: string }[] }[] };
        return list.messages[0];
      },
      { timeoutMs: 60_000, intervalMs: 500, label: `mail to ${email} in the SMTP sink` },
    );
    expect(message.Subject).toBe(`Welcome Ada (${runId})`);
    const full = (await (await fetch(`${mailpitUrl}/api/v1/message/${message.ID}`)).json()) as { Text: string };
    expect(full.Text).toContain('Hello Ada, this came through the containers.');

    const status = await waitFor(
      async () => {
        const res = await api<{ status: string }>('GET', `/notify/v1/notifications/${sent.body.id}`, admin);
        return ['sent', 'delivered'].includes(res.body.status) ? res.body : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, label: 'notification status sent' },
    );
    expect(['sent', 'delivered']).toContain(status.status);
  });

  it('the ID.me start endpoint redirects to the provider with a correct authorization request', async () => {
    const user = token(`veteran-${runId}`, { sourceAccountId: account });
    expect((await api('GET', '/idme/v1/auth/start')).status).toBe(401);

    const start = await api('GET', '/idme/v1/auth/start', { token: user });
    expect(start.status, start.text).toBe(302);
    const location = new URL(start.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe('http://idme-oidc:9400/oidc/auth');
    const q = location.searchParams;
    expect(q.get('response_type')).toBe('code');
    expect(q.get('client_id')).toBe(process.env.IDME_CLIENT_ID);
    expect(q.get('redirect_uri')).toBe(process.env.IDME_REDIRECT_URI ?? 'http://localhost:8080/idme/v1/auth/callback');
    expect(q.get('scope')!.split(' ')).toContain('openid');
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('state')).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(q.get('nonce')).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    // the flow is bound to this browser
    expect(start.headers.get('set-cookie')).toMatch(/HttpOnly/i);

    // a second start is a new flow
    const again = new URL((await api('GET', '/idme/v1/auth/start', { token: user })).headers.get('location')!);
    expect(again.searchParams.get('state')).not.toBe(q.get('state'));
    expect(again.searchParams.get('code_challenge')).not.toBe(q.get('code_challenge'));

    // and the OpenID provider accepts the request (from inside the network, where its name resolves):
    // a valid authorization request goes on to the provider's sign-in, an invalid one is an error
    const probe = (url: string) =>
      podman('exec', containerOf('gateway'), 'node', '-e',
        `fetch(${JSON.stringify(url)}, { redirect: 'manual' }).then(async (r) => console.log(r.status, r.headers.get('location') ?? (await r.text()).slice(0, 200)))`);
    const accepted = await probe(location.toString());
    expect(accepted).toMatch(/^30[23] .*\/interaction\//);
    const tampered = new URL(location);
    tampered.searchParams.set('redirect_uri', 'https://attacker.example/callback');
    expect(await probe(tampered.toString())).toMatch(/^400 .*redirect_uri/);
  });

  it('containers: migrations ran once before every service started; non-root node under an init; healthchecks pass', async () => {
    // (engine facts, read with podman: what compose.yaml promises about the containers)
    const names = (await podman('ps', '-a', '--filter', `label=io.podman.compose.project=${project}`, '--format', '{{.Names}}')).split('\n');
    const migrate = containerOf('migrate');
    expect(names).toContain(migrate);
    const [exitCode, finished, restarts] = (
      await podman('inspect', '--format', '{{.State.ExitCode}} {{.State.FinishedAt.UnixMilli}} {{.RestartCount}}', migrate)
    ).split(' ');
    expect(exitCode).toBe('0');
    expect(restarts).toBe('0'); // once
    const nodeServices = ['realtime', 'notifications', 'notifications-worker', 'file-processing', 'file-processing-worker', 'jobs', 'jobs-worker', 'idme', 'gateway'];
    for (const service of nodeServices) {
      const container = containerOf(service);
      const [started, user] = (await podman('inspect', '--format', '{{.State.StartedAt.UnixMilli}} {{.Config.User}}', container)).split(' ');
      expect(Number(started), `${service} started after the migrations finished`).toBeGreaterThan(Number(finished));
      expect(user, `${service} image user`).toBe('node');
      expect(await podman('exec', container, 'id', '-u')).toBe('1000');
      // PID 1 is the init (compose `init: true`), node runs under it
      expect(await podman('exec', container, 'cat', '/proc/1/comm')).toMatch(/init/);
      expect(await podman('exec', container, 'sh', '-c', 'for p in /proc/[0-9]*; do cat $p/comm; done')).toMatch(/^node$/m);
    }
    // every long-running container's own healthcheck passes (podman runs the compose-defined test)
    for (const name of names.filter((n) => n !== migrate)) {
      await expect(podman('healthcheck', 'run', name), name).resolves.toBeDefined();
    }
  });

  it('admin calls work with the admin secret and are refused without it', async () => {
    const refused = await api('GET', '/notify/v1/stats', { headers: { 'x-admin-secret': 'wrong-secret-0123456789' } });
    expect(refused.status).toBe(401);
    const stats = await api('GET', '/notify/v1/stats', { headers: { 'x-admin-secret': adminSecret, 'x-source-account-id': account } });
    expect(stats.status).toBe(200);
  });
});
