// "Applied everywhere": when does every live member hold a version of this node's state?
// Learned from the digests peers already send: a SYN or SYN-ACK from a peer lists, among every
// node's max version, the version of THIS node the peer holds (EngineOutcome.senderHolds). So an
// idle cluster spends nothing on it. While a wait is pending, the members that have not confirmed
// yet are sent an extra SYN each round (at most NUDGES_PER_ROUND of them): their SYN-ACK confirms
// and the ACK brings them what they lack. A wait never outlives its deadline.
//
// Meaning (docs/API.md "waitApplied"): a wait resolves at the first check where every member this
// node then sees as live (alive or suspect; dead, left and removed ones do not count) has reported
// holding the version. A member that joins later counts from when it is live here, and holds the
// version once it has caught up. With membership off, every known node counts.

import type { Clock, Timer } from "../clock.ts";

/** Extra SYNs per round to members a wait still needs: bounded, so a large cluster is not flooded. */
export const NUDGES_PER_ROUND = 8;

export interface AppliedResult {
  /** True when every live member held the version before the deadline. */
  applied: boolean;
  /** The version of this node's state waited for. */
  version: number;
  /** Live members (this node excluded) that hold it. */
  holding: string[];
  /** Live members that had not reported holding it when the wait ended (empty when applied). */
  missing: string[];
  /** How long the wait took. */
  elapsedMs: number;
}

export interface AppliedSource {
  /** The members that count now, this node excluded. */
  liveMembers(): readonly string[];
  /** The version a wait without one targets: this node's latest published write, or undefined while flow control still holds writes back. */
  latestVersion(): number | undefined;
}

interface Waiter {
  /** 0 until known: a wait for "every write so far" learns its version once nothing is held back. */
  version: number;
  startedAt: number;
  timer: Timer;
  resolve: (result: AppliedResult) => void;
}

export class AppliedTracker {
  /** What each peer last said it holds of this node (its latest report, not the highest: a restarted peer starts again). */
  private readonly reports = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly clock: Clock,
    private readonly source: AppliedSource,
  ) {}

  get pending(): number {
    return this.waiters.size;
  }

  /** A peer's digest said it holds `version` of this node. */
  report(peer: string, version: number): void {
    this.reports.set(peer, version);
    if (this.waiters.size > 0) this.check();
  }

  /** Resolves when every live member holds `version` (0 or omitted: every write made so far), or at the deadline with the members missing. */
  /** Throws RangeError for arguments out of range, or a version this node has not written (`latest`, none held back). */
  wait(version: number, timeoutMs: number, latest: number, writesHeld: boolean): Promise<AppliedResult> {
    if (!Number.isSafeInteger(version) || version < 0) throw new RangeError(`waitApplied: version must be a whole number >= 0, got ${version}`);
    if (!(timeoutMs >= 0) || !Number.isFinite(timeoutMs)) throw new RangeError(`waitApplied: timeoutMs must be a finite number >= 0, got ${timeoutMs}`);
    if (version > latest && !writesHeld) throw new RangeError(`waitApplied: version ${version} was not written by this node (its latest is ${latest})`);
    return new Promise((resolve) => {
      const waiter: Waiter = { version, startedAt: this.clock.now(), resolve, timer: { cancel: () => {} } };
      waiter.timer = this.clock.setTimer(timeoutMs, () => this.finish(waiter, false));
      this.waiters.add(waiter);
      this.check();
    });
  }

  /** Settles every wait whose members all hold its version (the live set may have shrunk too). */
  check(): void {
    for (const waiter of this.waiters) {
      if (waiter.version === 0) waiter.version = this.source.latestVersion() ?? 0;
      if (waiter.version > 0 && this.missing(waiter.version).length === 0) this.finish(waiter, true);
    }
  }

  /** Members some wait still needs, for the extra SYNs; at most NUDGES_PER_ROUND. */
  toNudge(): string[] {
    const needed = new Set<string>();
    for (const waiter of this.waiters) {
      for (const name of this.missing(waiter.version || Number.MAX_SAFE_INTEGER)) {
        needed.add(name);
        if (needed.size >= NUDGES_PER_ROUND) return [...needed];
      }
    }
    return [...needed];
  }

  /** Ends every wait now, as not applied (the node is stopping). */
  cancelAll(): void {
    for (const waiter of this.waiters) this.finish(waiter, false);
  }

  private missing(version: number): string[] {
    return this.source.liveMembers().filter((name) => (this.reports.get(name) ?? 0) < version);
  }

  private finish(waiter: Waiter, applied: boolean): void {
    if (!this.waiters.delete(waiter)) return;
    waiter.timer.cancel();
    const live = this.source.liveMembers();
    const version = waiter.version;
    const holds = (name: string): boolean => version > 0 && (this.reports.get(name) ?? 0) >= version;
    waiter.resolve({
      applied,
      version,
      holding: live.filter(holds),
      missing: applied ? [] : live.filter((name) => !holds(name)),
      elapsedMs: Math.round(this.clock.now() - waiter.startedAt),
    });
  }
}
