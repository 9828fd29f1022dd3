// The simulator at scale: 1,000 nodes joining from one seed and spreading a write, and the
// dissemination and traffic bars on 100 nodes. Propagation is measured here, round by round,
// by reading every node's copy of the written value; traffic by two independent counters (the
// network's and the engines') that must agree, and entry receptions by decoding the frames.

import { describe, expect, test } from "bun:test";
import { BodyReader, type Frame, MessageType, readDeltas, readPage } from "../src/codec/index.ts";
import { SimulatedCluster, type SimNode, nodeName } from "../src/sim/simulated-cluster.ts";
import { encodeValue, isKnownValueType } from "../src/state/index.ts";

const INTERVAL_MS = 1000;

async function newCluster(nodes: number, seed: number, lossRate: number): Promise<SimulatedCluster> {
  const cluster = new SimulatedCluster({
    nodes,
    seed,
    network: { lossRate, minLatencyMs: 1, maxLatencyMs: 10 },
    gossip: { gossipIntervalMs: INTERVAL_MS, fanout: 1, pushFanout: 0 },
  });
  cluster.recordChanges = false;
  await cluster.started();
  return cluster;
}

/** Whether every node knows exactly the cluster's members. */
function membershipComplete(cluster: SimulatedCluster, names: readonly string[]): boolean {
  for (const node of cluster.nodes) {
    if (node.state.nodes.size !== names.length) return false;
  }
  for (const node of cluster.nodes) for (const name of names) if (!node.state.nodes.has(name)) return false;
  return true;
}

function holds(node: SimNode, writer: string, key: string, expected: Uint8Array, version: number): boolean {
  const entry = node.state.get(writer, "bench", key);
  return entry !== undefined && entry.version === version && Buffer.from(entry.value).equals(Buffer.from(expected));
}

/** Writes on one node, then counts gossip intervals until every node holds the exact value. */
function propagationRounds(cluster: SimulatedCluster, trial: number, maxRounds: number): number {
  const writer = cluster.nodes[cluster.random.int(cluster.nodes.length)]!;
  const key = `trial-${trial}`;
  const text = `value of trial ${trial}`;
  const version = writer.node.set("bench", key, text);
  expect(version).toBeGreaterThan(0); // published at once, not held back by flow control
  return cluster.runUntil(() => cluster.nodes.every((node) => holds(node, writer.name, key, encodeValue(text).bytes, version)), maxRounds);
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)]!;
}

/** Bytes sent, summed from the network's link counters and from the nodes' own gossip counters. */
function bytesSent(cluster: SimulatedCluster): { network: number; engines: number } {
  let network = 0;
  let engines = 0;
  for (const node of cluster.nodes) {
    network += cluster.network.statsOf(node.name).bytesOut;
    for (const bytes of Object.values(node.node.stats().gossip.bytesOut)) engines += bytes;
  }
  return { network, engines };
}

/** Counts entries in every delta frame each node receives, by decoding the frames itself. */
function countReceivedEntries(cluster: SimulatedCluster): { received: number } {
  const counter = { received: 0 };
  const limits = { maxNameBytes: 64, maxKeyBytes: 256, maxValueBytes: 65536, isKnownValueType };
  cluster.onFrame = (_to: string, _from: string, frame: Frame) => {
    // SYN-ACK carries a page and no deltas (protocol 4); an ACK carries a page, then deltas.
    if (frame.type === MessageType.Ack || frame.type === MessageType.Push) {
      const reader = new BodyReader(frame.body);
      if (frame.type === MessageType.Ack) readPage(reader, 64);
      const decoded = readDeltas(reader, limits);
      counter.received += decoded.skipped.length;
      for (const delta of decoded.deltas) counter.received += delta.entries.length;
    }
  };
  return counter;
}

function enginesTotal(cluster: SimulatedCluster, field: "entriesReceived" | "entriesApplied"): number {
  return cluster.nodes.reduce((sum, node) => sum + node.node.stats().gossip[field], 0);
}

