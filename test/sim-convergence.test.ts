// Convergence of the real state and engine code over the simulated network. A property test runs
// random operation sequences (writes, deletes, TTLs, loss, partitions, heals, restarts) on 2-20
// nodes and checks, against a model kept by the test and a history of every version each origin
// ever wrote:
//   - while running: every copy a node holds of another node's entry is a version that origin
//     really wrote, it is the newest write of that key up to the copy's max version (so nothing
//     deleted or overwritten is ever held again), and (generation, max version) never goes back;
//   - after the network heals: every node holds exactly each origin's own live state, at the
//     origin's generation, which matches the model, and it stays so once tombstones are collected.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { SimulatedCluster, type SimNode } from "../src/sim/simulated-cluster.ts";
import { RESERVED_GROUP, entryId, encodeValue } from "../src/state/index.ts";

const INTERVAL_MS = 1000;
const GRACE_MS = 3 * INTERVAL_MS; // short: tombstones get collected while nodes are cut off
const MAX_TTL_MS = 5 * INTERVAL_MS;

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

function newCluster(nodes: number, seed: number, lossRate = 0): SimulatedCluster {
  return new SimulatedCluster({
    nodes,
    seed,
    network: { lossRate, minLatencyMs: 1, maxLatencyMs: 30 },
    gossip: { gossipIntervalMs: INTERVAL_MS, fanout: 1, pushFanout: 0 },
    tombstoneGraceMs: GRACE_MS,
  });
}

/** A node's live entries as sorted "group/key@version=hex" lines. */
function liveView(viewer: SimNode, origin: string): string[] {
  return [...viewer.state.liveEntries(origin)].map((e) => `${e.group}/${e.key}@${e.version}=${e.valueType}:${hex(e.value)}`).sort();
}

/** Whether every running node holds exactly every running node's own state. */
function converged(cluster: SimulatedCluster): boolean {
  const running = cluster.running();
  for (const origin of running) {
    const truth = liveView(origin, origin.name).join("\n");
    for (const viewer of running) {
      if (viewer === origin) continue;
      const held = viewer.state.nodes.get(origin.name);
      if (!held || held.generation !== origin.state.self.generation || held.replaced !== null) return false;
      if (liveView(viewer, origin.name).join("\n") !== truth) return false;
    }
  }
  return true;
}

interface WriteRecord {
  id: string;
  deleted: boolean;
  content: string;
  expiresAt: number | undefined;
}

/**
 * Watches a cluster: records every version each origin writes (origins keep each write in their
 * own entries at least until the next sample), and checks every other node's copies against it.
 */
class Watcher {
  /** origin → generation → version → what was written. */
  readonly history = new Map<string, Map<number, Map<number, WriteRecord>>>();
  /** viewer → origin → [generation, maxVersion] last seen. */
  private readonly progress = new Map<string, Map<string, [number, number]>>();
  samples = 0;

  constructor(private readonly cluster: SimulatedCluster) {}

  sample(): void {
    this.samples++;
    const running = this.cluster.running();
    for (const origin of running) this.recordWrites(origin);
    for (const viewer of running) this.checkViewer(viewer);
  }

  private recordWrites(origin: SimNode): void {
    const self = origin.state.self;
    let generations = this.history.get(origin.name);
    if (!generations) this.history.set(origin.name, (generations = new Map()));
    let versions = generations.get(self.generation);
    if (!versions) generations.set(self.generation, (versions = new Map()));
    for (const entry of self.entries.values()) {
      const record: WriteRecord = {
        id: entryId(entry.group, entry.key),
        deleted: entry.deleted,
        content: entry.deleted ? "" : `${entry.valueType}:${hex(entry.value)}`,
        expiresAt: entry.expiresAt,
      };
      const known = versions.get(entry.version);
      // A version is written once: the same number never names two different writes.
      if (known) expect(known).toEqual(record);
      else versions.set(entry.version, record);
    }
  }

