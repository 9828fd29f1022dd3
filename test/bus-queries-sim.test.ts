// Query replies and their relays, on whole nodes over the simulator's network (src/sim): with the
// link from a responder to the asker cut one way, the responder's direct reply is lost and the
// query names it as not answering; with a relay factor, the same reply reaches the asker through
// other nodes, which forward it, and the asker counts it once.

import { expect, test } from "bun:test";
import type { QuerySummary } from "../src/index.ts";
import { startMembershipCluster } from "../src/sim/failure-detection.ts";
import type { SimulatedCluster } from "../src/sim/simulated-cluster.ts";

/** Runs simulated time in 10 ms steps, letting handlers' promises settle between them, until the query's summary is out. */
async function settle(cluster: SimulatedCluster, summary: Promise<QuerySummary>, maxMs: number): Promise<QuerySummary> {
  let result: QuerySummary | undefined;
  void summary.then((value) => (result = value));
  for (let elapsed = 0; elapsed < maxMs && result === undefined; elapsed += 10) {
    cluster.runFor(10);
    await Bun.sleep(0);
  }
  if (!result) throw new Error(`the query had no summary after ${maxMs} ms of simulated time`);
  return result;
}

test("a reply lost on a one-way cut arrives through relays, counted once", async () => {
  const cluster = await startMembershipCluster({ nodes: 5, seed: 20, warmUpMs: 10_000 });
  const [asker, cut] = [cluster.nodes[0]!, cluster.nodes[3]!];
  for (const { name, node } of cluster.nodes) node.bus.queries.onQuery("who", () => name);
  cluster.network.blockOneWay([cut.name], [asker.name]);

  const direct = await settle(cluster, asker.node.bus.queries.query("who", "", { timeoutMs: 1_000, requestAck: true }).summary, 2_000);
  expect(direct.asked.length).toBe(5);
  expect({ missing: direct.missing, acked: direct.acked.includes(cut.name), timedOut: direct.timedOut }).toEqual({ missing: [cut.name], acked: false, timedOut: true });

  const relayedBefore = cluster.nodes.reduce((sum, { node }) => sum + node.bus.queries.counters.relayed, 0);
  const relayed = await settle(cluster, asker.node.bus.queries.query("who", "", { timeoutMs: 1_000, requestAck: true, relayFactor: 2 }).summary, 2_000);
  expect({ missing: relayed.missing, timedOut: relayed.timedOut }).toEqual({ missing: [], timedOut: false });
  expect(relayed.responded.sort()).toEqual(cluster.nodes.map(({ name }) => name).sort());
  expect(relayed.acked).toContain(cut.name);
  // Every responder but the asker itself sent each reply (ack and answer) through 2 relays.
  const relayedNow = cluster.nodes.reduce((sum, { node }) => sum + node.bus.queries.counters.relayed, 0);
  expect(relayedNow - relayedBefore).toBe(4 * 2 * 2);
  // The copies beyond the first were not counted again: they show as late at the asker.
  expect(asker.node.bus.queries.counters.late).toBeGreaterThan(0);
});
