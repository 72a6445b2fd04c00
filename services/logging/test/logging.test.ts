import { describe, expect, it } from 'vitest';
import { createMemoryLogger, getRequestId, runWithRequestId } from '../src/index.js';

describe('logging', () => {
  it('adds the request id of the current async context to every line', async () => {
    const { logger, lines } = createMemoryLogger('svc');
    logger.info('outside');
    await runWithRequestId('req-123', async () => {
      await new Promise((r) => setTimeout(r, 1));
      logger.info({ step: 1 }, 'inside');
      expect(getRequestId()).toBe('req-123');
    });
    expect(lines[0]).not.toHaveProperty('requestId');
    expect(lines[1]).toMatchObject({ requestId: 'req-123', service: 'svc', msg: 'inside', step: 1 });
  });

  it('redacts secrets wherever they appear', () => {
    const { logger, lines } = createMemoryLogger();
    logger.info(
      {
        req: { headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1', 'x-admin-secret': 'adm1n-value' } },
        body: { password: 'hunter2', token: 't0k', nested: { secret: 'deep-secret' } },
        token: 'top-level-token',
      },
      'request',
    );
    const text = JSON.stringify(lines[0]);
    for (const secret of ['abc.def.ghi', 'sid=1', 'adm1n-value', 'deep-secret', 'hunter2', 't0k', 'top-level-token']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
  });
});
