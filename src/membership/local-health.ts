// Local-health guard (Lifeguard's idea, Cassandra's MAX_LOCAL_PAUSE, ringpop's event-loop lag):
// a node whose own event loop stalled has not been reading its sockets, so every peer looks
// silent to it. Such a node must not convict anyone until fresh heartbeats had a chance to
// arrive. False positives under slow local processing are the dominant real-world failure of
// gossip failure detectors; Lifeguard cut them by more than 50× this way (anchors §1.8, T3).
//
// The caller owns the clock: it schedules a periodic timer through its Clock and reports, on each
// run, when the run was due and when it really happened. Only startEventLoopLagMonitor() below
// touches real time, for production.

export interface LocalHealthSettings {
  /** A tick this much later than due counts as a stall of the event loop. */
  stallThresholdMs: number;
  /** After a stall ends, conviction stays off for this long plus the stall's own length. */
  graceMs: number;
  /** maxLagMs covers the ticks of this trailing window. */
  maxLagWindowMs: number;
  /** Weight of the newest lag in the exponentially smoothed lag, in (0, 1]. */
  smoothingFactor: number;
}

// - stallThresholdMs 500: normal event-loop lag in Bun (GC pauses, a busy callback) stays in the
//   tens of milliseconds, so 500 ms is unmistakably a stall and the guard does not blind the
//   detector during normal operation. Yet it is small next to the detector's 2.5 s acceptable
//   pause: a stall below it uses at most a fifth of that slack, so it cannot by itself push a
//   healthy peer to conviction. (Ringpop uses 1500 ms and Cassandra 5 s, but those guard a
//   detector with far more slack.)
// - graceMs 2000: two gossip intervals at the default 1 s. Within one interval this node runs its
//   own round (and peers' rounds toward it land), carrying fresh digests for every node; the
//   second interval leaves room for one lost or slow exchange. The stall's length is added on
//   top, as Lifeguard scales its timeouts with local health: after a long stall the backlog of
//   queued frames takes time to drain and our own rounds restart late.
// - maxLagWindowMs 60 000: matches typical metric scrape intervals (15-60 s), so a short stall
//   between two scrapes still shows in maxLagMs.
// - smoothingFactor 0.1: with 100 ms ticks, the smoothed lag has a time constant of about 1 s;
//   it shows sustained slowness without flapping on single slow ticks.
export const defaultLocalHealthSettings: Readonly<LocalHealthSettings> = Object.freeze({
  stallThresholdMs: 500,
  graceMs: 2000,
  maxLagWindowMs: 60_000,
  smoothingFactor: 0.1,
});

export class LocalHealth {
  readonly settings: Readonly<LocalHealthSettings>;
  private latestLagMs = 0;
  private smoothedMs = 0;
  private stalls = 0;
  private latestStallMs = 0;
  private blockedUntilMs = Number.NEGATIVE_INFINITY;
  private lastTickAtMs: number | undefined;
  private tickGapMs: number | undefined;
  // Sliding-window maximum as a monotonic queue: lags strictly decreasing from front to back, so
  // the front is the window's maximum and each tick is pushed and popped at most once.
  private readonly peakAtMs: number[] = [];
  private readonly peakLagMs: number[] = [];

  constructor(settings: LocalHealthSettings = defaultLocalHealthSettings) {
    validateLocalHealthSettings(settings);
    this.settings = Object.freeze({ ...settings });
  }

  /**
   * The periodic timer was due at `expectedMs` and ran at `actualMs`. Returns true when the delay
   * was a stall (at least stallThresholdMs); its length is then in `lastStallMs`, to be passed to
   * each detector's excuseLocalPause().
   */
  tick(expectedMs: number, actualMs: number): boolean {
    if (!Number.isFinite(expectedMs) || !Number.isFinite(actualMs)) {
      throw new RangeError(`LocalHealth.tick: times must be finite, got ${expectedMs} ${actualMs}`);
    }
    // A timer that fires early (clock granularity) has no lag, not a negative one.
    const lagMs = Math.max(0, actualMs - expectedMs);
    if (this.lastTickAtMs !== undefined && expectedMs > this.lastTickAtMs) {
      this.tickGapMs = expectedMs - this.lastTickAtMs;
    }
    this.lastTickAtMs = Math.max(actualMs, this.lastTickAtMs ?? actualMs);

    this.latestLagMs = lagMs;
    this.smoothedMs += this.settings.smoothingFactor * (lagMs - this.smoothedMs);
    this.recordPeak(actualMs, lagMs);

    if (lagMs < this.settings.stallThresholdMs) return false;
    this.stalls++;
    this.latestStallMs = lagMs;
    this.blockedUntilMs = Math.max(this.blockedUntilMs, actualMs + this.settings.graceMs + lagMs);
    return true;
  }

