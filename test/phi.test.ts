import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  MAX_PHI,
  PhiAccrualDetector,
  defaultPhiSettings,
  type PhiSettings,
} from "../src/membership/phi.ts";

// Independent model of the detector, written from Akka's description rather than from the code
// under test: Akka's two-branch logistic phi, and the silence at which it reaches a threshold.

function akkaPhi(elapsedMs: number, meanMs: number, stdMs: number): number {
  const y = (elapsedMs - meanMs) / stdMs;
  const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
  return elapsedMs > meanMs ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
}

// phi(y) = log10(1 + exp(a)) with a = 1.5976 y + 0.070566 y³, so phi = threshold at
// a = ln(10^threshold - 1); the cubic in y has one real root (Cardano, p > 0).
function standardisedSilenceAtThreshold(threshold: number): number {
  const a = Math.log(10 ** threshold - 1);
  const p = 1.5976 / 0.070566;
  const q = -a / 0.070566;
  const root = Math.sqrt((q / 2) ** 2 + (p / 3) ** 3);
  return Math.cbrt(-q / 2 + root) + Math.cbrt(-q / 2 - root);
}

/** Silence after the last heartbeat at which phi reaches the threshold. */
function expectedCrossingMs(meanMs: number, stdMs: number, settings: PhiSettings): number {
  const y = standardisedSilenceAtThreshold(settings.threshold);
  return meanMs + settings.acceptablePauseMs + y * stdMs;
}

function populationStd(samples: number[]): number {
  const mean = samples.reduce((s, x) => s + x, 0) / samples.length;
  return Math.sqrt(samples.reduce((s, x) => s + (x - mean) ** 2, 0) / samples.length);
}

/** Feeds heartbeats at the given intervals starting at `startMs`; returns the last beat's time. */
function feed(detector: PhiAccrualDetector, startMs: number, intervals: number[]): number {
  let now = startMs;
  for (const interval of intervals) {
    now += interval;
    detector.heartbeat(now);
  }
  return now;
}

/** First whole millisecond of silence at which the detector stops reporting the node available. */
function measuredCrossingMs(detector: PhiAccrualDetector, lastBeatMs: number): number {
  let silence = 0;
  while (detector.isAvailable(lastBeatMs + silence)) silence++;
  return silence;
}

const settings = (overrides: Partial<PhiSettings> = {}): PhiSettings => ({
  ...defaultPhiSettings,
  ...overrides,
});

