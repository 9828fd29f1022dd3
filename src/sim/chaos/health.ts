// The record of what was unhealthy when, kept by the fault injector, so the no-false-conviction
// invariant (I3) can ask whether the path between two nodes was healthy over a window.
//
// "Healthy path" between A and B over a window [t - W, t]: for the whole window
// - both A and B ran the same incarnation (no crash, restart or leave, started before t - W),
// - neither event loop was frozen,
// - neither direction A->B nor B->A was cut (partition, asymmetric or one-way),
// - no loss and no delay was in force on the network (these apply to every link), so every
//   message arrived once within the reorder jitter (150 ms, a round trip well within the 500 ms
//   probe timeout); duplicated messages do not make a path unhealthy.

interface Interval {
  start: number;
  end: number;
}

export class HealthHistory {
  /** Directed links "from\u0000to" -> the intervals they were cut. */
  private readonly cuts = new Map<string, Interval[]>();
  /** Loss or delay in force (every link). */
  private readonly degraded: Interval[] = [];
  private readonly frozen = new Map<string, Interval[]>();
  /** When each node's current incarnation started (absent: not running). */
  private readonly upSince = new Map<string, number>();

  /** The links cut from now on are exactly `keys` ("from\u0000to"): new cuts open, healed ones close. */
  syncCuts(keys: Iterable<string>, at: number): void {
    const now = new Set(keys);
    for (const [key, intervals] of this.cuts) {
      const last = intervals[intervals.length - 1]!;
      if (last.end === Number.POSITIVE_INFINITY && !now.has(key)) last.end = at;
    }
    for (const key of now) {
      const last = this.cuts.get(key)?.at(-1);
      if (last?.end !== Number.POSITIVE_INFINITY) open(this.cuts, key, at);
    }
  }

  degrade(at: number): Interval {
    const interval = { start: at, end: Number.POSITIVE_INFINITY };
    this.degraded.push(interval);
    return interval;
  }

  freeze(node: string, at: number, durationMs: number): void {
    open(this.frozen, node, at).end = at + durationMs;
  }

  started(node: string, at: number): void {
    this.upSince.set(node, at);
  }

  stopped(node: string): void {
    this.upSince.delete(node);
  }

  /** Whether the path between a and b was healthy over [at - windowMs, at] (see above). */
  healthy(a: string, b: string, at: number, windowMs: number): boolean {
    const from = at - windowMs;
    for (const node of [a, b]) {
      const since = this.upSince.get(node);
      if (since === undefined || since > from) return false;
      if (overlaps(this.frozen.get(node), from, at)) return false;
    }
    if (overlaps(this.degraded, from, at)) return false;
    return !overlaps(this.cuts.get(`${a}\u0000${b}`), from, at) && !overlaps(this.cuts.get(`${b}\u0000${a}`), from, at);
  }
}

function open(map: Map<string, Interval[]>, key: string, at: number): Interval {
  const interval = { start: at, end: Number.POSITIVE_INFINITY };
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  list.push(interval);
  return interval;
}

function overlaps(intervals: Interval[] | undefined, from: number, to: number): boolean {
  return intervals?.some((interval) => interval.start <= to && interval.end >= from) ?? false;
}
