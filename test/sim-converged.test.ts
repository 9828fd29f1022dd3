// The simulator's converged start and its concurrent propagation trials, on 300 nodes: every node
// knows every other from the start (each with its start entries: address and cluster config)
// while holding almost no records of its own (they are shared until they change), writes spread through the real protocol, the shared records never see them,
// and the rounds measureConcurrentPropagation reports agree with the arrival times recorded
// independently, change by change, through the cluster's onChanges hook.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { measureConcurrentPropagation } from "../src/sim/measure.ts";
import { SimulatedCluster } from "../src/sim/simulated-cluster.ts";
import type { NodeState } from "../src/state/index.ts";

const NODES = 300;
/** A SYN-ACK whose page is empty: the 12-byte frame header, no ranges, no entries, an empty names run. */
const EMPTY_SYN_ACK_BYTES = 12 + 3;
// 300 whole nodes take seconds per test on a loaded machine; Bun's default of 5 s would cut them short.
setDefaultTimeout(60_000);
const INTERVAL_MS = 1000;

async function newCluster(lossRate: number): Promise<SimulatedCluster> {
  const cluster = new SimulatedCluster({
    nodes: NODES,
    seed: 11,
    converged: true,
    network: { lossRate, minLatencyMs: 1, maxLatencyMs: 10 },
    gossip: { gossipIntervalMs: INTERVAL_MS, fanout: 1, pushFanout: 0 },
  });
  cluster.recordChanges = false;
  await cluster.started();
  return cluster;
}

/** Records held by the states, counted once each however many states hold them. */
function distinctRecords(cluster: SimulatedCluster): number {
  const records = new Set<NodeState>();
  for (const node of cluster.nodes) for (const record of node.state.nodes.values()) records.add(record);
  return records.size;
}

describe("converged start, 300 simulated nodes", () => {
  test("every node knows every other from the start, on N shared records plus one of its own", async () => {
    const cluster = await newCluster(0);
    for (const node of cluster.nodes) expect(node.state.nodes.size).toBe(NODES);
    // The shared snapshot (N records) and each node's own record of itself (N).
    expect(distinctRecords(cluster)).toBe(2 * NODES);
    cluster.runFor(5 * INTERVAL_MS);
    // Gossip ran, and nodes that agree exchanged summaries and empty pages only: no SYN-ACK
    // listed any entry (heartbeats are not hashed, so they make no bucket differ), no ACK followed,
    // and not a single record was copied.
    const gossip = cluster.nodes.map((node) => node.node.stats().gossip);
    const synAcks = gossip.reduce((sum, stats) => sum + stats.messagesIn.synack!, 0);
    expect(synAcks).toBeGreaterThan(NODES);
    expect(gossip.reduce((sum, stats) => sum + stats.bytesIn.synack!, 0)).toBe(synAcks * EMPTY_SYN_ACK_BYTES);
    expect(gossip.reduce((sum, stats) => sum + stats.messagesOut.ack!, 0)).toBe(0);
    expect(distinctRecords(cluster)).toBe(2 * NODES);
  });

  for (const lossRate of [0, 0.1]) {
    test(`concurrent trials at ${lossRate * 100}% loss: reported rounds match the arrival times, writes reach everyone`, async () => {
      const cluster = await newCluster(lossRate);
      cluster.runFor(2 * INTERVAL_MS);
      const arrivals = new Map<string, number[]>(); // key → times at which a node applied it
      cluster.onChanges = (_node, changes) => {
        for (const change of changes) if (change.group === "bench" && !change.local) arrivals.set(change.key, [...(arrivals.get(change.key) ?? []), cluster.clock.now()]);
      };
      const perRound = 4;
      const startedAt = cluster.clock.now();
      const results = measureConcurrentPropagation(cluster, { trials: 12, perRound, maxRounds: 40 });

      expect(results).toHaveLength(12);
      results.forEach((result, trial) => {
        const times = (arrivals.get(`trial-${trial}`) ?? []).sort((a, b) => a - b);
        expect(times).toHaveLength(NODES - 1); // every node but the origin applied it, once
        const start = startedAt + Math.floor(trial / perRound) * INTERVAL_MS;
        const roundsUntil = (time: number): number => Math.ceil((time - start) / INTERVAL_MS);
        // 99%: the origin holds it from the start, so the (needed - 1)-th arrival completes it.
        const needed99 = Math.ceil(NODES * 0.99);
        expect(result.roundsTo99).toBe(roundsUntil(times[needed99 - 2]!));
        expect(result.roundsTo100).toBe(roundsUntil(times[times.length - 1]!));
      });
      // Separate keys of separate origins never competed for a message budget.
      expect(cluster.nodes.reduce((sum, node) => sum + node.node.stats().gossip.budgetOverflows, 0)).toBe(0);
      // Each node copied (at most) the records of the 12 origins it received writes from.
      expect(distinctRecords(cluster)).toBeLessThanOrEqual(2 * NODES + 12 * (NODES - 1));
    });
  }

  test("a converged start needs nodes without membership", () => {
    expect(() => new SimulatedCluster({ nodes: 3, seed: 1, converged: true, membership: {}, network: { lossRate: 0, minLatencyMs: 1, maxLatencyMs: 1 }, gossip: {} })).toThrow("without membership");
  });
});
