#!/usr/bin/env node
/* eslint-disable no-console -- a CLI */
/* global fetch, AbortSignal -- Node 20 globals */
// The one `mc` command compose healthchecks use against MinIO: `mc ready <alias>` exits 0 when the
// server's /minio/health/ready answers 200 (alias `local` = http://127.0.0.1:9000, as in MinIO's image).
const [command, alias = 'local'] = process.argv.slice(2);
if (command !== 'ready') {
  console.error('stand-in mc supports only: mc ready local');
  process.exit(2);
}
const base = alias === 'local' ? 'http://127.0.0.1:9000' : alias;
try {
  const response = await fetch(`${base}/minio/health/ready`, { signal: AbortSignal.timeout(3000) });
  if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
  console.log(`The cluster '${alias}' is ready`);
} catch (error) {
  console.error(`The cluster '${alias}' is not ready: ${error.message}`);
  process.exit(1);
}
