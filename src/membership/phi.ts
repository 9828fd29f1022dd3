// Phi accrual failure detector (Hayashibara, Défago, Yared, Katayama, SRDS 2004) in Akka's
// formulation: a normal model of heartbeat inter-arrival times over a sliding window, with a floor
// on the standard deviation and an "acceptable pause" added to the mean, and Akka's logistic
// approximation of the normal CDF.
//
//   phi(t) = -log10(1 - F(t))   with F the CDF of N(mean + acceptablePause, max(std, minStd)²)
//
// Suspecting at phi = Φ means the suspicion is wrong with probability about 10^-Φ.
//
// One detector watches one node, fed by one kind of arrival: the heartbeats a node sends its
// monitors every round, or the PONGs to their pings when those stop (regular, first-hand), or
// the node's heartbeat counter seen advancing in gossip digests
// (second-hand, noisy, several beats may be seen at once; each observed advance is one arrival).
// Time is always passed in by the caller (milliseconds from the caller's Clock): this module never
// reads Date.now() or timers, so it runs unchanged under the simulator's virtual clock.

export interface PhiSettings {
  /** Suspect the node once phi reaches this level. */
  threshold: number;
  /** How many of the latest inter-arrival intervals the model is fitted to. */
  windowSize: number;
  /** Floor on the standard deviation, so perfectly regular heartbeats don't make phi a cliff. */
  minStdDeviationMs: number;
  /** Silence tolerated on top of the mean interval before phi starts to climb steeply. */
  acceptablePauseMs: number;
  /** Expected interval before any has been measured (should be the gossip interval). */
  firstHeartbeatEstimateMs: number;
}

// Akka's failure-detector defaults (anchors §1.5), which the paper and every production port
// share for the window and threshold, with a shorter acceptable pause:
// - threshold 8: the value Akka and Cassandra ship and operators are used to (≈ 1e-8 chance that a
//   suspicion is wrong under the model).
// - windowSize 1000: the paper's window, kept by Akka, Cassandra and chitchat; ~17 min of history
//   at 1 s, enough to fit a stable distribution yet it still follows a change of gossip interval.
// - minStdDeviationMs 100 (not 500): the acceptable pause already provides the slack a larger
//   floor would; the floor only stops a near-zero σ (quiet LAN, 2-node cluster) from convicting on
//   the first late beat. With 500 ms the threshold would move out by ~2 s (5.2 σ) and miss T3's
//   "dead within 6 s".
// - acceptablePauseMs 2500 (Akka: 3000): T3's hostile profile stalls a node for 2 s every 30 s and
//   that node must not be convicted. Its monitors then see up to 3 s without a heartbeat (one
//   interval plus the stall); with 2.5 s, phi crosses 4 s after the last one at the 100 ms σ
//   floor, a full second of margin, and later under loss, where the window learns a wider
//   spread. The sweep in docs/BENCHMARKS.md ("Failure detection", 30 simulated minutes of 10%
//   loss each): 2 s gave 276 false suspicions an hour, 2.5 s 72, 3 s 50, while each half second
//   adds ~0.5 s to every crash's detection (p99 4.4, 4.9, 5.3 s). No setting produced a false
//   death.
// - firstHeartbeatEstimateMs 1000: the default gossip interval (DESIGN §5), hence the default
//   heartbeat period. The node should set it to the configured interval.
// With these, a node that sent regular heartbeats is suspected 4.0 s after its last one
// (mean 1000 + pause 2500 + 5.22 × σ 100), one heard from once and then silent 4.8 s later
// (seeded σ 250).
export const defaultPhiSettings: Readonly<PhiSettings> = Object.freeze({
  threshold: 8,
  windowSize: 1000,
  minStdDeviationMs: 100,
  acceptablePauseMs: 2500,
  firstHeartbeatEstimateMs: 1000,
});

// Phi is reported to users and metrics; beyond a few hundred it only says "certainly gone" (the
// probability 10^-phi is below any double), so it is capped at a finite number.
export const MAX_PHI = 1000;

