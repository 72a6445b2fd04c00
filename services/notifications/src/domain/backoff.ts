/**
 * Delay before retry number `attempt` (1 = the first retry): exponential, capped, with "equal-ish"
 * jitter that only ever shortens the delay by up to `jitter` of it. Because the jittered ranges of
 * consecutive attempts do not overlap when jitter <= 0.5, delays never shrink from one retry to the next.
 */
export function retryDelayMs(
  attempt: number,
  options: { baseMs: number; maxMs: number; jitter: number },
  random: () => number = Math.random,
): number {
  const exponential = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(1, Math.round(exponential * (1 - options.jitter * random())));
}
