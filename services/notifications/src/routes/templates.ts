import { getPrincipal, requireAdmin } from '@nself/auth';
import { parseInput } from '@nself/errors';
import { Router } from 'express';
import { z } from 'zod';
import {
  createTemplate,
  deleteTemplate,
  getTemplate,
  listTemplates,
  listTemplateVersions,
  updateTemplate,
} from '../use-cases/templates.js';
import type { ApiDeps } from './deps.js';

const versionQuery = z.object({ version: z.coerce.number().int().min(1).optional() });

/** Templates CRUD (admins and services; apps manage their templates from their backend). */
export function templateRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.use('/v1/templates', requireAdmin());

  router.get('/v1/templates', async (req, res) => {
    res.json(await listTemplates(deps.prisma, getPrincipal(req).sourceAccountId, req.query));
  });
  router.post('/v1/templates', async (req, res) => {
    const template = await createTemplate(deps.prisma, getPrincipal(req).sourceAccountId, req.body);
    res.status(201).location(`/v1/templates/${encodeURIComponent(template.name)}`).json(template);
  });
  router.get('/v1/templates/:name', async (req, res) => {
    const { version } = parseInput(versionQuery, req.query);
    res.json(await getTemplate(deps.prisma, getPrincipal(req).sourceAccountId, req.params.name, version));
  });
  router.get('/v1/templates/:name/versions', async (req, res) => {
    res.json({ versions: await listTemplateVersions(deps.prisma, getPrincipal(req).sourceAccountId, req.params.name) });
  });
  router.put('/v1/templates/:name', async (req, res) => {
    res.json(await updateTemplate(deps.prisma, getPrincipal(req).sourceAccountId, req.params.name, req.body));
  });
  router.delete('/v1/templates/:name', async (req, res) => {
    await deleteTemplate(deps.prisma, getPrincipal(req).sourceAccountId, req.params.name);
    res.status(204).end();
  });
  return router;
}