// The window starts small and doubles up to windowSize: the simulator runs 1,000 nodes each
// watching every other, and a full 1000-slot window per pair from the start would cost gigabytes.
const INITIAL_WINDOW_ALLOCATION = 16;

// Inter-arrival intervals in a ring buffer with a running sum and sum of squares: O(1) a sample.
class IntervalWindow {
  private samples: Float64Array;
  private oldest = 0;
  private count = 0;
  private sum = 0;
  private sumOfSquares = 0;
  private additionsSinceResum = 0;
  // phi() is evaluated for every node every round, far more often than samples arrive; the square
  // root is kept until the window changes.
  private cachedStdDeviation: number | undefined;

  constructor(private readonly capacity: number) {
    this.samples = new Float64Array(Math.min(capacity, INITIAL_WINDOW_ALLOCATION));
  }

  get size(): number {
    return this.count;
  }

  add(intervalMs: number): void {
    if (this.count < this.capacity) {
      // Nothing has been evicted yet, so the samples sit in order at [0, count).
      if (this.count === this.samples.length) this.grow();
      this.samples[this.count] = intervalMs;
      this.count++;
    } else {
      const evicted = this.samples[this.oldest] ?? 0;
      this.sum -= evicted;
      this.sumOfSquares -= evicted * evicted;
      this.samples[this.oldest] = intervalMs;
      this.oldest = (this.oldest + 1) % this.capacity;
    }
    this.sum += intervalMs;
    this.sumOfSquares += intervalMs * intervalMs;
    // Adding and subtracting forever lets rounding error drift into the sums; recomputing them
    // once per window's worth of additions keeps them exact at amortised O(1) cost.
    if (++this.additionsSinceResum >= this.capacity) this.resum();
    this.cachedStdDeviation = undefined;
  }

  clear(): void {
    this.oldest = 0;
    this.count = 0;
    this.sum = 0;
    this.sumOfSquares = 0;
    this.additionsSinceResum = 0;
    this.cachedStdDeviation = undefined;
  }

  /** Mean of the window, or undefined when it is empty. */
  mean(): number | undefined {
    return this.count === 0 ? undefined : this.sum / this.count;
  }

  /** Population standard deviation of the window (0 when it holds fewer than two samples). */
  stdDeviation(): number {
    if (this.cachedStdDeviation !== undefined) return this.cachedStdDeviation;
    if (this.count < 2) return 0;
    const mean = this.sum / this.count;
    // Cancellation can leave a tiny negative variance; sqrt of it would be NaN.
    this.cachedStdDeviation = Math.sqrt(Math.max(0, this.sumOfSquares / this.count - mean * mean));
    return this.cachedStdDeviation;
  }

  private grow(): void {
    const larger = new Float64Array(Math.min(this.capacity, this.samples.length * 2));
    larger.set(this.samples);
    this.samples = larger;
  }

  private resum(): void {
    let sum = 0;
    let sumOfSquares = 0;
    for (let i = 0; i < this.count; i++) {
      const sample = this.samples[i] ?? 0;
      sum += sample;
      sumOfSquares += sample * sample;
    }
    this.sum = sum;
    this.sumOfSquares = sumOfSquares;
    this.additionsSinceResum = 0;
  }
}

export class PhiAccrualDetector {
  readonly settings: Readonly<PhiSettings>;
  private readonly window: IntervalWindow;
  private lastHeartbeatAtMs: number;
  // Set after a local stall: the next interval measured spans the stall, when arrivals were queued
  // rather than processed, so it says nothing about the peer and is kept out of the window.
  private skipNextInterval = false;

  /**
   * Starts monitoring at `nowMs`, which counts as the first heartbeat: a node we learned of and
   * never hear from again must still be suspected eventually (Akka reports phi 0 until the first
   * heartbeat; here the caller creates the detector when it first sees the node's heartbeat).
   */
  constructor(settings: PhiSettings, nowMs: number) {
    validatePhiSettings(settings);
    requireFiniteTime(nowMs, "constructor");
    this.settings = Object.freeze({ ...settings });
    this.window = new IntervalWindow(settings.windowSize);
    this.lastHeartbeatAtMs = nowMs;
    this.seedWindow();
  }