describe("simulation at scale", () => {
  test(
    "1,000 nodes join from one seed within 20 rounds and a write reaches all within ceil(log2 N)+4 rounds",
    async () => {
      const started = performance.now();
      const n = 1000;
      const cluster = await newCluster(n, 20260417, 0);
      const names = Array.from({ length: n }, (_, i) => nodeName(i));
      // At the start each node knows only itself (and its transport, the seed).
      for (const node of cluster.nodes) expect(node.node.nodes()).toEqual([node.name]);
      expect(membershipComplete(cluster, names)).toBe(false);

      const joinRounds = cluster.runUntil(() => membershipComplete(cluster, names), 20);
      expect(joinRounds).toBeGreaterThan(0);
      expect(joinRounds).toBeLessThanOrEqual(20);

      const bound = Math.ceil(Math.log2(n)) + 4;
      const rounds = propagationRounds(cluster, 0, bound);
      expect(rounds).toBeGreaterThan(0);
      expect(rounds).toBeLessThanOrEqual(bound);

      // Idle traffic at this size (digests and heartbeats only), also under the bar.
      const before = bytesSent(cluster);
      const idleRounds = 3;
      cluster.runFor(idleRounds * INTERVAL_MS);
      const after = bytesSent(cluster);
      expect(after.network - before.network).toBe(after.engines - before.engines);
      const idlePerNodePerSecond = (after.network - before.network) / n / idleRounds;
      expect(idlePerNodePerSecond).toBeGreaterThan(0);
      expect(idlePerNodePerSecond).toBeLessThan(36_000);
      console.log(
        `1000 nodes: joined in ${joinRounds} rounds, write everywhere in ${rounds} rounds (bound ${bound}), ` +
          `idle ${(idlePerNodePerSecond / 1000).toFixed(1)} KB/s per node, ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    },
    300_000, // 1,000 whole nodes (each with its address and config entries to spread) on a loaded 2-core machine
  );

  for (const { loss, bound } of [
    { loss: 0, bound: Math.ceil(Math.log2(100)) + 2 },
    { loss: 0.1, bound: Math.ceil(1.5 * Math.log2(100)) + 2 },
  ]) {
    test(
      `100 nodes at ${loss * 100}% loss: p99 rounds to 100% <= ${bound} over 30 writes, duplicate factor <= 1.3, idle < 36 KB/s per node`,
      async () => {
        const n = 100;
        const trials = 30;
        const cluster = await newCluster(n, 7 + loss * 1000, loss);
        const names = Array.from({ length: n }, (_, i) => nodeName(i));
        expect(cluster.runUntil(() => membershipComplete(cluster, names), 30)).toBeGreaterThan(0);

        // Idle: nothing but digests and heartbeats.
        const idleBefore = bytesSent(cluster);
        const idleRounds = 10;
        cluster.runFor(idleRounds * INTERVAL_MS);
        const idleAfter = bytesSent(cluster);
        expect(idleAfter.network - idleBefore.network).toBe(idleAfter.engines - idleBefore.engines);
        const idle = (idleAfter.network - idleBefore.network) / n / idleRounds;
        expect(idle).toBeGreaterThan(0);
        expect(idle).toBeLessThan(36_000);

        // Propagation, one write at a time.
        const counter = countReceivedEntries(cluster);
        const appliedBefore = enginesTotal(cluster, "entriesApplied");
        const receivedBefore = enginesTotal(cluster, "entriesReceived");
        const rounds: number[] = [];
        for (let trial = 0; trial < trials; trial++) {
          const taken = propagationRounds(cluster, trial, 4 * bound);
          expect(taken).toBeGreaterThan(0); // every write reached every node
          rounds.push(taken);
        }
        // Let late copies in flight land before counting receptions.
        cluster.runFor(2 * INTERVAL_MS);
        const p99 = percentile(rounds, 0.99);
        expect(p99).toBeLessThanOrEqual(bound);

        // Each write is applied exactly once on each of the other nodes, and nothing else is applied.
        const applied = enginesTotal(cluster, "entriesApplied") - appliedBefore;
        expect(applied).toBe(trials * (n - 1));
        // Receptions as decoded from the frames agree with the engines' count.
        expect(enginesTotal(cluster, "entriesReceived") - receivedBefore).toBe(counter.received);
        const duplicateFactor = counter.received / applied;
        expect(duplicateFactor).toBeGreaterThanOrEqual(1);
        expect(duplicateFactor).toBeLessThanOrEqual(1.3);
        console.log(
          `100 nodes, ${loss * 100}% loss: rounds to 100% p50 ${percentile(rounds, 0.5)} p99 ${p99} (bound ${bound}), ` +
            `duplicate factor ${duplicateFactor.toFixed(3)}, idle ${(idle / 1000).toFixed(2)} KB/s per node`,
        );
      },
      60_000,
    );
  }
});
