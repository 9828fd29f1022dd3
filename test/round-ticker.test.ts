// RoundTicker (src/clock.ts): a node's one timer. Ticks at least every maxTickMs, a round on
// every k-th tick, the lag of each tick reported; on the virtual clock, so times are exact.

import { describe, expect, test } from "bun:test";
import { type Clock, RoundTicker } from "../src/clock.ts";
import { NodeClock } from "../src/sim/node-clock.ts";
import { VirtualClock } from "../src/transport/virtual-clock.ts";

function recorder(clock: Clock, roundMs: number, maxTickMs: number) {
  const ticks: Array<{ due: number; at: number }> = [];
  const rounds: number[] = [];
  const ticker = new RoundTicker(clock, roundMs, maxTickMs, (due, at) => void ticks.push({ due, at }), () => void rounds.push(clock.now()));
  return { ticker, ticks, rounds };
}

describe("RoundTicker", () => {
  test("rounds longer than the tick: ticks divide the round evenly, a round on every k-th tick", () => {
    const clock = new VirtualClock();
    const { ticker, ticks, rounds } = recorder(clock, 1000, 250);
    ticker.start(100);
    clock.runUntil(clock.now() + 3_100);
    const start = clock.now() - 3_100;
    expect(ticks.map((tick) => tick.at - start)).toEqual([100, 350, 600, 850, 1100, 1350, 1600, 1850, 2100, 2350, 2600, 2850, 3100]);
    expect(rounds.map((at) => at - start)).toEqual([100, 1100, 2100, 3100]);
    // On time: every tick ran when it was due.
    for (const tick of ticks) expect(tick.at).toBe(tick.due);
  });

  test("rounds of the tick's length or shorter: one wakeup a round, and a tick that does not divide evenly is shortened", () => {
    const clock = new VirtualClock();
    const fast = recorder(clock, 200, 250);
    fast.ticker.start(0);
    clock.runUntil(clock.now() + 1_000);
    expect(fast.ticks).toHaveLength(fast.rounds.length);
    expect(fast.rounds).toHaveLength(6); // at 0, 200, …, 1000
    fast.ticker.stop();
    const odd = recorder(clock, 600, 250); // 3 ticks of 200 ms
    const start = clock.now();
    odd.ticker.start(0);
    clock.runUntil(start + 1_200);
    expect(odd.ticks.map((tick) => tick.at - start)).toEqual([0, 200, 400, 600, 800, 1000, 1200]);
    expect(odd.rounds.map((at) => at - start)).toEqual([0, 600, 1200]);
  });

  test("a stalled event loop: the late tick reports when it was due, and the schedule goes on from there", () => {
    const shared = new VirtualClock();
    const clock = new NodeClock(shared);
    const { ticker, ticks, rounds } = recorder(clock, 500, 250);
    const start = shared.now();
    ticker.start(0);
    shared.runUntil(start + 600);
    clock.stall(900); // from 600 to 1 500: the tick due at 750 runs at 1 500
    shared.runUntil(start + 2_000);
    const late = ticks.find((tick) => tick.at === start + 1_500)!;
    expect(late.due).toBe(start + 750);
    expect(ticks.map((tick) => tick.at - start)).toEqual([0, 250, 500, 1_500, 1_750, 2_000]);
    expect(rounds.map((at) => at - start)).toEqual([0, 500, 1_750]);
  });

  test("a new round interval applies from now; stop() ends the ticks", () => {
    const clock = new VirtualClock();
    const { ticker, ticks, rounds } = recorder(clock, 1000, 250);
    const start = clock.now();
    ticker.start(0);
    clock.runUntil(start + 300);
    ticker.setRoundInterval(200);
    clock.runUntil(start + 1_000);
    expect(rounds.map((at) => at - start)).toEqual([0, 500, 700, 900]);
    ticker.stop();
    const count = ticks.length;
    clock.runUntil(start + 5_000);
    expect(ticks).toHaveLength(count);
    expect(clock.pendingTimers).toBe(0);
  });
});