  /** The node's heartbeat counter was seen to advance at `nowMs`. */
  heartbeat(nowMs: number): void {
    requireFiniteTime(nowMs, "heartbeat");
    const intervalMs = nowMs - this.lastHeartbeatAtMs;
    // Several digests handled in the same millisecond (common under a virtual clock) are one
    // arrival; recording zero-length intervals would drag the mean down and convict too early. A
    // clock that steps back is ignored for the same reason.
    if (intervalMs <= 0) return;
    // Akka: the first beat after the node was unavailable ends a gap that is not a sample of
    // normal behaviour (it would inflate mean and σ for the next thousand beats); skip it.
    if (!this.skipNextInterval && this.isAvailable(nowMs)) this.window.add(intervalMs);
    this.skipNextInterval = false;
    this.lastHeartbeatAtMs = nowMs;
  }

  /** Suspicion level in [0, MAX_PHI]; grows monotonically with the silence since the last beat. */
  phi(nowMs: number): number {
    requireFiniteTime(nowMs, "phi");
    const elapsedMs = Math.max(0, nowMs - this.lastHeartbeatAtMs);
    return phiOfNormal(
      elapsedMs,
      this.meanIntervalMs + this.settings.acceptablePauseMs,
      this.stdDeviationMs,
    );
  }

  isAvailable(nowMs: number): boolean {
    return this.phi(nowMs) < this.settings.threshold;
  }

  /**
   * The local process itself could not run for `pauseMs` (an event-loop stall that ended by
   * `nowMs`, reported by LocalHealth). Heartbeats that arrived meanwhile sat unread in socket
   * buffers, so that much of the silence is ours, not the peer's: the silence clock moves forward
   * by the pause (never past `nowMs`) and the next interval, which spans the stall, is not
   * recorded. Only the stall is excused, not the whole silence: a peer that was already silent
   * before the stall keeps its accrued suspicion. The stall is only known after it ended, hence
   * one call with its length instead of a pause()/resume() pair.
   */
  excuseLocalPause(pauseMs: number, nowMs: number): void {
    requireFiniteTime(nowMs, "excuseLocalPause");
    if (!(pauseMs > 0)) return;
    const shifted = Math.min(nowMs, this.lastHeartbeatAtMs + pauseMs);
    this.lastHeartbeatAtMs = Math.max(this.lastHeartbeatAtMs, shifted);
    this.skipNextInterval = true;
  }

  /**
   * Forgets the history and starts over as if newly created at `nowMs`: for a node that restarted
   * (new generation) or came back after being declared dead, whose old rhythm no longer applies.
   */
  reset(nowMs: number): void {
    requireFiniteTime(nowMs, "reset");
    this.window.clear();
    this.seedWindow();
    this.lastHeartbeatAtMs = nowMs;
    this.skipNextInterval = false;
  }

  /**
   * When phi reaches `level` if no heartbeat arrives first: the last heartbeat plus the silence at
   * which the model's tail probability falls to 10^-level. Lets a caller wake up exactly at the
   * crossing instead of polling phi.
   */
  crossingAt(level: number): number {
    return this.lastHeartbeatAtMs + this.meanIntervalMs + this.settings.acceptablePauseMs + standardisedSilence(level) * this.stdDeviationMs;
  }

  /**
   * Intervals in the window, including the two seeded from firstHeartbeatEstimateMs until they
   * slide out.
   */
  get sampleCount(): number {
    return this.window.size;
  }

  /** Mean inter-arrival interval of the window (without the acceptable pause). */
  get meanIntervalMs(): number {
    return this.window.mean() ?? this.settings.firstHeartbeatEstimateMs;
  }

  /** Standard deviation used by the model: the window's, but at least minStdDeviationMs. */
  get stdDeviationMs(): number {
    return Math.max(this.window.stdDeviation(), this.settings.minStdDeviationMs);
  }

  get lastHeartbeatMs(): number {
    return this.lastHeartbeatAtMs;
  }

