// Evaluations between gossip rounds. The membership evaluates every node once a round (check());
// a node whose phi crosses the threshold, or whose conviction falls due, before the next round
// gets a timer of its own, so that a crash is suspected (and a suspect convicted) at once rather
// than up to a round late. At most one timer per node: a new wakeup replaces the old one.

import type { Clock } from "../clock.ts";
import type { Member } from "./lifecycle.ts";

export class Wakeups {
  /** When the latest round began, and the time between the last two (0 until two ran). */
  private lastRoundMs = Number.NEGATIVE_INFINITY;
  private roundLengthMs = 0;

  constructor(
    private readonly clock: Clock,
    /** The failure detector's threshold (it may change live). */
    private readonly threshold: () => number,
    /** Evaluates the member; called only for a member the wakeup was set for. */
    private readonly onWake: (member: Member) => void,
  ) {}

  /** A round (check()) runs now: measures the round length. */
  roundStarted(now: number): void {
    if (Number.isFinite(this.lastRoundMs)) this.roundLengthMs = now - this.lastRoundMs;
    this.lastRoundMs = now;
  }

  /** The time between the last two rounds; 0 until two ran. */
  get roundMs(): number {
    return this.roundLengthMs;
  }

  /** Evaluates the member at `atMs` (replacing any other wakeup of it). */
  at(member: Member, atMs: number): void {
    member.wakeup?.cancel();
    member.wakeupAtMs = atMs;
    member.wakeup = this.clock.setTimer(Math.max(0, atMs - this.clock.now()), () => {
      member.wakeup = undefined;
      member.wakeupAtMs = Number.POSITIVE_INFINITY;
      this.onWake(member);
    });
  }

  cancel(member: Member): void {
    member.wakeup?.cancel();
    member.wakeup = undefined;
    member.wakeupAtMs = Number.POSITIVE_INFINITY;
  }

  /**
   * For a directly watched live node: wake up just after its phi would cross the threshold, so a
   * crash is suspected at once rather than at our next round. Only a crossing before the next
   * round needs a timer: check() evaluates every node each round and arms it then. A beat moves
   * the crossing later and leaves an earlier wakeup in place (it evaluates and re-arms), so a
   * node whose beats keep coming costs no timer at all.
   */
  armCrossing(member: Member): void {
    if (member.status !== "alive" || !member.direct) return;
    // 1 ms past the crossing, so rounding can never leave phi a hair below the threshold there.
    const atMs = member.direct.detector.crossingAt(this.threshold()) + 1;
    const now = this.clock.now();
    if (atMs <= now || atMs >= this.nextRoundByMs()) return;
    if (member.wakeupAtMs > atMs) this.at(member, atMs);
  }

  /**
   * By when the next round will have run: half a round of slack past its due time. Until two
   * rounds ran there is no round to measure, and every crossing gets its timer.
   */
  private nextRoundByMs(): number {
    return this.roundLengthMs > 0 ? this.lastRoundMs + 1.5 * this.roundLengthMs : Number.POSITIVE_INFINITY;
  }
}
