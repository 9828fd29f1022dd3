// One simulated node's view of the shared virtual clock. A node can stall (its event loop blocked,
// as a long GC pause or a busy CPU would): timers and deliveries due during the stall run when
// it ends, late, in their original order, which is what a real blocked event loop does. A
// crashed node is stalled forever.

import type { Clock, Timer } from "../clock.ts";
import type { VirtualClock } from "../transport/virtual-clock.ts";

export class NodeClock implements Clock {
  private stalledUntil = 0;
  /** Callbacks held back by the current stall, in the order they fell due. */
  private held: (() => void)[] = [];
  /** How far this node's wall clock is off the shared one (clock skew; may go back in time). */
  skewMs = 0;

  constructor(private readonly shared: VirtualClock) {}

  now(): number {
    return this.shared.now();
  }

  wallNow(): number {
    return this.shared.wallNow() + this.skewMs;
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    let cancelled = false;
    const timer = this.shared.setTimer(delayMs, () => {
      if (!cancelled) this.run(() => !cancelled && callback());
    });
    return {
      cancel: () => {
        cancelled = true;
        timer.cancel();
      },
    };
  }

  /** Runs work now, or when the current stall ends. */
  run(work: () => void): void {
    if (this.shared.now() < this.stalledUntil) this.held.push(work);
    else work();
  }

  /** Blocks this node for durationMs from now. */
  stall(durationMs: number): void {
    const until = this.shared.now() + durationMs;
    if (until <= this.stalledUntil) return;
    this.stalledUntil = until;
    // Infinity is a crash: nothing is ever released.
    if (Number.isFinite(until)) this.shared.setTimer(durationMs, () => this.release());
  }

  get isStalled(): boolean {
    return this.shared.now() < this.stalledUntil;
  }

  private release(): void {
    if (this.shared.now() < this.stalledUntil) return; // extended meanwhile; a later release runs it
    const held = this.held;
    this.held = [];
    for (const work of held) work();
  }
}