  private checkViewer(viewer: SimNode): void {
    let seen = this.progress.get(viewer.name);
    if (!seen) this.progress.set(viewer.name, (seen = new Map()));
    // A restarted viewer is a new process: its view starts over.
    const restartedAt = viewer.state.self.generation;
    if (seen.get("\u0000self")?.[0] !== restartedAt) {
      seen.clear();
      seen.set("\u0000self", [restartedAt, 0]);
    }
    const wallNow = this.cluster.clock.wallNow();
    for (const node of viewer.state.nodes.values()) {
      if (node.name === viewer.name) continue;
      // Versions only grow: (generation, maxVersion) is monotonic as seen from any node.
      const last = seen.get(node.name);
      if (last) {
        const [generation, maxVersion] = last;
        expect(node.generation).toBeGreaterThanOrEqual(generation);
        if (node.generation === generation) expect(node.maxVersion).toBeGreaterThanOrEqual(maxVersion);
      }
      seen.set(node.name, [node.generation, node.maxVersion]);

      const written = this.history.get(node.name)?.get(node.generation);
      if (node.maxVersion > 0) expect(written).toBeDefined();
      if (!written) continue;
      const highest = Math.max(0, ...written.keys());
      expect(node.maxVersion).toBeLessThanOrEqual(highest); // no version the origin never wrote
      const newestById = new Map<string, number>();
      for (const [version, record] of written) {
        if (version <= node.maxVersion && version > (newestById.get(record.id) ?? 0)) newestById.set(record.id, version);
      }
      for (const entry of node.entries.values()) {
        const id = entryId(entry.group, entry.key);
        const record = written.get(entry.version);
        expect(record?.id).toBe(id);
        if (!record) continue;
        if (entry.deleted) {
          // A tombstone of the origin's, or a copy the viewer expired itself.
          if (!record.deleted) expect(record.expiresAt !== undefined && record.expiresAt <= wallNow).toBe(true);
        } else {
          expect(record.deleted).toBe(false);
          expect(`${entry.valueType}:${hex(entry.value)}`).toBe(record.content);
        }
        // The newest write of this key the viewer should know of: nothing newer was skipped, so
        // a deleted or overwritten value is never held past the version that replaced it.
        expect(entry.version).toBe(newestById.get(id)!);
      }
    }
  }
}

// ---- the property test --------------------------------------------------------------------------

type Op =
  | { t: "write"; node: number; key: number; group: number }
  | { t: "delete"; node: number; key: number; group: number }
  | { t: "ttl"; node: number; key: number; ttlMs: number }
  | { t: "advance"; rounds: number; extraMs: number }
  | { t: "loss"; rate: number }
  | { t: "partition"; side: boolean[] }
  | { t: "heal" }
  | { t: "restart"; node: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("write" as const), node: fc.nat(19), key: fc.nat(5), group: fc.nat(1) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("delete" as const), node: fc.nat(19), key: fc.nat(5), group: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("ttl" as const), node: fc.nat(19), key: fc.nat(5), ttlMs: fc.integer({ min: 200, max: MAX_TTL_MS }) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("advance" as const), rounds: fc.integer({ min: 1, max: 5 }), extraMs: fc.nat(INTERVAL_MS - 1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("loss" as const), rate: fc.constantFrom(0, 0.1, 0.3, 0.6) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("partition" as const), side: fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("heal" as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("restart" as const), node: fc.nat(19) }) },
);

interface Scenario {
  nodes: number;
  seed: number;
  ops: Op[];
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  nodes: fc.integer({ min: 2, max: 20 }),
  seed: fc.nat(2 ** 31 - 1),
  ops: fc.array(opArb, { minLength: 10, maxLength: 40 }),
});

/** What the test expects each origin to hold: key → value, and whether a TTL was set on it. */
type Model = Map<string, Map<string, { value: string; ttl: boolean }>>;

