import { describe, expect, test } from "bun:test";
import {
  LocalHealth,
  defaultLocalHealthSettings,
  startEventLoopLagMonitor,
  type LocalHealthSettings,
} from "../src/membership/local-health.ts";

const TICK_MS = 100;

/** Feeds ticks due every TICK_MS in (fromMs, toMs], each run `lagMs` late. */
function tickRegularly(health: LocalHealth, fromMs: number, toMs: number, lagMs = 0): void {
  for (let due = fromMs + TICK_MS; due <= toMs; due += TICK_MS) health.tick(due, due + lagMs);
}

/** Counts the ticks it is fed, to see whether a driver is still running. */
class CountingHealth extends LocalHealth {
  ticks = 0;
  override tick(expectedMs: number, actualMs: number): boolean {
    this.ticks++;
    return super.tick(expectedMs, actualMs);
  }
}

const settings = (overrides: Partial<LocalHealthSettings> = {}): LocalHealthSettings => ({
  ...defaultLocalHealthSettings,
  ...overrides,
});

describe("LocalHealth", () => {
  test("defaults", () => {
    expect(defaultLocalHealthSettings).toEqual({
      stallThresholdMs: 500,
      graceMs: 2000,
      maxLagWindowMs: 60_000,
      smoothingFactor: 0.1,
    });
  });

  test("a node that was never ticked may convict and reports no lag", () => {
    const health = new LocalHealth();
    expect(health.canConvict(0)).toBe(true);
    expect(health.canConvict(1e9)).toBe(true);
    expect(health.lagMs).toBe(0);
    expect(health.maxLagMs).toBe(0);
    expect(health.smoothedLagMs).toBe(0);
    expect(health.stallCount).toBe(0);
    expect(health.lastStallMs).toBe(0);
  });

  test("small lag does not stop conviction but is exposed", () => {
    const health = new LocalHealth();
    tickRegularly(health, 0, 5000, 40);
    expect(health.tick(5100, 5100 + 499)).toBe(false);
    tickRegularly(health, 5599, 8000, 10);
    expect(health.canConvict(8000)).toBe(true);
    expect(health.stallCount).toBe(0);
    expect(health.lagMs).toBe(10);
    expect(health.maxLagMs).toBe(499);
    expect(health.smoothedLagMs).toBeGreaterThan(10);
    expect(health.smoothedLagMs).toBeLessThan(40);
  });

  test("a stall stops conviction until grace plus the stall's length have passed", () => {
    const health = new LocalHealth();
    tickRegularly(health, 0, 1000);
    expect(health.canConvict(1000)).toBe(true);

    // The tick due at 1100 runs at 3100: a 2 s stall, seen when it ends.
    expect(health.tick(1100, 3100)).toBe(true);
    expect(health.stallCount).toBe(1);
    expect(health.lastStallMs).toBe(2000);
    expect(health.lagMs).toBe(2000);
    expect(health.maxLagMs).toBe(2000);
    const blockedUntil = 3100 + defaultLocalHealthSettings.graceMs + 2000;
    expect(health.convictionBlockedUntilMs).toBe(blockedUntil);

    tickRegularly(health, 3100, blockedUntil + 1000);
    expect(health.canConvict(3100)).toBe(false);
    expect(health.canConvict(blockedUntil - 1)).toBe(false);
    expect(health.canConvict(blockedUntil)).toBe(true);
    expect(health.stallCount).toBe(1);
    expect(health.maxLagMs).toBe(2000);
  });

  test("the stall threshold is inclusive and configurable", () => {
    const health = new LocalHealth(settings({ stallThresholdMs: 200, graceMs: 0 }));
    expect(health.tick(100, 299)).toBe(false);
    expect(health.tick(400, 600)).toBe(true);
    expect(health.canConvict(799)).toBe(false);
    expect(health.canConvict(800)).toBe(true);
  });

  test("overlapping stalls extend the block, a shorter later stall never shortens it", () => {
    const health = new LocalHealth();
    tickRegularly(health, 0, 1000);
    health.tick(1100, 5100); // 4 s stall: blocked until 5100 + 2000 + 4000 = 11100
    health.tick(5200, 5800); // 0.6 s stall: would end at 8400
    expect(health.stallCount).toBe(2);
    expect(health.lastStallMs).toBe(600);
    expect(health.convictionBlockedUntilMs).toBe(11_100);
    tickRegularly(health, 5800, 12_000);
    expect(health.canConvict(11_099)).toBe(false);
    expect(health.canConvict(11_100)).toBe(true);
  });

  test("while the lag timer itself is overdue, conviction is off (stall not yet reported)", () => {
    const health = new LocalHealth();
    tickRegularly(health, 0, 1000);
    // Next tick due at 1100; the loop is stuck, but a conviction check may run before the tick.
    expect(health.canConvict(1100 + 499)).toBe(true);
    expect(health.canConvict(1100 + 500)).toBe(false);
    expect(health.canConvict(3000)).toBe(false);
    health.tick(1100, 3050);
    expect(health.canConvict(3050)).toBe(false);
  });

  test("maxLagMs covers the trailing window only", () => {
    const health = new LocalHealth(settings({ maxLagWindowMs: 10_000 }));
    tickRegularly(health, 0, 1000, 5);
    health.tick(1100, 1100 + 300);
    tickRegularly(health, 1400, 5000, 20);
    expect(health.maxLagMs).toBe(300);
    tickRegularly(health, 5000, 11_300, 20);
    expect(health.maxLagMs).toBe(300);
    tickRegularly(health, 11_300, 11_500, 20);
    expect(health.maxLagMs).toBe(20);
  });

  test("smoothedLagMs is an exponential moving average of the lags", () => {
    const factor = 0.25;
    const health = new LocalHealth(settings({ smoothingFactor: factor }));
    const lags = [0, 40, 10, 300, 0, 0, 20, 80];
    let expected = 0;
    lags.forEach((lag, i) => {
      const due = (i + 1) * TICK_MS;
      health.tick(due, due + lag);
      expected = expected * (1 - factor) + lag * factor;
    });
    expect(health.smoothedLagMs).toBeCloseTo(expected, 9);
  });

  test("a timer that fires early has no lag", () => {
    const health = new LocalHealth();
    expect(health.tick(1000, 998)).toBe(false);
    expect(health.lagMs).toBe(0);
  });

  test("bad settings and times are refused", () => {
    for (const bad of [
      { stallThresholdMs: 0 },
      { graceMs: -1 },
      { maxLagWindowMs: 0 },
      { smoothingFactor: 0 },
      { smoothingFactor: 1.5 },
    ]) {
      expect(() => new LocalHealth(settings(bad))).toThrow(RangeError);
    }
    const health = new LocalHealth();
    expect(() => health.tick(Number.NaN, 0)).toThrow(RangeError);
    expect(() => health.canConvict(Number.NaN)).toThrow(RangeError);
  });
});

