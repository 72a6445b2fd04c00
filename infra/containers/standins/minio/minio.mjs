#!/usr/bin/env node
/* eslint-disable no-console -- a server that logs to stdout like the program it stands in for */
// `minio server <dir> [--address :9000] [--console-address :9001]` answered by s3rver (S3 protocol,
// filesystem-backed). Credentials come from MINIO_ROOT_USER / MINIO_ROOT_PASSWORD like MinIO's.
// Health paths as MinIO: GET|HEAD /minio/health/live and /minio/health/ready.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');

const args = process.argv.slice(2);
if (args[0] !== 'server') {
  console.error('usage: minio server <dir> [--address :9000] [--console-address :9001]');
  process.exit(2);
}
let directory = '/data';
let address = ':9000';
for (let i = 1; i < args.length; i++) {
  if (args[i] === '--address') address = args[++i];
  else if (args[i] === '--console-address') i++; // no console in the stand-in
  else if (!args[i].startsWith('-')) directory = args[i];
}
const port = Number(address.split(':').pop() || 9000);
const user = process.env.MINIO_ROOT_USER || 'minioadmin';
const password = process.env.MINIO_ROOT_PASSWORD || 'minioadmin';
AWSAccount.DUMMY_ACCOUNT.createKeyPair(user, password);

const s3 = new S3rver({ directory, silent: true, vhostBuckets: false, resetOnClose: false });
const handle = s3.callback();
const server = http.createServer((req, res) => {
  const path = (req.url || '/').split('?')[0];
  if (path === '/minio/health/live' || path === '/minio/health/ready') {
    res.writeHead(200, { 'content-length': '0' }).end();
    return;
  }
  handle(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '0.0.0.0', () => {
  console.log(`S3 stand-in (s3rver) serving ${directory} on :${port} (MinIO API surface: S3 + /minio/health/*)`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
