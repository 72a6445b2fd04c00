import express, { type Express } from 'express';
import type { IdmeDeps } from '../deps.js';
import { handleWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../use-cases/handle-webhook.js';

const header = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/**
 * POST /v1/webhooks reads its body raw (the signature covers the exact bytes), so it is mounted on the
 * outer app, ahead of the JSON body parser of the service app.
 */
export function webhookRoutes(app: Express, deps: IdmeDeps, before: express.RequestHandler[]): void {
  app.post('/v1/webhooks', ...before, express.raw({ type: () => true, limit: '256kb' }), async (req, res) => {
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const result = await handleWebhook(deps, {
      rawBody,
      signature: header(req.headers[SIGNATURE_HEADER]),
      timestamp: header(req.headers[TIMESTAMP_HEADER]),
    });
    res.json(result);
  });
}
