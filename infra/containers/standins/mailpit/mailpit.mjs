#!/usr/bin/env node
/* eslint-disable no-console -- a server that logs to stdout like the program it stands in for */
/* global fetch, AbortSignal, URL -- Node 20 globals */
// Stand-in for Mailpit (an SMTP sink with a web UI and an HTTP API), small enough to read:
//   mailpit            SMTP on MP_SMTP_BIND_ADDR (0.0.0.0:1025), HTTP on MP_UI_BIND_ADDR (0.0.0.0:8025)
//   mailpit readyz     exit 0 when the HTTP server answers /readyz (the image's healthcheck)
// HTTP, the subset of Mailpit's API v1 that tools and tests use, in Mailpit's JSON shapes:
//   GET /api/v1/messages?start&limit   GET /api/v1/search?query=to:x@y subject:z   (newest first)
//   GET /api/v1/message/{ID|latest}    GET /api/v1/message/{ID}/raw
//   DELETE /api/v1/messages            (all, or {"IDs": [...]})
//   GET /readyz, /livez, and / (an HTML list of the messages)
// Messages are kept in memory (MP_MAX_MESSAGES, default 500), as Mailpit does without MP_DATABASE.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

function bindAddress(value, fallbackPort) {
  const [host, port] = (value || '').includes(':') ? value.split(/:(?=[^:]*$)/) : ['', value];
  return { host: host || '0.0.0.0', port: Number(port || fallbackPort) };
}
const ui = bindAddress(process.env.MP_UI_BIND_ADDR, 8025);

if (process.argv[2] === 'readyz') {
  try {
    const response = await fetch(`http://127.0.0.1:${ui.port}/readyz`, { signal: AbortSignal.timeout(3000) });
    process.exit(response.status === 200 ? 0 : 1);
  } catch {
    process.exit(1);
  }
}

const smtp = bindAddress(process.env.MP_SMTP_BIND_ADDR, 1025);
const maxMessages = Number(process.env.MP_MAX_MESSAGES || 500);
const messages = []; // newest first

const address = (a) => ({ Name: a?.name ?? '', Address: a?.address ?? '' });
const addressList = (field) => (field ? [field].flat().flatMap((group) => group.value.map(address)) : []);

function summary(m) {
  return {
    ID: m.ID, MessageID: m.MessageID, Read: m.Read, From: m.From, To: m.To, Cc: m.Cc, Bcc: m.Bcc,
    ReplyTo: m.ReplyTo, Subject: m.Subject, Created: m.Created, Tags: [], Size: m.Size,
    Attachments: m.Attachments.length, Snippet: m.Text.replace(/\s+/g, ' ').trim().slice(0, 250),
  };
}

function matches(m, query) {
  const terms = query.match(/(\w+:"[^"]*"|\w+:\S+|"[^"]*"|\S+)/g) ?? [];
  return terms.every((term) => {
    const [, key, raw] = /^(\w+):(.*)$/.exec(term) ?? [null, null, term];
    const value = raw.replace(/^"|"$/g, '').toLowerCase();
    const hasAddress = (list) => list.some((a) => a.Address.toLowerCase().includes(value) || a.Name.toLowerCase().includes(value));
    switch (key) {
      case 'to': return hasAddress([...m.To, ...m.Cc, ...m.Bcc]);
      case 'from': return hasAddress([m.From]);
      case 'subject': return m.Subject.toLowerCase().includes(value);
      default: return `${m.Subject}\n${m.Text}\n${m.HTML}`.toLowerCase().includes(value);
    }
  });
}

