// The chaos campaign (bun run chaos) in CI: 200 scenarios from a fixed seed list plus a few
// random ones (printed, so a failure can be replayed), all on whole simulated GossipNodes with the
// default fault kinds; replay determinism; checkers that do catch a broken cluster; and one
// regression scenario per bug the campaign found, skipped (with the reason printed) until fixed.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { randomSeed } from "../src/random.ts";
import { describeFailure, runCampaign } from "../src/sim/chaos/campaign.ts";
import { memoryExcess } from "../src/sim/chaos/invariants.ts";
import { runScenario } from "../src/sim/chaos/run.ts";
import { defaultFaults, type FaultKind, generateScenario, knownBugs } from "../src/sim/chaos/scenario.ts";
import { startMembershipCluster } from "../src/sim/failure-detection.ts";

// 100 scenarios take ≈ 15-40 s of CPU on this 2-core machine, depending on the load.
setDefaultTimeout(180_000);

const shape = { nodes: 6, minutes: 2, faults: defaultFaults };

async function expectNoViolation(seed: number, scenarios: number): Promise<void> {
  const report = await runCampaign({ ...shape, seed, scenarios, shrink: true });
  const hits = report.knownBugHits.map((hit) => hit.scenario.seed);
  console.log(`chaos seed ${seed}: ${scenarios} scenarios, ${report.failures.length} violations, ${hits.length} hit the known removal bug (${hits.join(", ")}), ${(report.wallMs / 1000).toFixed(1)} s`);
  expect(report.failures.map(describeFailure)).toEqual([]);
  expect(report.convergence.length + hits.length).toBe(scenarios);
}

describe("chaos campaign, default fault kinds", () => {
  for (const seed of [1, 2]) test(`fixed seed ${seed}: 100 scenarios, no violation`, () => expectNoViolation(seed, 100));

  const random = randomSeed();
  test(`random seed ${random} (printed for replay: bun run chaos -- --seed ${random} --scenarios 5): 5 scenarios, no violation`, () => expectNoViolation(random, 5));
});

describe("chaos campaign machinery", () => {
  test("a scenario replays exactly: same seed, same trace hash; another seed, another", async () => {
    const scenario = generateScenario(4242, shape);
    expect(scenario.episodes.length).toBeGreaterThan(0);
    const first = await runScenario(scenario);
    const again = await runScenario(generateScenario(4242, shape));
    const other = await runScenario(generateScenario(4243, shape));
    expect(first.events).toBeGreaterThan(100);
    expect(again.traceHash).toBe(first.traceHash);
    expect(again.events).toBe(first.events);
    expect(other.traceHash).not.toBe(first.traceHash);
  });

  test("I3 catches a detector that convicts nodes on healthy paths", async () => {
    // Pings time out before any answer can arrive (latency is 1-10 ms) and phi suspects at once:
    // every suspicion ends in a conviction although no message was lost.
    const result = await runScenario(generateScenario(7, { ...shape, faults: ["skew"] }), { membership: { probeTimeoutMs: 0.5, phi: { threshold: 0.5, windowSize: 100, minStdDeviationMs: 100, acceptablePauseMs: 0, firstHeartbeatEstimateMs: 1000 } } });
    expect(result.violation?.invariant).toBe("I3");
  });

  test("I4 reports a node past its bounds", async () => {
    const cluster = await startMembershipCluster({ nodes: 4, seed: 3, warmUpMs: 5_000 });
    expect(memoryExcess(cluster, { names: 4 })).toBeNull();
    expect(memoryExcess(cluster, { names: 2 })).toContain("knows 4 members, bound 2");
  });

  test("--faults names an unknown kind in its error", async () => {
    const { parseFaults } = await import("../src/sim/chaos/campaign.ts");
    expect(() => parseFaults("partition,meteor")).toThrow('unknown fault kind "meteor"');
    expect(parseFaults("default")).toEqual(defaultFaults);
  });
});

/** Scenarios that found a bug, named after their scenario; each replays with its command. */
const regressions: { seed: number; faults: FaultKind[]; drop: number[]; bug: FaultKind }[] = [
  { seed: 3984711379, faults: ["long-partition"], drop: [0, 1, 2, 3], bug: "long-partition" },
  { seed: 3984711379, faults: ["long-freeze"], drop: [0, 1, 2, 3], bug: "long-freeze" },
  { seed: 3984711379, faults: ["restart-lower"], drop: [0, 1, 2, 3, 4], bug: "restart-lower" },
  { seed: 52374623, faults: defaultFaults, drop: [], bug: "long-partition" },
  { seed: 2530693409, faults: ["crash", "restart", "join", "leave", "partition"], drop: [3, 5], bug: "leave" },
];

describe("chaos regressions", () => {
  for (const { seed, faults, drop, bug } of regressions) {
    const name = `scenario ${seed} --faults ${faults.join(",")} --drop ${drop.join(",")}`;
    // Skipped while the bug is open: the lead enables each once its fix is merged.
    console.log(`skipped chaos regression ${name}: known bug: ${knownBugs[bug]}`);
    test.skip(name, async () => {
      const result = await runScenario(generateScenario(seed, { nodes: 6, minutes: 2, faults }, drop));
      expect(result.violation).toBeNull();
    });
  }
});
