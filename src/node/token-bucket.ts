// A token bucket: at most `burst` operations at once, refilled at `ratePerSecond`. User events and
// queries use one each, so no node can flood the cluster with either.

import type { Clock } from "../clock.ts";

export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly clock: Clock,
    readonly burst: number,
    readonly ratePerSecond: number,
  ) {
    this.tokens = burst;
    this.refilledAt = clock.now();
  }

  /** Takes a token; otherwise returns how many ms until one is back (and takes nothing). */
  take(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.ratePerSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000);
    this.tokens--;
    return 0;
  }
}
