// The baseline: http-proxy-middleware 3 with its defaults in front of the service, nothing else.
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

const app = express();
app.use('/jobs', createProxyMiddleware({ target: process.env.TARGET }));
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
});