  // Akka seeds a new history with two intervals, estimate ± estimate/4, so the model starts with
  // mean = estimate and σ = estimate/4 instead of a degenerate one-point distribution.
  private seedWindow(): void {
    const estimate = this.settings.firstHeartbeatEstimateMs;
    const spread = estimate / 4;
    this.window.add(estimate - spread);
    this.window.add(estimate + spread);
  }
}

// Akka's `phi(timeDiff, mean, stdDeviation)`. It approximates the normal tail with a logistic
// curve: with y = (t - mean)/σ and e = exp(-y(1.5976 + 0.070566 y²)), 1 - F(t) ≈ e/(1 + e), so
// phi = -log10(e/(1+e)) = log10(1 + exp(a)) where a = y(1.5976 + 0.070566 y²). Akka evaluates
// that in two branches to dodge overflow of e; here it is evaluated as a stable softplus instead,
// which is the same function but never under- or overflows: for a > 0,
// ln(1 + e^a) = a + ln(1 + e^-a). It is strictly increasing in t, and finite until the cap.
function phiOfNormal(elapsedMs: number, meanMs: number, stdDeviationMs: number): number {
  const y = (elapsedMs - meanMs) / stdDeviationMs;
  const a = y * (1.5976 + 0.070566 * y * y);
  const lnOnePlusExpA = a > 0 ? a + Math.log1p(Math.exp(-a)) : Math.log1p(Math.exp(a));
  const phi = lnOnePlusExpA / Math.LN10;
  // a reaches +Infinity only for absurd silences (y³ overflows); Math.min turns that into the cap.
  // NaN cannot occur: every input is finite and the divisor is at least minStdDeviationMs > 0.
  return Math.min(phi, MAX_PHI);
}

// The inverse of phiOfNormal in y: phi = level where ln(1 + e^a) = level·ln 10, i.e.
// a = ln(10^level - 1), written as level·ln 10 + ln(1 - 10^-level) so that no power overflows.
// a = y(1.5976 + 0.070566 y²) is a cubic with one real root (its slope is always positive), which
// Cardano's formula gives directly.
function standardisedSilence(level: number): number {
  const a = level * Math.LN10 + Math.log1p(-(10 ** -level));
  const p = 1.5976 / 0.070566;
  const q = -a / 0.070566;
  const root = Math.sqrt((q / 2) ** 2 + (p / 3) ** 3);
  return Math.cbrt(-q / 2 + root) + Math.cbrt(-q / 2 - root);
}

function validatePhiSettings(settings: PhiSettings): void {
  const { threshold, windowSize, minStdDeviationMs, acceptablePauseMs, firstHeartbeatEstimateMs } =
    settings;
  if (!(Number.isFinite(threshold) && threshold > 0)) {
    throw new RangeError(`phi threshold must be a positive number, got ${threshold}`);
  }
  if (!(Number.isInteger(windowSize) && windowSize >= 1)) {
    throw new RangeError(`phi windowSize must be an integer >= 1, got ${windowSize}`);
  }
  // σ is a divisor: a zero floor would give 0/0 for perfectly regular heartbeats.
  if (!(Number.isFinite(minStdDeviationMs) && minStdDeviationMs > 0)) {
    throw new RangeError(`phi minStdDeviationMs must be > 0, got ${minStdDeviationMs}`);
  }
  if (!(Number.isFinite(acceptablePauseMs) && acceptablePauseMs >= 0)) {
    throw new RangeError(`phi acceptablePauseMs must be >= 0, got ${acceptablePauseMs}`);
  }
  if (!(Number.isFinite(firstHeartbeatEstimateMs) && firstHeartbeatEstimateMs >= 0)) {
    throw new RangeError(
      `phi firstHeartbeatEstimateMs must be >= 0, got ${firstHeartbeatEstimateMs}`,
    );
  }
}

// A NaN time would poison the last-heartbeat timestamp and make every later phi NaN; failing at
// the call that introduced it points at the real bug.
function requireFiniteTime(nowMs: number, operation: string): void {
  if (!Number.isFinite(nowMs)) {
    throw new RangeError(`PhiAccrualDetector.${operation}: nowMs must be finite, got ${nowMs}`);
  }
}
