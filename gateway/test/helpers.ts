import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { Server as SocketServer } from 'socket.io';
import { createHealth } from '@nself/health';
import { listen } from '@nself/http';
import { createMemoryLogger } from '@nself/logging';
import { createMetrics } from '@nself/metrics';
import { testInfra, uniqueName } from '@nself/test-support';
import { createGateway, ReplicaPool } from '../src/app.js';
import { gatewayEnvSchema, type GatewayConfig } from '../src/config.js';
import { readinessChecks } from '../src/readiness.js';

export const portOf = (server: http.Server) => (server.address() as AddressInfo).port;

/** An upstream that answers every request with what it received; /ready can be switched off. */
export async function startEchoUpstream(name: string) {
  const state = { ready: true, open: 0, closedEarly: 0, delayMs: 0, resetNext: false };
  const handler: http.RequestListener = (req, res) => {
    if (req.url === '/ready') {
      res.writeHead(state.ready ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: state.ready ? 'ok' : 'error' }));
      return;
    }
    if (req.url === '/health') {
      res.end('{"status":"ok"}');
      return;
    }
    state.open += 1;
    let finished = false;
    res.on('close', () => {
      state.open -= 1;
      if (!finished) state.closedEarly += 1;
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.resetNext) {
        state.resetNext = false;
        req.socket.destroy();
        return;
      }
      setTimeout(() => {
        if (res.destroyed) return;
        finished = true;
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            service: name,
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      }, state.delayMs);
    });
  };
  const server = await listen(handler, 0, '127.0.0.1');
  return { server, state, url: `http://127.0.0.1:${portOf(server)}` };
}

/** A minimal realtime replica: Socket.IO at /socket.io answering `whoami` with its name. */
export async function startSocketReplica(name: string) {
  const server = http.createServer((req, res) => {
    if (req.url === '/health' || req.url === '/ready') {
      res.end('{"status":"ok"}');
      return;
    }
    res.writeHead(404).end();
  });
  const io = new SocketServer(server, { path: '/socket.io', transports: ['polling', 'websocket'] });
  const connections = new Set<import('node:net').Socket>();
  server.on('connection', (socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  io.on('connection', (socket) => {
    socket.on('whoami', (ack: (name: string) => void) => ack(name));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    name,
    io,
    server,
    url: `http://127.0.0.1:${portOf(server)}`,
    /** Dies like a killed process: stops listening and drops every connection without a goodbye. */
    crash: () => {
      io.close();
      server.close();
      for (const socket of connections) socket.destroy();
    },
  };
}

export async function startGateway(overrides: Record<string, string>) {
  const infra = testInfra();
  const config: GatewayConfig = gatewayEnvSchema.parse({
    REDIS_URL: infra.redisUrl,
    REDIS_KEY_PREFIX: `${infra.redisPrefix}:${uniqueName('gw')}`,
    LOG_LEVEL: 'debug',
    ...overrides,
  });
  const { logger, lines } = createMemoryLogger('gateway');
  const redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  // Wait for the connection (a test of an unreachable Redis just goes on after the timeout).
  await Promise.race([new Promise((r) => redis.once('ready', r)), new Promise((r) => setTimeout(r, 1000))]);
  const health = createHealth(readinessChecks(config, redis));
  const metrics = createMetrics('gateway');
  const realtime = new ReplicaPool(config.REALTIME_URLS, logger);
  realtime.startHealthChecks(200);
  const gateway = createGateway({ config, logger, redis, health, metrics, realtime });
  const server = await listen(gateway.app, 0, '127.0.0.1');
  server.on('upgrade', gateway.handleUpgrade);
  return {
    server,
    lines,
    url: `http://127.0.0.1:${portOf(server)}`,
    close: async () => {
      realtime.stop();
      server.closeAllConnections();
      gateway.closeConnections();
      await new Promise<void>((r) => server.close(() => r()));
      redis.disconnect();
    },
  };
}