describe("startEventLoopLagMonitor", () => {
  test("measures a real event-loop stall and stops when told", async () => {
    const health = new CountingHealth(settings({ stallThresholdMs: 300, graceMs: 1000 }));
    const stalls: number[] = [];
    const stop = startEventLoopLagMonitor(health, 20, { onStall: (ms) => stalls.push(ms) });
    try {
      await Bun.sleep(100);
      expect(health.stallCount).toBe(0);
      expect(health.canConvict(performance.now())).toBe(true);

      const blockUntil = performance.now() + 600;
      while (performance.now() < blockUntil) {
        // Busy-wait: the event loop cannot run the timer.
      }
      // Before the lag timer had a chance to run, the overdue check already holds conviction.
      expect(health.canConvict(performance.now())).toBe(false);
      await Bun.sleep(60);

      expect(health.stallCount).toBe(1);
      expect(stalls.length).toBe(1);
      expect(stalls[0]).toBeGreaterThanOrEqual(500);
      expect(health.maxLagMs).toBe(stalls[0] ?? Number.NaN);
      expect(health.canConvict(performance.now())).toBe(false);
    } finally {
      stop();
    }
    const ticksAtStop = health.ticks;
    expect(ticksAtStop).toBeGreaterThan(3);
    await Bun.sleep(60);
    expect(health.ticks).toBe(ticksAtStop);
  });

  test("uses the injected time source", async () => {
    const health = new LocalHealth();
    let fakeNow = 0;
    const stop = startEventLoopLagMonitor(health, 10, {
      now: () => {
        fakeNow += 10; // each reading 10 ms later; a run is due 10 ms after the previous one
        return fakeNow;
      },
    });
    await Bun.sleep(50);
    stop();
    expect(health.stallCount).toBe(0);
    expect(health.maxLagMs).toBe(0);
    expect(() => startEventLoopLagMonitor(health, 0)).toThrow(RangeError);
  });
});