async function runScenario(scenario: Scenario): Promise<{ rounds: number }> {
  const cluster = newCluster(scenario.nodes, scenario.seed);
  await cluster.started();
  const watcher = new Watcher(cluster);
  const model: Model = new Map(cluster.nodes.map((n) => [n.name, new Map()]));
  const names = cluster.nodes.map((n) => n.name);
  const pick = (index: number) => cluster.node(names[index % names.length]!);
  const generations = new Map(names.map((name) => [name, cluster.node(name).state.self.generation]));

  let step = 0;
  for (const op of scenario.ops) {
    step++;
    switch (op.t) {
      case "write": {
        const node = pick(op.node);
        const value = `w${step}`;
        const key = `k${op.key}`;
        node.state.set(`g${op.group}`, key, encodeValue(value));
        model.get(node.name)!.set(`g${op.group}/${key}`, { value, ttl: false });
        break;
      }
      case "ttl": {
        const node = pick(op.node);
        const value = `t${step}`;
        node.state.set("g0", `k${op.key}`, encodeValue(value), op.ttlMs);
        model.get(node.name)!.set(`g0/k${op.key}`, { value, ttl: true });
        break;
      }
      case "delete": {
        const node = pick(op.node);
        const id = `g${op.group}/k${op.key}`;
        const expected = model.get(node.name)!.get(id);
        const record = node.state.delete(`g${op.group}`, `k${op.key}`);
        // Live without a TTL: must delete. Absent: nothing to delete. With a TTL: it may have expired.
        if (expected && !expected.ttl) expect(record?.kind).toBe("deleted");
        if (!expected) expect(record).toBeNull();
        model.get(node.name)!.delete(id);
        break;
      }
      case "advance":
        for (let round = 0; round < op.rounds; round++) {
          cluster.runFor(INTERVAL_MS);
          watcher.sample();
        }
        cluster.runFor(op.extraMs);
        break;
      case "loss":
        cluster.network.options.lossRate = op.rate;
        break;
      case "partition": {
        const a = names.filter((_, i) => op.side[i]);
        const b = names.filter((_, i) => !op.side[i]);
        cluster.network.partition(a, b);
        break;
      }
      case "heal":
        cluster.network.heal();
        break;
      case "restart": {
        const node = pick(op.node);
        const restarted = cluster.addNode(node.name);
        await cluster.started();
        expect(restarted.state.self.generation).toBeGreaterThan(generations.get(node.name)!);
        generations.set(node.name, restarted.state.self.generation);
        model.set(node.name, new Map()); // a new process starts with no entries
        break;
      }
    }
    watcher.sample();
  }

  // Heal, stop the loss, let every TTL run out, then gossip until converged.
  cluster.network.heal();
  cluster.network.options.lossRate = 0;
  for (let round = 0; round < Math.ceil(MAX_TTL_MS / INTERVAL_MS) + 2; round++) {
    cluster.runFor(INTERVAL_MS);
    watcher.sample();
  }
  const rounds = cluster.runUntil(() => {
    watcher.sample();
    return converged(cluster);
  }, 60);
  expect(rounds).toBeGreaterThan(0);
  checkAgainstModel(cluster, model);

  // Once every tombstone is past its grace and collected, nothing deleted comes back.
  for (let round = 0; round < Math.ceil(GRACE_MS / INTERVAL_MS) + 3; round++) {
    cluster.runFor(INTERVAL_MS);
    watcher.sample();
  }
  for (const node of cluster.running()) {
    for (const known of node.state.nodes.values()) expect([...known.entries.values()].filter((e) => e.deleted)).toEqual([]);
  }
  expect(converged(cluster)).toBe(true);
  checkAgainstModel(cluster, model);
  return { rounds };
}

/** Every node's view of every origin equals the model of that origin (all TTLs expired by now). */
function checkAgainstModel(cluster: SimulatedCluster, model: Model): void {
  const running = cluster.running();
  for (const origin of running) {
    const expected = [...model.get(origin.name)!]
      .filter(([, v]) => !v.ttl)
      .map(([id, v]) => `${id}=${v.value}`)
      .sort();
    for (const viewer of running) {
      const held = [...viewer.state.liveEntries(origin.name)].filter((e) => e.group !== RESERVED_GROUP).map((e) => `${e.group}/${e.key}=${new TextDecoder().decode(e.value)}`).sort();
      expect(held).toEqual(expected);
      expect(viewer.state.nodes.get(origin.name)?.generation).toBe(origin.state.self.generation);
    }
    // Versions are a per-origin counter: distinct per key, none above the max version.
    const versions = [...origin.state.liveEntries(origin.name)].map((e) => e.version);
    expect(new Set(versions).size).toBe(versions.length);
    for (const v of versions) expect(v).toBeLessThanOrEqual(origin.state.self.maxVersion);
  }
  // Every node knows every node, and nothing else.
  for (const viewer of running) expect([...viewer.state.nodes.keys()].sort()).toEqual(running.map((n) => n.name).sort());
}

