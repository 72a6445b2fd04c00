import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import cors from 'cors';
import express, { type Express, type RequestHandler, type Response } from 'express';
import { createProxyMiddleware, debugProxyErrorsPlugin, proxyEventsPlugin } from 'http-proxy-middleware';
import type { Redis } from 'ioredis';
import { AppError, Errors, errorMiddleware, notFoundMiddleware, sendProblem } from '@nself/errors';
import type { Health } from '@nself/health';
import { accessLog, requestId } from '@nself/http';
import type { Logger } from '@nself/logging';
import type { Metrics } from '@nself/metrics';
import type { GatewayConfig } from './config.js';
import { redisRateLimit } from './rate-limit.js';
import type { ReplicaPool } from './replica-pool.js';

export { loadGatewayConfig, type GatewayConfig } from './config.js';
export { ReplicaPool, STICKY_COOKIE } from './replica-pool.js';

export interface GatewayDeps {
  config: GatewayConfig;
  logger: Logger;
  redis: Redis;
  health: Health;
  metrics: Metrics;
  realtime: ReplicaPool;
}

export interface Gateway {
  app: Express;
  /** Attach to the HTTP server's 'upgrade' event: WebSockets under /realtime go to a realtime replica. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** At shutdown, after the server stopped: drops WebSockets and keep-alive connections to upstreams. */
  closeConnections(): void;
}

interface Route {
  prefix: string;
  service: string;
  bodyLimit: number;
  target?: string;
}

const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH']);
const timedOut = new WeakSet<IncomingMessage>();
const stickyCookies = new WeakMap<IncomingMessage, string>();
const routeTargets = new WeakMap<IncomingMessage, string>();

function upstreamError(error: NodeJS.ErrnoException, req: IncomingMessage, service: string): AppError {
  if (timedOut.has(req)) return Errors.gatewayTimeout(`${service} did not answer in time`, 'UPSTREAM_TIMEOUT');
  if (error.code && NETWORK_ERRORS.has(error.code)) {
    return Errors.badGateway(`${service} is unavailable`, 'UPSTREAM_UNAVAILABLE');
  }
  return Errors.badGateway(`${service} closed the connection`, 'UPSTREAM_CONNECTION_FAILED');
}

/** Refuses declared bodies over the limit before they reach a service (streamed bodies are limited there). */
function bodyLimit(limit: number): RequestHandler {
  return (req, _res, next) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) throw Errors.payloadTooLarge(`Request body over ${limit} bytes`);
    next();
  };
}

