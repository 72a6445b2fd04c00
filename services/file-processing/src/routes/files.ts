import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express, RequestHandler } from 'express';
import { getPrincipal } from '@nself/auth';
import { deleteFile, getFile, listFiles, processFileRequest } from '../use-cases/files.js';
import type { ServiceDeps } from '../use-cases/deps.js';
import { uploadFile } from '../use-cases/upload-file.js';

const requestIdOf = (req: IncomingMessage) => {
  const id = req.headers['x-request-id'];
  return typeof id === 'string' ? id : null;
};

/**
 * After a refused upload the client may still be sending: read and drop the rest (so it sees the
 * response rather than a reset), close the connection afterwards, and cut it off if it goes on.
 */
function discardBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  req.unpipe();
  res.setHeader('Connection', 'close');
  req.resume();
  res.once('finish', () => {
    if (req.complete) return;
    const timer = setTimeout(() => req.socket?.destroy(), 10_000);
    timer.unref();
    req.once('end', () => clearTimeout(timer));
  });
}

export function fileRoutes(app: Express, deps: ServiceDeps, auth: RequestHandler): void {
  app.post('/v1/files', auth, async (req, res) => {
    try {
      const result = await uploadFile(deps, { principal: getPrincipal(req), req, requestId: requestIdOf(req) });
      res.status(result.duplicate ? 200 : 202).json(result);
    } catch (error) {
      discardBody(req, res);
      throw error;
    }
  });

  app.get('/v1/files', auth, async (req, res) => {
    res.json(await listFiles(deps, getPrincipal(req), req.query));
  });

  app.get('/v1/files/:fileId', auth, async (req, res) => {
    res.setHeader('Cache-Control', 'private, no-store');
    res.json(await getFile(deps, getPrincipal(req), req.params.fileId as string, req.query));
  });

  app.post('/v1/files/:fileId/process', auth, async (req, res) => {
    const result = await processFileRequest(deps, getPrincipal(req), req.params.fileId as string, requestIdOf(req));
    res.status(202).json(result);
  });

  app.delete('/v1/files/:fileId', auth, async (req, res) => {
    await deleteFile(deps, getPrincipal(req), req.params.fileId as string);
    res.status(204).end();
  });
}
