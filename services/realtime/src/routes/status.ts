import type { Express, RequestHandler } from 'express';
import { getPrincipal } from '@nself/auth';
import type { ClusterStatus } from '../use-cases/status.js';

export interface StatusSource {
  local: () => { instanceId: string; connections: number; rooms: number; eventsPerSecond: number; pendingDbWrites: number; uptimeSeconds: number };
  cluster: (account: string) => Promise<ClusterStatus>;
}

export function statusRoutes(app: Express, auth: RequestHandler, status: StatusSource): void {
  /** This replica, the cluster (every replica's sockets), and the caller's app's rooms and presence. */
  app.get('/v1/status', auth, async (req, res) => {
    const principal = getPrincipal(req);
    const cluster = await status.cluster(principal.sourceAccountId);
    res.json({
      status: 'ok',
      instance: status.local(),
      cluster: principal.isAdmin ? cluster : { ...cluster, instances: cluster.instances.map(({ sockets }) => ({ sockets })) },
    });
  });
}
