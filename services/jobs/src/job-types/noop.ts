import { builtinPayloadSchemas, type JobPayloads } from '../contracts.js';
import { parserFor, sleep } from './parse.js';
import type { JobHandler } from './types.js';

/** Does nothing (or waits sleepMs, honouring timeout and cancellation): smoke tests and benchmarks. */
export function noopHandler(): JobHandler<JobPayloads['noop']> {
  return {
    parse: parserFor(builtinPayloadSchemas.noop),
    async run(payload, ctx) {
      if (payload.sleepMs) await sleep(payload.sleepMs, ctx.signal);
      return null;
    },
  };
}