const smtpServer = new SMTPServer({
  authOptional: true,
  allowInsecureAuth: true,
  disabledCommands: ['STARTTLS'],
  size: 25 * 1024 * 1024,
  onAuth(auth, _session, callback) {
    callback(null, { user: auth.username || 'anonymous' }); // MP_SMTP_AUTH_ACCEPT_ANY
  },
  onData(stream, session, callback) {
    const chunks = [];
    stream.on('data', (chunk) => chunks.push(chunk));
    stream.on('end', async () => {
      try {
        const raw = Buffer.concat(chunks);
        const parsed = await simpleParser(raw);
        const to = addressList(parsed.to);
        const headerRecipients = new Set([...to, ...addressList(parsed.cc)].map((a) => a.Address.toLowerCase()));
        const bcc = session.envelope.rcptTo
          .filter((r) => !headerRecipients.has(r.address.toLowerCase()))
          .map((r) => ({ Name: '', Address: r.address }));
        messages.unshift({
          ID: randomUUID(), MessageID: (parsed.messageId ?? '').replace(/^<|>$/g, ''), Read: false,
          From: address(parsed.from?.value?.[0] ?? { address: session.envelope.mailFrom?.address }),
          To: to, Cc: addressList(parsed.cc), Bcc: bcc, ReplyTo: addressList(parsed.replyTo),
          ReturnPath: session.envelope.mailFrom?.address ?? '', Subject: parsed.subject ?? '',
          Date: (parsed.date ?? new Date()).toISOString(), Created: new Date().toISOString(),
          Text: parsed.text ?? '', HTML: typeof parsed.html === 'string' ? parsed.html : '',
          Size: raw.length, raw,
          Attachments: (parsed.attachments ?? []).map((a) => ({
            PartID: a.partId ?? '', FileName: a.filename ?? '', ContentType: a.contentType, Size: a.size,
          })),
        });
        messages.length = Math.min(messages.length, maxMessages);
        callback();
      } catch (error) {
        callback(error);
      }
    });
  },
});
smtpServer.on('error', (error) => console.error('smtp error:', error.message));

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function send(res, status, body, type = 'application/json') {
  const text = type === 'application/json' ? JSON.stringify(body) : body;
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
function list(res, items, url) {
  const start = Number(url.searchParams.get('start') ?? 0);
  const limit = Number(url.searchParams.get('limit') ?? 50);
  send(res, 200, {
    total: messages.length, unread: messages.filter((m) => !m.Read).length, messages_count: items.length,
    start, tags: [], messages: items.slice(start, start + limit).map(summary),
  });
}

const httpServer = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://mailpit');
  const path = url.pathname;
  try {
    if (path === '/readyz' || path === '/livez') return send(res, 200, 'ok', 'text/plain');
    if (req.method === 'GET' && path === '/api/v1/messages') return list(res, messages, url);
    if (req.method === 'GET' && path === '/api/v1/search') {
      return list(res, messages.filter((m) => matches(m, url.searchParams.get('query') ?? '')), url);
    }
    if (req.method === 'DELETE' && path === '/api/v1/messages') {
      const body = await new Promise((resolve) => {
        let data = '';
        req.on('data', (c) => (data += c)).on('end', () => resolve(data));
      });
      const ids = body ? (JSON.parse(body).IDs ?? []) : [];
      if (ids.length === 0) messages.length = 0;
      else for (const id of ids) { const i = messages.findIndex((m) => m.ID === id); if (i >= 0) messages.splice(i, 1); }
      return send(res, 200, 'ok', 'text/plain');
    }
    const one = /^\/api\/v1\/message\/([^/]+)(\/raw)?$/.exec(path);
    if (req.method === 'GET' && one) {
      const m = one[1] === 'latest' ? messages[0] : messages.find((x) => x.ID === one[1]);
      if (!m) return send(res, 404, 'message not found', 'text/plain');
      if (one[2]) return send(res, 200, m.raw.toString('utf8'), 'text/plain');
      m.Read = true;
      const { raw: _raw, Created: _created, Read: _read, ...message } = m;
      return send(res, 200, { ...message, Tags: [], Inline: [], ListUnsubscribe: {} });
    }
    if (req.method === 'GET' && path === '/') {
      const rows = messages.map((m) => `<tr><td>${escapeHtml(m.Created)}</td><td>${escapeHtml(m.From.Address)}</td>` +
        `<td>${escapeHtml(m.To.map((a) => a.Address).join(', '))}</td><td>${escapeHtml(m.Subject)}</td></tr>`).join('\n');
      return send(res, 200, `<!doctype html><html><head><title>Mailpit (stand-in)</title></head><body>` +
        `<h1>Mailpit stand-in: ${messages.length} message(s)</h1><table border="1" cellpadding="4">` +
        `<tr><th>Received</th><th>From</th><th>To</th><th>Subject</th></tr>${rows}</table></body></html>`, 'text/html');
    }
    send(res, 404, 'not found', 'text/plain');
  } catch (error) {
    send(res, 500, String(error?.message ?? error), 'text/plain');
  }
});

smtpServer.listen(smtp.port, smtp.host, () => console.log(`SMTP sink on ${smtp.host}:${smtp.port}`));
httpServer.listen(ui.port, ui.host, () => console.log(`web UI and API on ${ui.host}:${ui.port}`));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    httpServer.close();
    smtpServer.close(() => process.exit(0));
  });
}
