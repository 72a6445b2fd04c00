#!/usr/bin/env node
// Container healthcheck without curl: `node healthcheck.mjs <port> [path]` exits 0 when
// http://127.0.0.1:<port><path> (default /health, the liveness endpoint every process serves)
// answers 2xx within 4 s, else 1. Copied into every project image by the Dockerfile.
import http from 'node:http';

const port = Number(process.argv[2] ?? process.env.HEALTHCHECK_PORT);
const path = process.argv[3] ?? '/health';
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: healthcheck.mjs <port> [path]');
  process.exit(2);
}
const request = http.get({ host: '127.0.0.1', port, path, timeout: 4000 }, (response) => {
  response.resume();
  const ok = response.statusCode >= 200 && response.statusCode < 300;
  if (!ok) console.error(`GET ${path} on :${port} answered ${response.statusCode}`);
  process.exit(ok ? 0 : 1);
});
request.on('timeout', () => {
  console.error(`GET ${path} on :${port} timed out`);
  request.destroy();
  process.exit(1);
});
request.on('error', (error) => {
  console.error(`GET ${path} on :${port} failed: ${error.message}`);
  process.exit(1);
});
