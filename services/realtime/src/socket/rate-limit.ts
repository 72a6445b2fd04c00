/** A token bucket: `rate` tokens per second, holding at most `burst`. One per socket, in memory. */
export class TokenBucket {
  private tokens: number;
  private updated: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now = performance.now(),
  ) {
    this.tokens = burst;
    this.updated = now;
  }

  /** Takes a token; returns 0 when allowed, else how many ms until one is available. */
  take(now = performance.now()): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updated) / 1000) * this.rate);
    this.updated = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }
}
