import { describe, expect, it } from 'vitest';
import { ConfigError } from '@nself/config';
import { loadJobsConfig } from '../src/config.js';

const base = { DATABASE_URL: 'postgresql://x@localhost/db', JWT_SECRET: 'x'.repeat(40) };

describe('jobs config', () => {
  it('applies the documented defaults', () => {
    const config = loadJobsConfig({ ...base, JOBS_REDIS_URL: 'redis://localhost:6379' });
    expect(config).toMatchObject({
      port: 3105,
      workerPort: 3115,
      queues: ['default'],
      defaultQueue: 'default',
      retryAttempts: 3,
      retryDelayMs: 5000,
      jobTimeoutMs: 60000,
      bullPrefix: 'nself:jobs',
      dashboard: { enabled: true, basePath: '/jobs/dashboard', operatorAccounts: ['primary'] },
    });
    expect(config.dashboard.basicAuth).toBeUndefined();
  });

  it('names every missing or invalid variable, never its value', () => {
    try {
      loadJobsConfig({ JOBS_DASHBOARD_USER: 'ops', JOBS_QUEUES: 'ok,bad:name', JOBS_DEFAULT_CONCURRENCY: '0' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const variables = (error as ConfigError).variables;
      expect(variables).toEqual(
        expect.arrayContaining(['DATABASE_URL', 'JOBS_REDIS_URL', 'JWT_SECRET', 'JOBS_DASHBOARD_PASSWORD', 'JOBS_DEFAULT_CONCURRENCY']),
      );
      expect(variables).toContain('JOBS_QUEUES.1'); // the second queue name is the bad one
      expect((error as Error).message).not.toContain('bad:name');
    }
  });

  it('refuses a default queue or worker queue outside JOBS_QUEUES, and bad CIDRs', () => {
    expect(() => loadJobsConfig({ ...base, REDIS_URL: 'redis://x', JOBS_QUEUES: 'a,b', JOBS_DEFAULT_QUEUE: 'c' })).toThrow(/JOBS_DEFAULT_QUEUE/);
    expect(() => loadJobsConfig({ ...base, REDIS_URL: 'redis://x', JOBS_WORKER_QUEUES: 'zzz' })).toThrow(/JOBS_WORKER_QUEUES/);
    expect(() => loadJobsConfig({ ...base, REDIS_URL: 'redis://x', JOBS_HTTP_ALLOWED_CIDRS: '10.0.0.0/99' })).toThrow(/JOBS_HTTP_ALLOWED_CIDRS/);
  });
});
