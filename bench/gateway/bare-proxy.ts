// The baseline: http-proxy-middleware 3 with its defaults in front of the service, nothing else
// (KEEP_ALIVE=1: the same with a keep-alive agent, to separate connection reuse from middleware cost).
import http from 'node:http';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

const agent = process.env.KEEP_ALIVE === '1' ? new http.Agent({ keepAlive: true, maxSockets: 512 }) : undefined;
const app = express();
app.use('/jobs', createProxyMiddleware({ target: process.env.TARGET, agent }));
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
});
