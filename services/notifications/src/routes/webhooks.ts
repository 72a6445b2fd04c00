import { Errors, errorMiddleware, notFoundMiddleware } from '@nself/errors';
import { accessLog, requestId } from '@nself/http';
import type { Metrics } from '@nself/metrics';
import express, { Router, type Request } from 'express';
import {
  applyDeliveryEvents,
  parseGenericEvents,
  twilioStatus,
  verifyGeneric,
  verifyTwilio,
} from '../use-cases/webhooks.js';
import type { ApiDeps } from './deps.js';

/** The URLs a provider may have signed: the configured public URL, else the URL this request came in on. */
function signedUrls(req: Request, publicUrl: string | undefined, path: string): string[] {
  const urls = [`${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`];
  if (publicUrl) urls.unshift(`${publicUrl.replace(/\/+$/, '')}${path}${req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : ''}`);
  return urls;
}

/**
 * Provider webhooks, signature-checked over the raw request body, which is why they live in their own
 * router in front of the JSON parser: Twilio status callbacks (X-Twilio-Signature) and a generic
 * HMAC-signed delivery/bounce endpoint. Mount it at /v1/webhooks.
 */
export function webhookApp(deps: ApiDeps, metrics: Metrics): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback, uniquelocal');
  const router = Router();
  router.use(requestId(), accessLog(deps.logger, metrics), express.raw({ type: () => true, limit: '256kb' }));

  router.post('/twilio', async (req, res) => {
    const token = deps.config.env.NOTIFICATIONS_SMS_AUTH_TOKEN;
    if (!token) throw Errors.notFound('Twilio webhook (NOTIFICATIONS_SMS_AUTH_TOKEN is not set)', 'WEBHOOK_NOT_CONFIGURED');
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const params = new URLSearchParams(raw.toString('utf8'));
    verifyTwilio(token, signedUrls(req, deps.config.env.NOTIFICATIONS_PUBLIC_URL, '/v1/webhooks/twilio'), params, req.get('x-twilio-signature'));
    const status = twilioStatus(params.get('MessageStatus') ?? params.get('SmsStatus'));
    const sid = params.get('MessageSid') ?? params.get('SmsSid');
    if (status && sid) {
      const reason = params.get('ErrorCode') ? `Twilio error ${params.get('ErrorCode')}` : undefined;
      await applyDeliveryEvents(deps.prisma, deps.events, deps.logger, [
        { providerMessageId: sid, provider: 'twilio', status, reason },
      ]);
    }
    res.status(204).end();
  });

  router.post('/delivery', async (req, res) => {
    const secret = deps.config.env.NOTIFICATIONS_WEBHOOK_SECRET;
    if (!secret) throw Errors.notFound('Delivery webhook (NOTIFICATIONS_WEBHOOK_SECRET is not set)', 'WEBHOOK_NOT_CONFIGURED');
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    verifyGeneric(secret, req.get('x-nself-signature'), raw, deps.config.env.NOTIFICATIONS_WEBHOOK_TOLERANCE_SECONDS);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw Errors.badRequest('MALFORMED_JSON', 'The request body is not valid JSON');
    }
    res.json(await applyDeliveryEvents(deps.prisma, deps.events, deps.logger, parseGenericEvents(body)));
  });

  app.use(router);
  app.use(notFoundMiddleware());
  app.use(errorMiddleware(deps.logger));
  return app;
}
