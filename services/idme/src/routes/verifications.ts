import { authenticate, getPrincipal, type Authenticator } from '@nself/auth';
import type { Express } from 'express';
import type { IdmeDeps } from '../deps.js';
import { getGroups, getVerification, revokeVerification } from '../use-cases/read-verification.js';

export function verificationRoutes(app: Express, deps: IdmeDeps, authenticator: Authenticator): void {
  const auth = authenticate(authenticator);

  app.get('/v1/verifications/:userId', auth, async (req, res) => {
    res.set('Cache-Control', 'private, no-store');
    res.json(await getVerification(deps, getPrincipal(req), { userId: req.params.userId }));
  });

  app.get('/v1/verifications/:userId/groups', auth, async (req, res) => {
    res.set('Cache-Control', 'private, no-store');
    res.json(await getGroups(deps, getPrincipal(req), { userId: req.params.userId }));
  });

  app.delete('/v1/verifications/:userId', auth, async (req, res) => {
    res.json(await revokeVerification(deps, getPrincipal(req), { userId: req.params.userId }));
  });
}
