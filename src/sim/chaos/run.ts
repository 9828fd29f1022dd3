// Runs one chaos scenario on a simulated cluster of whole GossipNodes (the class createNode
// ships) over the in-memory network and the virtual clock: the faults and the workload until
// the last fault ends, then rounds until the running nodes converge (I1) and stay so, then the
// end-of-run checks. I2 and I3 are checked at every event, I4 every 5 s of simulated time.

import type { MembershipSettings } from "../../membership/membership.ts";
import { createRandom } from "../../random.ts";
import { SimulatedCluster, type SimNode } from "../simulated-cluster.ts";
import { HealthHistory } from "./health.ts";
import { baseNetwork, FaultInjector } from "./injector.ts";
import { convergenceBoundRounds, divergence, memoryExcess, replayMismatch } from "./invariants.ts";
import { NodeObserver, TraceHash, type Violation } from "./observer.ts";
import { chaosTiming, type Scenario, seedCount } from "./scenario.ts";
import { Workload, workloadTickMs } from "./workload.ts";

/** Rounds the cluster must stay converged once it got there. */
const STABLE_ROUNDS = 5;
const MEMORY_CHECK_EVERY_MS = 5_000;

export interface ScenarioResult {
  scenario: Scenario;
  violation: Violation | null;
  /** Rounds from the last fault's end until every invariant of I1 held; -1 if it never did. */
  convergenceRounds: number;
  /** When the last fault ended (simulated ms). */
  quietAtMs: number;
  traceHash: string;
  events: number;
  /** What the injector did, in order (for traces). */
  applied: string[];
  workload: { writes: number; deletes: number; ttlWrites: number; configChanges: number };
}

/** Settings to run a scenario with instead of the shipped defaults (to show a checker catches a broken node). */
export interface ScenarioOverrides {
  membership?: Partial<MembershipSettings>;
}

export async function runScenario(scenario: Scenario, overrides: ScenarioOverrides = {}): Promise<ScenarioResult> {
  const { nodes } = scenario.options;
  const cluster = new SimulatedCluster({
    nodes,
    seed: scenario.seed,
    seeds: seedCount(nodes),
    network: { ...baseNetwork },
    gossip: { gossipIntervalMs: chaosTiming.roundMs },
    membership: { deadRemovalMs: chaosTiming.deadRemovalMs, leftRemovalMs: chaosTiming.leftRemovalMs, ...overrides.membership },
    tombstoneGraceMs: chaosTiming.tombstoneGraceMs,
  });
  cluster.recordChanges = false;
  const history = new HealthHistory();
  const trace = new TraceHash();
  const names = new Set<string>();
  let violation: Violation | null = null;
  const report = (found: Violation): void => void (violation ??= found);
  const observers = new Map<string, NodeObserver>();
  const observe = (node: SimNode): void => {
    names.add(node.name);
    observers.set(node.name, new NodeObserver(node, cluster, history, trace, report));
  };
  for (const node of cluster.nodes) {
    observe(node);
    history.started(node.name, 0);
  }
  await cluster.started();

  const injector = new FaultInjector(cluster, history, scenario, observe);
  const actions = injector.actions();
  const quietAtMs = Math.max(chaosTiming.warmUpMs + 10_000, actions.at(-1)?.atMs ?? 0);
  const workload = new Workload(cluster, createRandom(scenario.seed ^ 0x5bd1e995), quietAtMs);
  const checkState = (): void => {
    const now = cluster.clock.now();
    const excess = memoryExcess(cluster, { names: names.size });
    if (excess) report({ invariant: "I4", atMs: now, message: excess });
    for (const node of cluster.running()) {
      const found = observers.get(node.name)!.checkResurrections(now);
      if (found) report(found);
    }
  };

  let next = 0;
  let nextTick = workloadTickMs;
  let nextCheck = MEMORY_CHECK_EVERY_MS;
  while (violation === null && (next < actions.length || cluster.clock.now() < quietAtMs)) {
    const target = Math.min(nextTick, actions[next]?.atMs ?? quietAtMs, quietAtMs);
    cluster.runFor(target - cluster.clock.now());
    while (next < actions.length && actions[next]!.atMs <= cluster.clock.now()) await actions[next++]!.run();
    if (cluster.clock.now() >= nextTick) {
      workload.tick();
      nextTick += workloadTickMs;
    }
    if (cluster.clock.now() >= nextCheck) {
      checkState();
      nextCheck += MEMORY_CHECK_EVERY_MS;
    }
  }

  // Converged: I1 holds at a round and at the STABLE_ROUNDS after it (a suspicion the faults
  // left behind may still come up and go again); convergenceRounds is that first round.
  let convergenceRounds = -1;
  let streakStart = 0;
  let lastDivergence: string | null = "not checked";
  for (let round = 1; violation === null && round <= convergenceBoundRounds + STABLE_ROUNDS; round++) {
    cluster.runFor(chaosTiming.roundMs);
    lastDivergence = divergence(cluster);
    if (lastDivergence !== null) streakStart = 0;
    else if (streakStart === 0) streakStart = round;
    if (streakStart > 0 && round - streakStart >= STABLE_ROUNDS) {
      convergenceRounds = streakStart;
      break;
    }
    if (streakStart === 0 && round >= convergenceBoundRounds) break;
  }
  if (violation === null && convergenceRounds < 0) {
    report({ invariant: "I1", atMs: cluster.clock.now(), message: `not converged ${convergenceBoundRounds} rounds after the last fault: ${lastDivergence}` });
  }
  if (violation === null) checkState();
  for (const node of cluster.running()) {
    if (violation !== null) break;
    const mismatch = replayMismatch(observers.get(node.name)!);
    if (mismatch) report({ invariant: "I5", atMs: cluster.clock.now(), message: mismatch });
  }
  return {
    scenario,
    violation: violation as Violation | null,
    convergenceRounds,
    quietAtMs,
    traceHash: trace.hex,
    events: trace.events,
    applied: injector.applied,
    workload: { writes: workload.writes, deletes: workload.deletes, ttlWrites: workload.ttlWrites, configChanges: workload.configChanges },
  };
}