export function createGateway(deps: GatewayDeps): Gateway {
  const { config, logger, metrics, health } = deps;
  // Idle upstream sockets are dropped after 30 s, well before services close them (65 s, @nself/http),
  // so a request never goes out on a socket the service is closing at that moment.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64, timeout: 30_000 });
  const upgradedSockets = new Set<Duplex>();

  const routes: Route[] = [
    { prefix: '/realtime', service: 'realtime', bodyLimit: config.GATEWAY_BODY_LIMIT_BYTES },
    { prefix: '/notify', service: 'notifications', bodyLimit: config.GATEWAY_BODY_LIMIT_BYTES, target: config.NOTIFICATIONS_URL },
    { prefix: '/files', service: 'file-processing', bodyLimit: config.GATEWAY_FILES_BODY_LIMIT_BYTES, target: config.FILES_URL },
    { prefix: '/jobs', service: 'jobs', bodyLimit: config.GATEWAY_BODY_LIMIT_BYTES, target: config.JOBS_URL },
    { prefix: '/idme', service: 'idme', bodyLimit: config.GATEWAY_BODY_LIMIT_BYTES, target: config.IDME_URL },
  ];

  function proxyFor(route: Route) {
    return createProxyMiddleware<IncomingMessage, ServerResponse>({
      target: route.target ?? deps.realtime.urls[0],
      router: route.target
        ? undefined
        : (req) => {
            const { target, cookie } = deps.realtime.route(req);
            if (cookie) stickyCookies.set(req, cookie);
            routeTargets.set(req, target);
            return target;
          },
      agent,
      xfwd: true,
      ejectPlugins: true,
      plugins: [debugProxyErrorsPlugin, proxyEventsPlugin],
      on: {
        proxyReq(proxyReq, req, res) {
          proxyReq.setTimeout(config.GATEWAY_TIMEOUT_MS, () => {
            timedOut.add(req);
            proxyReq.destroy(new Error('upstream timeout'));
          });
          // http-proxy only cancels on 'aborted', which Node no longer emits once the request body is
          // complete: a client that goes away while waiting must still free the upstream request.
          res.once('close', () => {
            if (!res.writableFinished) proxyReq.destroy();
          });
        },
        proxyRes(proxyRes, req) {
          const cookie = stickyCookies.get(req);
          if (cookie) {
            const existing = proxyRes.headers['set-cookie'] ?? [];
            proxyRes.headers['set-cookie'] = [...existing, cookie];
          }
        },
        error(error, req, res) {
          // The client went away first (see proxyReq): nothing to answer, nothing went wrong upstream.
          if ('writeHead' in res && res.destroyed) return;
          const err = error as NodeJS.ErrnoException;
          const target = routeTargets.get(req) ?? route.target;
          if (!route.target && target && err.code && NETWORK_ERRORS.has(err.code)) deps.realtime.markDown(target);
          const problem = upstreamError(err, req, route.service);
          logger.warn(
            { service: route.service, code: err.code, status: problem.status, requestId: req.headers['x-request-id'] },
            'upstream request failed',
          );
          if ('writeHead' in res) {
            const path = ((req as { originalUrl?: string }).originalUrl ?? req.url ?? '').split('?')[0];
            if (!res.headersSent) sendProblem(res as unknown as Response, problem, path);
            else res.destroy();
          } else {
            (res as Duplex).destroy();
          }
        },
      },
    });
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.GATEWAY_TRUST_PROXY_HOPS);
  app.use(requestId());
  app.use(accessLog(logger, metrics));
  if (config.GATEWAY_CORS_ORIGINS.length) {
    const origins = config.GATEWAY_CORS_ORIGINS;
    app.use(cors({ origin: origins.includes('*') ? true : origins, credentials: !origins.includes('*'), maxAge: 600 }));
  }
  app.get('/health', (_req, res) => {
    res.json(health.liveness());
  });
  app.get('/ready', async (_req, res) => {
    const readiness = await health.readiness();
    res.status(readiness.status === 'ok' ? 200 : 503).json(readiness);
  });
  app.get('/metrics', async (_req, res) => {
    const { contentType, body } = await metrics.render();
    res.type(contentType).send(body);
  });

  if (config.GATEWAY_RATE_LIMIT > 0) {
    app.use(
      redisRateLimit({
        redis: deps.redis,
        logger,
        keyPrefix: config.REDIS_KEY_PREFIX,
        limit: config.GATEWAY_RATE_LIMIT,
        windowMs: config.GATEWAY_RATE_WINDOW_MS,
      }),
    );
  }

  let realtimeUpgrade: ((req: IncomingMessage, socket: never, head: Buffer) => void) | undefined;
  for (const route of routes) {
    const proxy = proxyFor(route);
    const label = `${route.prefix}/*`;
    app.use(
      route.prefix,
      (_req, res, next) => {
        res.locals.routeLabel = label;
        next();
      },
      bodyLimit(route.bodyLimit),
      proxy,
    );
    if (!route.target) realtimeUpgrade = proxy.upgrade;
  }
  app.use(notFoundMiddleware());
  app.use(errorMiddleware(logger));

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = req.url ?? '';
    if (!(url === '/realtime' || url.startsWith('/realtime/')) || !realtimeUpgrade) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (health.isShuttingDown()) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    req.url = url.slice('/realtime'.length) || '/';
    upgradedSockets.add(socket);
    socket.once('close', () => upgradedSockets.delete(socket));
    socket.on('error', () => socket.destroy());
    realtimeUpgrade(req, socket as never, head);
  }

  function closeConnections(): void {
    for (const socket of upgradedSockets) socket.destroy();
    agent.destroy();
  }

  return { app, handleUpgrade, closeConnections };
}
