// The local-health guard as the membership applies it (LocalHealth, local-health.ts, measures our
// own event loop): right after a stall of ours nobody is suspected or convicted, and each stall is
// excused once in every detector, since the silence it caused was ours, not the peers'.

import type { LocalHealth } from "./local-health.ts";

export class StallGuard {
  /** LocalHealth's stall count when we last excused one. */
  private stallsExcused: number;

  constructor(
    private readonly health: LocalHealth,
    /** MembershipSettings.localHealthGuard (it may change live). */
    private readonly enabled: () => boolean,
    /** Excuses `pauseMs` of silence in every detector. */
    private readonly excuseInDetectors: (pauseMs: number, now: number) => void,
  ) {
    // Stalls from before we existed concern no detector of ours.
    this.stallsExcused = health.stallCount;
  }

  canConvict(now: number): boolean {
    return !this.enabled() || this.health.canConvict(now);
  }

  /** A stall reported to us directly; not excused again by excuseNewStalls(). */
  excuse(pauseMs: number, now: number): void {
    if (!this.enabled()) return;
    this.stallsExcused = this.health.stallCount;
    this.excuseInDetectors(pauseMs, now);
  }

  /** Excuses a stall LocalHealth saw since the last excuse. */
  excuseNewStalls(now: number): void {
    if (this.health.stallCount === this.stallsExcused) return;
    // LocalHealth keeps only the latest stall's length; when several happened between two checks
    // (one check per round), the latest is excused and canConvict covers the rest.
    this.excuse(this.health.lastStallMs, now);
  }
}