describe("simulated cluster convergence", () => {
  test(
    "property: after any operations and a heal, every node holds every node's exact state",
    async () => {
      const roundsNeeded: number[] = [];
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (scenario) => {
          roundsNeeded.push((await runScenario(scenario)).rounds);
        }),
        { numRuns: 30, seed: 424242, endOnFailure: true },
      );
      expect(roundsNeeded).toHaveLength(30);
    },
    120_000,
  );

  test("a key deleted while a node was cut off never comes back once the tombstone is collected", async () => {
    const cluster = newCluster(8, 11);
    await cluster.started();
    const names = cluster.nodes.map((n) => n.name);
    const writer = cluster.node("node-1");
    const started = writer.state.self.maxVersion; // its start entries (address, cluster config)
    for (let i = 0; i < 5; i++) writer.state.set("g", `k${i}`, encodeValue(`v${i}`));
    expect(cluster.runUntil(() => converged(cluster), 30)).toBeGreaterThan(0);
    const isolated = "node-6";
    expect(cluster.node(isolated).state.get("node-1", "g", "k2")).toBeDefined();

    cluster.network.partition([isolated], names.filter((n) => n !== isolated));
    writer.state.delete("g", "k2");
    writer.state.delete("g", "k3");
    writer.state.set("g", "k4", encodeValue("changed"));
    // Long enough for the tombstones to reach the majority and be collected everywhere there.
    cluster.runFor(GRACE_MS + 15 * INTERVAL_MS);
    for (const node of cluster.running()) {
      if (node.name === isolated) continue;
      const held = node.state.nodes.get("node-1")!;
      expect([...held.entries.values()].filter((e) => e.deleted)).toEqual([]);
      expect(held.collectedUpTo).toBe(started + 7);
      expect(node.state.get("node-1", "g", "k2")).toBeUndefined();
    }
    // The isolated node still holds the old copies, behind the collected point.
    expect(cluster.node(isolated).state.nodes.get("node-1")!.maxVersion).toBe(started + 5);

    cluster.network.heal();
    const watcher = new Watcher(cluster);
    const rounds = cluster.runUntil(() => {
      watcher.sample();
      for (const node of cluster.running()) {
        if (node.name === isolated) continue;
        expect(node.state.get("node-1", "g", "k2")).toBeUndefined();
        expect(node.state.get("node-1", "g", "k3")).toBeUndefined();
      }
      return converged(cluster);
    }, 40);
    expect(rounds).toBeGreaterThan(0);
    expect(liveView(cluster.node(isolated), "node-1")).toEqual(liveView(writer, "node-1"));
    expect(cluster.node(isolated).state.get("node-1", "g", "k3")).toBeUndefined();
    // The isolated node learnt of the deletions as deletions.
    const deleted = cluster.node(isolated).changes.filter((c) => c.kind === "deleted" && c.node === "node-1").map((c) => c.key).sort();
    expect(deleted).toEqual(["k2", "k3"]);
  });

  test("a restarted node's old state is replaced everywhere, also when the new process writes nothing", async () => {
    const cluster = newCluster(10, 5);
    await cluster.started();
    for (const name of ["node-3", "node-7"]) {
      const node = cluster.node(name);
      node.state.set("g", "a", encodeValue(`${name}-a`));
      node.state.set("g", "b", encodeValue(`${name}-b`));
    }
    expect(cluster.runUntil(() => converged(cluster), 30)).toBeGreaterThan(0);
    const oldNode = cluster.node("node-3").node;

    const writesAgain = cluster.addNode("node-7");
    writesAgain.state.set("g", "a", encodeValue("node-7-a")); // same value as before: no event
    writesAgain.state.set("g", "c", encodeValue("fresh"));
    const silent = cluster.addNode("node-3"); // writes nothing
    await cluster.started();
    for (const node of cluster.nodes) node.changes.length = 0;

    const roundsOfOld = oldNode.stats().gossip.rounds;
    const rounds = cluster.runUntil(() => converged(cluster), 40);
    expect(rounds).toBeGreaterThan(0);
    // The old incarnation stopped with the restart.
    expect(oldNode.stats().gossip.rounds).toBe(roundsOfOld);
    for (const viewer of cluster.running()) {
      if (viewer.name === "node-3" || viewer.name === "node-7") continue;
      expect(liveView(viewer, "node-3").filter((line) => !line.startsWith(`${RESERVED_GROUP}/`))).toEqual([]);
      expect(viewer.state.nodes.get("node-3")!.generation).toBe(silent.state.self.generation);
      expect([...viewer.state.liveEntries("node-7")].filter((e) => e.group !== RESERVED_GROUP).map((e) => `${e.key}=${new TextDecoder().decode(e.value)}`).sort()).toEqual(["a=node-7-a", "c=fresh"]);
      const events = viewer.changes.filter((c) => c.group !== RESERVED_GROUP).map((c) => `${c.kind} ${c.node} ${c.key}`).sort();
      expect(events).toEqual(["added node-7 c", "deleted node-3 a", "deleted node-3 b", "deleted node-7 b"]);
    }
  });

  test("the simulator is deterministic for a seed", async () => {
    const run = async () => {
      const cluster = newCluster(12, 99, 0.2);
      await cluster.started();
      cluster.node("node-4").state.set("g", "k", encodeValue("v"));
      const rounds = cluster.runUntil(() => converged(cluster), 40);
      return { rounds, bytes: cluster.nodes.map((n) => cluster.network.statsOf(n.name).bytesOut) };
    };
    const first = await run();
    expect(first.rounds).toBeGreaterThan(0);
    expect(await run()).toEqual(first);
  });
});