  /**
   * Whether this node may declare others failed at `nowMs` (same time base as the ticks). False
   * from a stall's end until grace + stall length later, and also while the lag timer itself is
   * overdue by stallThresholdMs: after a stall, expired timers run in no guaranteed order, and a
   * conviction check that runs before the lag tick must not act on the stall's silence.
   * Consequently a caller that stops feeding ticks must stop asking, too.
   */
  canConvict(nowMs: number): boolean {
    if (!Number.isFinite(nowMs)) {
      throw new RangeError(`LocalHealth.canConvict: nowMs must be finite, got ${nowMs}`);
    }
    if (nowMs < this.blockedUntilMs) return false;
    if (this.lastTickAtMs !== undefined && this.tickGapMs !== undefined) {
      const overdueMs = nowMs - this.lastTickAtMs - this.tickGapMs;
      if (overdueMs >= this.settings.stallThresholdMs) return false;
    }
    return true;
  }

  /** Lag of the latest tick. */
  get lagMs(): number {
    return this.latestLagMs;
  }

  /** Largest lag among the ticks of the last maxLagWindowMs (counted back from the latest tick). */
  get maxLagMs(): number {
    return this.peakLagMs[0] ?? 0;
  }

  /** Exponentially smoothed lag. */
  get smoothedLagMs(): number {
    return this.smoothedMs;
  }

  /** Stalls observed since creation. */
  get stallCount(): number {
    return this.stalls;
  }

  /** Length of the latest stall (0 if none yet). */
  get lastStallMs(): number {
    return this.latestStallMs;
  }

  /** Conviction is off until this time because of a stall (-Infinity if never). */
  get convictionBlockedUntilMs(): number {
    return this.blockedUntilMs;
  }

  private recordPeak(atMs: number, lagMs: number): void {
    const horizonMs = atMs - this.settings.maxLagWindowMs;
    while (this.peakAtMs.length > 0 && (this.peakAtMs[0] ?? 0) <= horizonMs) {
      this.peakAtMs.shift();
      this.peakLagMs.shift();
    }
    while (this.peakLagMs.length > 0 && (this.peakLagMs[this.peakLagMs.length - 1] ?? 0) <= lagMs) {
      this.peakAtMs.pop();
      this.peakLagMs.pop();
    }
    this.peakAtMs.push(atMs);
    this.peakLagMs.push(lagMs);
  }
}

export interface EventLoopLagMonitorOptions {
  /**
   * Time source, in milliseconds. Must be the time base the caller later passes to canConvict();
   * defaults to performance.now().
   */
  now?: () => number;
  /** Called after a tick that revealed a stall, e.g. to excuse the pause in every detector. */
  onStall?: (stallMs: number, nowMs: number) => void;
}

/**
 * Production driver: measures this process's event-loop lag with a real timer every `intervalMs`
 * and feeds it to `health`. Each run is due `intervalMs` after the previous run, whatever the
 * timer's catch-up policy. The timer is unref'd so it never keeps the process alive. Returns a
 * function that stops it.
 */
export function startEventLoopLagMonitor(
  health: LocalHealth,
  intervalMs: number,
  options: EventLoopLagMonitorOptions = {},
): () => void {
  if (!(Number.isFinite(intervalMs) && intervalMs > 0)) {
    throw new RangeError(`event-loop lag interval must be > 0 ms, got ${intervalMs}`);
  }
  const now = options.now ?? (() => performance.now());
  let previousRunMs = now();
  const timer = setInterval(() => {
    const actualMs = now();
    const expectedMs = previousRunMs + intervalMs;
    previousRunMs = actualMs;
    if (health.tick(expectedMs, actualMs)) options.onStall?.(health.lastStallMs, actualMs);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

function validateLocalHealthSettings(settings: LocalHealthSettings): void {
  const { stallThresholdMs, graceMs, maxLagWindowMs, smoothingFactor } = settings;
  if (!(Number.isFinite(stallThresholdMs) && stallThresholdMs > 0)) {
    throw new RangeError(`local health stallThresholdMs must be > 0, got ${stallThresholdMs}`);
  }
  if (!(Number.isFinite(graceMs) && graceMs >= 0)) {
    throw new RangeError(`local health graceMs must be >= 0, got ${graceMs}`);
  }
  if (!(Number.isFinite(maxLagWindowMs) && maxLagWindowMs > 0)) {
    throw new RangeError(`local health maxLagWindowMs must be > 0, got ${maxLagWindowMs}`);
  }
  if (!(Number.isFinite(smoothingFactor) && smoothingFactor > 0 && smoothingFactor <= 1)) {
    throw new RangeError(`local health smoothingFactor must be in (0, 1], got ${smoothingFactor}`);
  }
}