describe("PhiAccrualDetector", () => {
  test("defaults are Akka's, with a 2.5 s acceptable pause", () => {
    expect(defaultPhiSettings).toEqual({
      threshold: 8,
      windowSize: 1000,
      minStdDeviationMs: 100,
      acceptablePauseMs: 2500,
      firstHeartbeatEstimateMs: 1000,
    });
  });

  test("regular 1 s heartbeats: suspected 4.0 s after the last, past a 2 s stall plus an interval", () => {
    const detector = new PhiAccrualDetector(defaultPhiSettings, 0);
    const last = feed(detector, 0, Array.from({ length: 100 }, () => 1000));
    const crossing = measuredCrossingMs(detector, last);
    expect(crossing).toBeGreaterThan(3000 + 500);
    expect(crossing).toBeLessThan(4100);
  });

  test("regular heartbeats keep phi low", () => {
    const detector = new PhiAccrualDetector(defaultPhiSettings, 0);
    let now = 0;
    for (let i = 0; i < 300; i++) {
      // ±20% jitter, as gossip-relayed heartbeats have.
      const interval = 1000 + (i % 5) * 100 - 200;
      expect(detector.phi(now + interval)).toBeLessThan(0.01);
      expect(detector.isAvailable(now + interval)).toBe(true);
      now += interval;
      detector.heartbeat(now);
    }
    expect(detector.sampleCount).toBe(302);
    expect(detector.meanIntervalMs).toBeCloseTo(1000, 0);
  });

  test("a fresh detector convicts ~4.8 s after its first beat (seeded mean 1 s, σ 250 ms)", () => {
    const detector = new PhiAccrualDetector(defaultPhiSettings, 10_000);
    expect(detector.sampleCount).toBe(2);
    expect(detector.meanIntervalMs).toBe(1000);
    expect(detector.stdDeviationMs).toBe(250);
    const expected = expectedCrossingMs(1000, 250, defaultPhiSettings);
    expect(expected).toBeGreaterThan(4750);
    expect(expected).toBeLessThan(4850);
    expect(Math.abs(measuredCrossingMs(detector, 10_000) - expected)).toBeLessThanOrEqual(1);
  });

  test("phi grows monotonically with silence and crosses the threshold as modelled", () => {
    const s = settings({ windowSize: 10 });
    const detector = new PhiAccrualDetector(s, 0);
    // 800/1200 alternating: mean 1000, σ 200 (above the 100 ms floor), seeds slid out.
    const intervals = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 800 : 1200));
    const last = feed(detector, 0, intervals);
    const window = intervals.slice(-10);
    const mean = window.reduce((a, b) => a + b, 0) / window.length;
    const std = populationStd(window);
    expect(mean).toBe(1000);
    expect(std).toBe(200);

    let previous = -1;
    for (let silence = 0; silence <= 20_000; silence += 7) {
      const phi = detector.phi(last + silence);
      expect(phi).toBeGreaterThanOrEqual(previous);
      // The implementation's stable form and Akka's literal two branches agree.
      const reference = akkaPhi(silence, mean + s.acceptablePauseMs, std);
      if (Number.isFinite(reference) && reference < 300) {
        expect(Math.abs(phi - reference)).toBeLessThanOrEqual(1e-9 * Math.max(1, reference));
      }
      previous = phi;
    }

    const expected = expectedCrossingMs(mean, std, s);
    // "Mean + acceptable pause + a few σ".
    expect(expected).toBeGreaterThan(mean + s.acceptablePauseMs + 4 * std);
    expect(expected).toBeLessThan(mean + s.acceptablePauseMs + 6 * std);
    expect(detector.phi(last + expected - 1)).toBeLessThan(s.threshold);
    expect(detector.phi(last + expected + 1)).toBeGreaterThanOrEqual(s.threshold);
    // At the shifted mean the normal tail is one half: phi = log10 2.
    expect(detector.phi(last + mean + s.acceptablePauseMs)).toBeCloseTo(Math.log10(2), 12);
  });

  test("the window slides: after 1 s intervals become 200 ms, detection is faster", () => {
    const s = settings({ windowSize: 20 });
    const detector = new PhiAccrualDetector(s, 0);
    let last = feed(detector, 0, Array(40).fill(1000));
    expect(detector.sampleCount).toBe(20);
    expect(detector.meanIntervalMs).toBe(1000);
    const slowCrossing = measuredCrossingMs(detector, last);
    expect(Math.abs(slowCrossing - expectedCrossingMs(1000, 100, s))).toBeLessThanOrEqual(1);

    let previousMean = detector.meanIntervalMs;
    for (let i = 0; i < 20; i++) {
      last += 200;
      detector.heartbeat(last);
      expect(detector.sampleCount).toBe(20);
      expect(detector.meanIntervalMs).toBeLessThan(previousMean);
      previousMean = detector.meanIntervalMs;
    }
    // Every 1 s sample has dropped out.
    expect(detector.meanIntervalMs).toBeCloseTo(200, 9);
    expect(detector.stdDeviationMs).toBe(100);
    const fastCrossing = measuredCrossingMs(detector, last);
    expect(Math.abs(fastCrossing - expectedCrossingMs(200, 100, s))).toBeLessThanOrEqual(1);
    expect(fastCrossing).toBeLessThan(slowCrossing - 750);
  });

  test("the default window holds the latest 1000 intervals", () => {
    const detector = new PhiAccrualDetector(defaultPhiSettings, 0);
    let last = feed(detector, 0, Array(1200).fill(1000));
    expect(detector.sampleCount).toBe(1000);
    last = feed(detector, last, Array(1000).fill(500));
    expect(detector.sampleCount).toBe(1000);
    expect(detector.meanIntervalMs).toBeCloseTo(500, 6);
    expect(last).toBe(1_700_000);
  });

  test("the minimum standard deviation is respected for perfectly regular heartbeats", () => {
    for (const minStdDeviationMs of [100, 500]) {
      const s = settings({ windowSize: 10, minStdDeviationMs });
      const detector = new PhiAccrualDetector(s, 0);
      const last = feed(detector, 0, Array(30).fill(1000));
      expect(detector.stdDeviationMs).toBe(minStdDeviationMs);
      const expected = expectedCrossingMs(1000, minStdDeviationMs, s);
      expect(Math.abs(measuredCrossingMs(detector, last) - expected)).toBeLessThanOrEqual(1);
      // One late beat well inside the pause is not suspicious.
      expect(detector.phi(last + 1500)).toBeLessThan(0.001);
    }
  });

  test("no NaN or Infinity with zero, one or degenerate samples", () => {
    const times = [0, 1, 999, 1000, 4000, 1e6, 1e12, 1e300];
    const cases: PhiAccrualDetector[] = [];
    cases.push(new PhiAccrualDetector(defaultPhiSettings, 0));
    const oneBeat = new PhiAccrualDetector(defaultPhiSettings, 0);
    oneBeat.heartbeat(1000);
    cases.push(oneBeat);
    cases.push(new PhiAccrualDetector(settings({ windowSize: 1 }), 0));
    const zeroEstimate = new PhiAccrualDetector(
      settings({ firstHeartbeatEstimateMs: 0, acceptablePauseMs: 0, minStdDeviationMs: 1 }),
      0,
    );
    zeroEstimate.heartbeat(0); // same instant: not an interval
    cases.push(zeroEstimate);
    for (const detector of cases) {
      for (const t of times) {
        const phi = detector.phi(t);
        expect(Number.isFinite(phi)).toBe(true);
        expect(phi).toBeGreaterThanOrEqual(0);
        expect(phi).toBeLessThanOrEqual(MAX_PHI);
      }
      expect(detector.phi(1e300)).toBe(MAX_PHI);
    }
    expect(zeroEstimate.sampleCount).toBe(2);
    expect(zeroEstimate.meanIntervalMs).toBe(0);
    // Time before the last heartbeat (a clock that stepped back) is no silence at all.
    expect(oneBeat.phi(500)).toBeLessThan(1e-6);
  });

  test("bad input is refused instead of poisoning the state", () => {
    const detector = new PhiAccrualDetector(defaultPhiSettings, 0);
    expect(() => detector.phi(Number.NaN)).toThrow(RangeError);
    expect(() => detector.heartbeat(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(Number.isFinite(detector.phi(1000))).toBe(true);
    expect(() => new PhiAccrualDetector(defaultPhiSettings, Number.NaN)).toThrow(RangeError);
    for (const bad of [
      { threshold: 0 },
      { windowSize: 0 },
      { windowSize: 2.5 },
      { minStdDeviationMs: 0 },
      { acceptablePauseMs: -1 },
      { firstHeartbeatEstimateMs: Number.NaN },
    ]) {
      expect(() => new PhiAccrualDetector(settings(bad), 0)).toThrow(RangeError);
    }
  });

  test("a heartbeat that ends an unavailable period is not recorded (Akka)", () => {
    const s = settings({ windowSize: 10 });
    const detector = new PhiAccrualDetector(s, 0);
    let last = feed(detector, 0, Array(20).fill(1000));
    last += 60_000;
    expect(detector.isAvailable(last)).toBe(false);
    detector.heartbeat(last);
    expect(detector.meanIntervalMs).toBe(1000);
    expect(detector.phi(last)).toBeLessThan(1e-6);
    last = feed(detector, last, [1000]);
    expect(detector.meanIntervalMs).toBe(1000);
    expect(detector.phi(last + 1000)).toBeLessThan(1e-6);
  });

  test("simultaneous heartbeats are one arrival", () => {
    const detector = new PhiAccrualDetector(settings({ windowSize: 10 }), 0);
    detector.heartbeat(1000);
    detector.heartbeat(1000);
    detector.heartbeat(1000);
    expect(detector.sampleCount).toBe(3);
  });

  test("excuseLocalPause takes the local stall out of the silence and the window", () => {
    const s = settings({ windowSize: 10 });
    const detector = new PhiAccrualDetector(s, 0);
    const last = feed(detector, 0, Array(20).fill(1000));
    const before = detector.phi(last + 500);

    // We stalled 2.5 s; the stall ended 3 s after the peer's last beat.
    detector.excuseLocalPause(2500, last + 3000);
    expect(detector.lastHeartbeatMs).toBe(last + 2500);
    expect(detector.phi(last + 3000)).toBe(before);

    // The beats queued during the stall are handled late; that interval is kept out of the model.
    detector.heartbeat(last + 3050);
    expect(detector.sampleCount).toBe(10);
    expect(detector.meanIntervalMs).toBe(1000);
    detector.heartbeat(last + 3850);
    expect(detector.meanIntervalMs).toBe(980);
  });

  test("excuseLocalPause excuses only the stall: an already silent peer stays suspected", () => {
    const s = settings({ windowSize: 10 });
    const detector = new PhiAccrualDetector(s, 0);
    const last = feed(detector, 0, Array(20).fill(1000));
    detector.excuseLocalPause(1000, last + 10_000);
    expect(detector.lastHeartbeatMs).toBe(last + 1000);
    expect(detector.isAvailable(last + 10_000)).toBe(false);
    // A pause longer than the silence never moves the clock past now.
    detector.excuseLocalPause(60_000, last + 12_000);
    expect(detector.lastHeartbeatMs).toBe(last + 12_000);
  });

  test("reset forgets the history and reseeds", () => {
    const detector = new PhiAccrualDetector(settings({ windowSize: 10 }), 0);
    const last = feed(detector, 0, Array(20).fill(300));
    detector.reset(last + 50_000);
    expect(detector.sampleCount).toBe(2);
    expect(detector.meanIntervalMs).toBe(1000);
    expect(detector.lastHeartbeatMs).toBe(last + 50_000);
    expect(detector.phi(last + 50_000)).toBeLessThan(1e-6);
  });

  test("property: phi is finite and non-decreasing in elapsed time for any history", () => {
    fc.assert(
      fc.property(
        fc.record({
          threshold: fc.double({ min: 0.5, max: 16, noNaN: true }),
          windowSize: fc.integer({ min: 1, max: 64 }),
          minStdDeviationMs: fc.double({ min: 0.01, max: 2000, noNaN: true }),
          acceptablePauseMs: fc.double({ min: 0, max: 10_000, noNaN: true }),
          firstHeartbeatEstimateMs: fc.double({ min: 0, max: 10_000, noNaN: true }),
        }),
        fc.array(fc.double({ min: 0, max: 20_000, noNaN: true }), { maxLength: 200 }),
        fc.double({ min: 0, max: 1e7, noNaN: true }),
        fc.double({ min: 0, max: 1e7, noNaN: true }),
        (phiSettings, intervals, silenceA, silenceB) => {
          const detector = new PhiAccrualDetector(phiSettings, 0);
          const last = feed(detector, 0, intervals);
          const shorter = Math.min(silenceA, silenceB);
          const longer = Math.max(silenceA, silenceB);
          const phiShorter = detector.phi(last + shorter);
          const phiLonger = detector.phi(last + longer);
          expect(Number.isFinite(phiShorter)).toBe(true);
          expect(Number.isFinite(phiLonger)).toBe(true);
          expect(phiShorter).toBeGreaterThanOrEqual(0);
          expect(phiLonger).toBeLessThanOrEqual(MAX_PHI);
          expect(phiLonger).toBeGreaterThanOrEqual(phiShorter);
        },
      ),
      { numRuns: 2000 },
    );
  });
  test("crossingAt is where phi reaches the level: for any history, a millisecond either side brackets it", () => {
    fc.assert(
      fc.property(
        fc.record({
          threshold: fc.constant(8),
          windowSize: fc.integer({ min: 1, max: 64 }),
          minStdDeviationMs: fc.double({ min: 1, max: 2000, noNaN: true }),
          acceptablePauseMs: fc.double({ min: 0, max: 10_000, noNaN: true }),
          firstHeartbeatEstimateMs: fc.double({ min: 0, max: 10_000, noNaN: true }),
        }),
        fc.array(fc.double({ min: 1, max: 20_000, noNaN: true }), { maxLength: 100 }),
        fc.double({ min: 0.5, max: 30, noNaN: true }),
        (phiSettings, intervals, level) => {
          const detector = new PhiAccrualDetector(phiSettings, 0);
          feed(detector, 0, intervals);
          const at = detector.crossingAt(level);
          expect(Number.isFinite(at)).toBe(true);
          expect(detector.phi(at - 1)).toBeLessThan(level);
          expect(detector.phi(at + 1)).toBeGreaterThan(level);
          expect(detector.phi(at)).toBeCloseTo(level, 6);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test("crossingAt agrees with the independent model, and the threshold crossing with isAvailable", () => {
    const detector = new PhiAccrualDetector(defaultPhiSettings, 0);
    const last = feed(detector, 0, Array.from({ length: 50 }, () => 1000));
    const expected = last + expectedCrossingMs(detector.meanIntervalMs, detector.stdDeviationMs, defaultPhiSettings);
    expect(detector.crossingAt(defaultPhiSettings.threshold)).toBeCloseTo(expected, 6);
    expect(measuredCrossingMs(detector, last)).toBe(Math.ceil(expected - last));
  });
});
