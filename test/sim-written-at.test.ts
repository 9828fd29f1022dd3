// The origin's write time (writtenAt) over the simulated network with the virtual clock: every
// copy of a write, however it travelled (pushed by the origin, forwarded down the push tree,
// gossiped in rounds, handed to a node that joined later), holds the virtual wall-clock time at
// which the origin wrote it, and every node's change record for it says the same.

import { expect, test } from "bun:test";
import { SimulatedCluster } from "../src/sim/simulated-cluster.ts";
import { entryId } from "../src/state/index.ts";

test("writtenAt is the origin's virtual wall-clock time, through pushes, push-tree forwarding, rounds and a late join", async () => {
  const cluster = new SimulatedCluster({
    nodes: 30,
    seed: 8,
    network: { lossRate: 0, minLatencyMs: 1, maxLatencyMs: 5 },
    gossip: { gossipIntervalMs: 1000, fanout: 1, pushFanout: 2 },
  });
  await cluster.started();
  const names = cluster.nodes.map((node) => node.name);
  const everyoneKnown = () => cluster.nodes.every((node) => names.every((name) => node.state.nodes.has(name)));
  expect(cluster.runUntil(everyoneKnown, 100)).toBeGreaterThan(0);

  // Writes from three origins at distinct virtual times, each published at once.
  const writes: { origin: string; key: string; at: number }[] = [];
  for (const [i, origin] of [names[3]!, names[17]!, names[29]!].entries()) {
    cluster.runFor(137 + i); // off the round boundaries, so the times differ
    const at = cluster.clock.wallNow();
    const version = cluster.node(origin).node.set("g", `k${i}`, `v${i}`);
    expect(version).toBeGreaterThan(0); // published at once
    writes.push({ origin, key: `k${i}`, at });
  }
  const pushesSent = () => cluster.nodes.reduce((sum, node) => sum + (node.node.stats().gossip.messagesOut.push ?? 0), 0);
  const pushesBefore = pushesSent();
  // 60 ms: enough for the push tree (depth about log2(30) hops of at most 5 ms each), far too
  // little for rounds (one per second, fanout 1) to reach 29 nodes.
  cluster.runFor(60);
  const forwarded = pushesSent() - pushesBefore;
  // Forwards only: the origins' own pushes went out inside write(). Each origin's two children
  // forward to theirs, and so on down the tree.
  expect(forwarded).toBeGreaterThan(writes.length * 2);

  const holds = (name: string, write: (typeof writes)[number]) => cluster.node(name).state.nodes.get(write.origin)?.entries.get(entryId("g", write.key));
  for (const write of writes) {
    for (const name of names) {
      expect({ name, key: write.key, writtenAt: holds(name, write)?.writtenAt }).toEqual({ name, key: write.key, writtenAt: write.at });
    }
  }
  for (const node of cluster.nodes) {
    for (const change of node.changes.filter((c) => c.group === "g")) {
      const write = writes.find((w) => w.key === change.key)!;
      expect({ node: node.name, key: change.key, local: change.local, writtenAt: change.writtenAt }).toEqual({ node: node.name, key: change.key, local: node.name === write.origin, writtenAt: write.at });
    }
  }

  // A node that joins afterwards gets the entries from whoever it gossips with, not only from
  // their origins, with the origins' times.
  cluster.runFor(10_000);
  const late = cluster.addNode("late-joiner");
  await cluster.started();
  expect(cluster.runUntil(() => writes.every((write) => holds(late.name, write) !== undefined), 60)).toBeGreaterThan(0);
  for (const write of writes) expect(holds(late.name, write)!.writtenAt).toBe(write.at);
  expect(late.changes.filter((c) => c.group === "g").map((c) => c.writtenAt).sort()).toEqual(writes.map((w) => w.at).sort());
});
