import type { z } from 'zod';
import { PermanentJobError } from '../job-errors.js';

/** A payload parser for a handler: zod issues become a permanent INVALID_PAYLOAD failure. */
export function parserFor<S extends z.ZodType>(schema: S): (payload: unknown) => z.output<S> {
  return (payload) => {
    const result = schema.safeParse(payload);
    if (result.success) return result.data;
    const detail = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.map(String).join('.') || '(payload)'}: ${i.message}`)
      .join('; ');
    throw new PermanentJobError('INVALID_PAYLOAD', detail);
  };
}

/** Resolves after ms, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
