// Readmission of nodes removed as dead, with whole nodes (GossipNode: state, engine, membership)
// in the simulator: a node frozen for longer than deadRemovalMs, and a 4|4 partition that outlasts
// it, both come back everywhere once the node resumes or the partition heals, with node-joined
// events, and a write made afterwards reaches every node.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { startMembershipCluster } from "../src/sim/failure-detection.ts";
import type { SimulatedCluster, SimNode } from "../src/sim/simulated-cluster.ts";

const N = 8;
/** The smallest dead removal the config accepts, as the real-process test uses. */
const DEAD_REMOVAL_MS = 10_000;

setDefaultTimeout(60_000);

/** How `node` sees `other`: its membership's status, or for a removed node the status it was removed in. */
function lastKnownStatus(node: SimNode, other: string): string | undefined {
  return node.node.status(other) ?? node.state.removed.statusOf(other);
}

function livePeers(node: SimNode): string[] {
  return node.node.members().filter((member) => member.name !== node.name && member.state === "alive").map((member) => member.name);
}

/** Runs round by round until `done` holds; fails naming `what` after maxMs. */
function runUntil(cluster: SimulatedCluster, done: () => boolean, maxMs: number, what: string): number {
  const rounds = cluster.runUntil(done, Math.ceil(maxMs / cluster.intervalMs));
  if (rounds < 0) throw new Error(`${what} not within ${maxMs} ms`);
  return rounds * cluster.intervalMs;
}

function everyoneAlive(cluster: SimulatedCluster): boolean {
  return cluster.nodes.every((node) => cluster.nodes.every((other) => other === node || node.node.status(other.name) === "alive"));
}

function kindsAbout(node: SimNode, subject: string): string[] {
  return node.events.filter((event) => event.node === subject).map((event) => event.type);
}

/** A write on `writer`, then rounds until every node reads it. */
function expectWriteReachesAll(cluster: SimulatedCluster, writer: string): void {
  cluster.node(writer).node.set("app", "after-readmission", writer);
  runUntil(cluster, () => cluster.nodes.every((node) => node.node.get(writer, "app", "after-readmission") === writer), 20_000, `the write on ${writer} on every node`);
}

describe(`readmission after removal, ${N} simulated whole nodes, deadRemovalMs ${DEAD_REMOVAL_MS}`, () => {
  test("a node frozen for 35 s is removed by the others, and readmitted everywhere within 15 s of resuming", async () => {
    const cluster = await startMembershipCluster({ nodes: N, seed: 31, warmUpMs: 10_000, membership: { deadRemovalMs: DEAD_REMOVAL_MS } });
    const frozen = cluster.nodes[5]!;
    const others = cluster.nodes.filter((node) => node !== frozen);
    cluster.stall(frozen.name, 35_000);
    cluster.runFor(34_000);
    for (const node of others) {
      // Removed, not merely dead: the branch that used to be unreachable in a wired node.
      expect(node.node.status(frozen.name)).toBeUndefined();
      expect(lastKnownStatus(node, frozen.name)).toBe("dead");
      expect(node.state.nodes.has(frozen.name)).toBe(false);
    }
    cluster.runFor(1_000); // the stall ends
    const tookMs = runUntil(cluster, () => everyoneAlive(cluster), 15_000, "every node listing every other alive");
    console.log(`frozen 35 s: every node lists all alive ${tookMs} ms after the resume`);
    for (const node of others) {
      expect(kindsAbout(node, frozen.name)).toEqual(["node-joined", "node-suspect", "node-dead", "node-removed", "node-joined"]);
    }
    // Its own stall convicted no one in its view.
    expect(frozen.events.filter((event) => event.type !== "node-joined")).toEqual([]);
    expectWriteReachesAll(cluster, frozen.name);
  });

  test("a 4|4 partition longer than deadRemovalMs heals: each side readmits the other", async () => {
    const cluster = await startMembershipCluster({ nodes: N, seed: 32, warmUpMs: 10_000, membership: { deadRemovalMs: DEAD_REMOVAL_MS } });
    const names = cluster.nodes.map((node) => node.name);
    const sideA = names.slice(0, N / 2);
    const sideB = names.slice(N / 2);
    cluster.network.partition(sideA, sideB);
    cluster.runFor(40_000);
    for (const [side, across] of [[sideA, sideB], [sideB, sideA]] as const) {
      for (const name of side) {
        const node = cluster.node(name);
        for (const other of across) expect({ name, other, status: lastKnownStatus(node, other) }).toEqual({ name, other, status: "dead" });
        expect(livePeers(node).sort()).toEqual(side.filter((peer) => peer !== name));
      }
    }
    cluster.network.heal();
    const tookMs = runUntil(cluster, () => everyoneAlive(cluster), 60_000, "every node listing every other alive");
    console.log(`4|4 partition of 40 s: every node lists all alive ${tookMs} ms after the heal`);
    for (const name of sideA) expect(kindsAbout(cluster.node(name), sideB[0]!)).toEqual(["node-joined", "node-suspect", "node-dead", "node-removed", "node-joined"]);
    expectWriteReachesAll(cluster, sideB[1]!);
  });
});
