// Staleness of every replica of every key, as the FlowGossip paper measures it, for simulated
// clusters where each node owns the same set of keys. Fed three kinds of events:
//   - an application write of (origin, key): the value the application wants everyone to see;
//   - a publish of (origin, key) at a version: when flow control let it out (at once, or later
//     with the newest value of the writes made meanwhile);
//   - an entry applied on a replica.
// Two measures per (replica, origin, key), taken when sampled:
//   - replica staleness: how long the replica has lacked a value its origin published (the
//     paper's measure: time since the first publish the replica has not caught up with);
//   - end-to-end staleness: how long since the first application write the replica does not
//     reflect, time spent waiting in flow control included.
// The worst replica of a key is the one holding the lowest version, so a sample costs one pass
// over (replica, origin, key) versions in a typed array.

export interface StalenessSample {
  timeMs: number;
  /** Worst replica staleness over every (replica, origin, key), ms. */
  maxReplicaMs: number;
  /** Worst end-to-end staleness, ms. */
  maxEndToEndMs: number;
  /** (replica, origin, key) triples that lack their origin's latest published value. */
  staleMappings: number;
  /** Per origin (by index): worst replica staleness over its keys, ms. */
  originReplicaMs: Float64Array;
  /** Per origin: worst end-to-end staleness over its keys, ms. */
  originEndToEndMs: Float64Array;
}

interface Publishes {
  versions: number[];
  timesMs: number[];
  /** Per publish: time of the first application write it carries (earlier ones were carried before). */
  firstWriteMs: number[];
}

export class StalenessTracker {
  private readonly originIndex = new Map<string, number>();
  private readonly keyIndex = new Map<string, number>();
  private readonly keys: number;
  private readonly origins: number;
  /** Version each replica holds: [(replica × origins + origin) × keys + key]. */
  private readonly held: Int32Array;
  private readonly latest: Int32Array;
  /** First application write not published yet, per (origin, key); NaN when none. */
  private readonly waitingSince: Float64Array;
  private readonly publishes: Publishes[];
  /** Publish times per origin, for admitted rates. */
  readonly publishTimes: number[][];

  constructor(origins: readonly string[], keys: readonly string[]) {
    origins.forEach((name, i) => this.originIndex.set(name, i));
    keys.forEach((key, i) => this.keyIndex.set(key, i));
    this.origins = origins.length;
    this.keys = keys.length;
    const cells = this.origins * this.keys;
    this.held = new Int32Array(this.origins * cells);
    this.latest = new Int32Array(cells);
    this.waitingSince = new Float64Array(cells).fill(Number.NaN);
    this.publishes = Array.from({ length: cells }, () => ({ versions: [], timesMs: [], firstWriteMs: [] }));
    this.publishTimes = Array.from({ length: this.origins }, () => []);
  }

  onWrite(origin: string, key: string, timeMs: number): void {
    const cell = this.cell(origin, key);
    if (Number.isNaN(this.waitingSince[cell]!)) this.waitingSince[cell] = timeMs;
  }

  onPublish(origin: string, key: string, version: number, timeMs: number): void {
    const cell = this.cell(origin, key);
    const publishes = this.publishes[cell]!;
    const waiting = this.waitingSince[cell]!;
    publishes.versions.push(version);
    publishes.timesMs.push(timeMs);
    publishes.firstWriteMs.push(Number.isNaN(waiting) ? timeMs : waiting);
    this.waitingSince[cell] = Number.NaN;
    this.latest[cell] = version;
    this.publishTimes[this.index(this.originIndex, origin)]!.push(timeMs);
  }

  onApplied(replica: string, origin: string, key: string, version: number): void {
    const at = (this.index(this.originIndex, replica) * this.origins + this.index(this.originIndex, origin)) * this.keys + this.index(this.keyIndex, key);
    if (version > this.held[at]!) this.held[at] = version;
  }

  sample(timeMs: number): StalenessSample {
    const cells = this.origins * this.keys;
    const lowest = new Int32Array(cells).fill(0x7fffffff);
    let staleMappings = 0;
    for (let replica = 0; replica < this.origins; replica++) {
      const base = replica * cells;
      const ownStart = replica * this.keys;
      for (let cell = 0; cell < cells; cell++) {
        if (cell >= ownStart && cell < ownStart + this.keys) continue; // its own keys
        const version = this.held[base + cell]!;
        if (version < this.latest[cell]!) staleMappings++;
        if (version < lowest[cell]!) lowest[cell] = version;
      }
    }
    const originReplicaMs = new Float64Array(this.origins);
    const originEndToEndMs = new Float64Array(this.origins);
    for (let cell = 0; cell < cells; cell++) {
      const origin = Math.floor(cell / this.keys);
      let replicaMs = 0;
      let endToEndMs = 0;
      if (lowest[cell]! < this.latest[cell]!) {
        const publishes = this.publishes[cell]!;
        const next = firstAbove(publishes.versions, lowest[cell]!);
        replicaMs = timeMs - publishes.timesMs[next]!;
        endToEndMs = timeMs - publishes.firstWriteMs[next]!;
      } else if (!Number.isNaN(this.waitingSince[cell]!)) {
        endToEndMs = timeMs - this.waitingSince[cell]!;
      }
      if (replicaMs > originReplicaMs[origin]!) originReplicaMs[origin] = replicaMs;
      if (endToEndMs > originEndToEndMs[origin]!) originEndToEndMs[origin] = endToEndMs;
    }
    return {
      timeMs,
      maxReplicaMs: Math.max(0, ...originReplicaMs),
      maxEndToEndMs: Math.max(0, ...originEndToEndMs),
      staleMappings,
      originReplicaMs,
      originEndToEndMs,
    };
  }

  /** Publishes per second of each origin over [fromMs, toMs). */
  admittedRates(fromMs: number, toMs: number): number[] {
    return this.publishTimes.map((times) => times.filter((t) => t >= fromMs && t < toMs).length / ((toMs - fromMs) / 1000));
  }

  private cell(origin: string, key: string): number {
    return this.index(this.originIndex, origin) * this.keys + this.index(this.keyIndex, key);
  }

  private index(map: Map<string, number>, name: string): number {
    const at = map.get(name);
    if (at === undefined) throw new Error(`staleness tracker: unknown name ${name}`);
    return at;
  }
}

/** Index of the first version above `version` in an ascending list (one exists). */
function firstAbove(versions: readonly number[], version: number): number {
  let low = 0;
  let high = versions.length - 1;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (versions[middle]! <= version) low = middle + 1;
    else high = middle;
  }
  return low;
}
