// Entries and names a peer should never be able to push onto a node, over real sockets: a raw peer
// completes the handshake by hand and speaks the gossip protocol to a real node. It pushes far more
// entries of one node than maxEntriesPerNode allows, and names that break the node-name rule. And
// an entry that cannot be encoded, already held by a node, must not stop its messages.

import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type DigestEntry, FrameWriter, MessageType, type NodeDelta, SUMMARY_BUCKETS, type WireEntry, writeDeltas, writePage, writeSummary } from "../src/codec/index.ts";
import { entryId, ValueType } from "../src/state/index.ts";
import type { Node } from "../src/index.ts";
import { type Logger, silentLogger } from "../src/log.ts";
import { AdminMetrics } from "../src/admin/metrics.ts";
import { PROBATION_ENTRIES } from "../src/state/probation.ts";
import { REFUSAL_LOG_PERIOD_MS } from "../src/node/refusal-log.ts";
import { Nodes, waitFor } from "./api-helpers.ts";
import { nodeName, SimulatedCluster } from "../src/sim/simulated-cluster.ts";
import { closeAll, dialByHand, introduction, rawConnect, type RawPeer } from "./tcp-harness.ts";

// Real nodes: every wait inside is bounded on its own; this only lifts the runner's 5 s default.
setDefaultTimeout(30_000);

const nodes = new Nodes();
afterEach(closeAll);
afterAll(() => nodes.stopAll());

const CLUSTER = "hostile-entries";
const MAX_FRAME_BYTES = 1 << 20;

/** A raw peer named `name`, connected to `node` and past the handshake. */
async function rawPeerOf(node: Node, name: string): Promise<RawPeer> {
  const raw = await rawConnect(Number(node.address.split(":")[1]));
  await dialByHand(raw, introduction(name, { clusterName: CLUSTER }));
  return raw;
}

let correlationId = 0;

/** One gossip frame written with the real codec. */
function frame(type: number, write: (writer: FrameWriter) => void): Uint8Array {
  const writer = new FrameWriter(4096, MAX_FRAME_BYTES);
  writer.begin(type, ++correlationId);
  write(writer);
  writer.end();
  return writer.finish();
}

/**
 * Sends `digest` (when given) as the page of an ACK covering every name hash, then a SYN, and waits
 * for the SYN-ACK: frames on one connection are handled in order, so every frame sent before has
 * been handled by then. (Protocol 4: a SYN carries a summary; names travel in pages.)
 */
async function roundTrip(raw: RawPeer, digest: DigestEntry[] = []): Promise<void> {
  if (digest.length > 0) {
    raw.write(frame(MessageType.Ack, (writer) => {
      writePage(writer, { ranges: [{ first: 0, last: 0xffffffff }], entries: digest });
      writeDeltas(writer, []);
    }));
  }
  raw.write(frame(MessageType.Syn, (writer) => writeSummary(writer, new Uint32Array(SUMMARY_BUCKETS))));
  await raw.nextFrame(MessageType.SynAck, 5_000);
}

function wireEntry(key: string, version: number, value = "v", deleted = false): WireEntry {
  return { group: "g", key, version, valueType: ValueType.String, deleted, value: deleted ? new Uint8Array(0) : new TextEncoder().encode(value) };
}

function push(raw: RawPeer, deltas: NodeDelta[]): void {
  raw.write(frame(MessageType.Push, (writer) => writeDeltas(writer, deltas)));
}

describe("a peer pushing entries of one node far past maxEntriesPerNode", () => {
  const CAP = 50;

  test("leaves exactly the cap held; updates and deletes of held keys still apply, and the node keeps serving a good peer", async () => {
    const [target, bravo] = (await nodes.cluster(["target", "bravo"], { clusterName: CLUSTER, gossipIntervalMs: 100, maxEntriesPerNode: CAP })) as [Node, Node];
    const raw = await rawPeerOf(target, "mallory");
    // 60,000 entries of "mallory" in three frames, as a hostile peer would: versions in order.
    const perFrame = 20_000;
    for (let f = 0; f < 3; f++) {
      const entries = Array.from({ length: perFrame }, (_, i) => wireEntry(`k${f * perFrame + i}`, f * perFrame + i + 1));
      push(raw, [{ node: "mallory", generation: 1, fromVersion: f * perFrame, collectedUpTo: 0, maxVersion: (f + 1) * perFrame, entries }]);
    }
    await roundTrip(raw);
    expect(target.entries("mallory")).toHaveLength(CAP);
    expect(target.entries("mallory").map((entry) => entry.key)).toEqual(Array.from({ length: CAP }, (_, i) => `k${i}`));

    // An update and a delete of held keys apply; the delete makes room for one new key, no more.
    push(raw, [{ node: "mallory", generation: 1, fromVersion: 60_000, collectedUpTo: 0, maxVersion: 60_004, entries: [
      wireEntry("k0", 60_001, "updated"),
      wireEntry("k1", 60_002, "", true),
      wireEntry("fresh", 60_003),
      wireEntry("one-too-many", 60_004),
    ] }]);
    await roundTrip(raw);
    expect(target.get("mallory", "g", "k0")).toBe("updated");
    expect(target.get("mallory", "g", "k1")).toBeUndefined();
    expect(target.get("mallory", "g", "fresh")).toBe("v");
    expect(target.get("mallory", "g", "one-too-many")).toBeUndefined();
    expect(target.entries("mallory")).toHaveLength(CAP);

    // The node still gossips: its own write reaches bravo. Bravo has heard of mallory only
    // second-hand (it never dialled bravo): mallory is on probation there (state/probation.ts),
    // held but not shown, so none of its entries is.
    target.set("app", "after", "served");
    await waitFor("target's write on bravo", () => bravo.get("target", "app", "after") === "served");
    await waitFor("bravo to hold mallory on probation", () => bravo.nodes().includes("mallory"));
    expect(bravo.entries("mallory")).toEqual([]);
    expect(bravo.members().map((member) => member.name)).not.toContain("mallory");
  });
});

describe("a peer pushing entries of a node it only names (probationary)", () => {
  test("holds its first PROBATION_ENTRIES entries, shown to no one, until the node is contacted first-hand; then all apply and are reported", async () => {
    const target = await nodes.start({ name: "probation-target", clusterName: CLUSTER, gossipIntervalMs: 100 });
    const added: string[] = [];
    target.on("entry-added", (event) => void (event.node === "stranger" && added.push(event.key)));
    const raw = await rawPeerOf(target, "mallory");
    const count = 20_000;
    const entries = Array.from({ length: count }, (_, i) => wireEntry(`k${i}`, i + 1));
    const delta: NodeDelta = { node: "stranger", generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: count, entries };
    const appliedBefore = target.stats().gossip.entriesApplied;
    push(raw, [delta]);
    await roundTrip(raw);
    expect(target.stats().gossip.entriesApplied - appliedBefore).toBe(PROBATION_ENTRIES);
    expect(target.nodes()).toContain("stranger");
    expect(target.entries("stranger")).toEqual([]);
    expect(target.get("stranger", "g", "k0")).toBeUndefined();
    expect(added).toEqual([]);
    // Not refused: nothing moved past what is held, so the same delta offered again applies later.
    expect(target.stats().gossip.entriesRefused).toBe(0);

    // "stranger" dials in itself: first-hand contact makes it a member.
    const stranger = await rawPeerOf(target, "stranger");
    await roundTrip(stranger, [{ node: "stranger", generation: 1, heartbeat: 5, maxVersion: count, collectedUpTo: 0 }]);
    await waitFor("stranger to be a member", () => target.members().some((member) => member.name === "stranger"));
    // The entries held on probation are reported now, once each; the rest as they apply.
    expect(added).toEqual(Array.from({ length: PROBATION_ENTRIES }, (_, i) => `k${i}`));
    push(raw, [delta]);
    await roundTrip(raw);
    expect(target.entries("stranger")).toHaveLength(count);
    expect(new Set(added).size).toBe(count);
    expect(added).toHaveLength(count);
  });
});

describe("names that break the node-name rule", () => {
  const BAD_NAMES = ["", "a\nb", "\u202eevil", "with space", "é", "tab\t"];

  test("never become members, from a digest or from deltas; the good parts of the same messages apply", async () => {
    const [target] = (await nodes.cluster(["names-target"], { clusterName: CLUSTER, gossipIntervalMs: 100 })) as [Node];
    const raw = await rawPeerOf(target, "mallory2");
    const digestEntry = (node: string): DigestEntry => ({ node, generation: 1, heartbeat: 3, maxVersion: 0, collectedUpTo: 0 });
    await roundTrip(raw, [...BAD_NAMES.map(digestEntry), digestEntry("named-in-digest")]);
    push(raw, [
      ...BAD_NAMES.map((node): NodeDelta => ({ node, generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: 1, entries: [wireEntry("k", 1)] })),
      // The sender's own entry: one of a name it only mentions would be held on probation, not shown.
      { node: "mallory2", generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: 1, entries: [wireEntry("k", 1, "good")] },
    ]);
    await roundTrip(raw, [...BAD_NAMES.map(digestEntry), digestEntry("named-in-digest")]);

    expect(target.nodes()).toContain("named-in-digest");
    expect(target.get("mallory2", "g", "k")).toBe("good");
    const everyName = [...target.nodes(), ...target.members().map((member) => member.name)];
    for (const bad of BAD_NAMES) expect({ bad, member: everyName.includes(bad) }).toEqual({ bad, member: false });
    for (const bad of BAD_NAMES) expect(target.entries(bad)).toEqual([]);
  });
});

describe("an entry that cannot be encoded, already held", () => {
  test("is left out of every message; the node's other writes still reach its peers", async () => {
    // The write path refuses such an entry now; put one straight into a node's state, as a bug or
    // an older build's state could have, to prove that the encoder contains it on its own. The
    // simulator's nodes are the shipped GossipNode, and expose their state for exactly this.
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message) => void warnings.push(message) };
    const cluster = new SimulatedCluster({ nodes: 2, seed: 7, network: { lossRate: 0, minLatencyMs: 1, maxLatencyMs: 5 }, gossip: { gossipIntervalMs: 100, pushFanout: 0 }, logger });
    await cluster.started();
    const [alpha, bravo] = [cluster.node(nodeName(0)), cluster.node(nodeName(1))];
    const self = alpha.state.self;
    const key = "lone\ud800";
    self.put(entryId("g", key), { group: "g", key, value: new Uint8Array([0x61]), valueType: ValueType.String, version: self.maxVersion + 1, deleted: false, writtenAt: Date.now() });
    alpha.node.set("g", "after", "flows");
    expect(cluster.runUntil(() => bravo.node.get(alpha.name, "g", "after") === "flows", 50)).toBeGreaterThan(0);
    expect(bravo.node.entries(alpha.name).map((entry) => entry.key)).not.toContain(key);
    // Left out of every SYN-ACK and ACK alpha sent, counted each time, logged once (10 s window, 5 s run).
    expect(alpha.node.stats().gossip.entriesLeftOut).toBeGreaterThan(0);
    expect(warnings.filter((line) => line.startsWith("left "))).toEqual([expect.stringContaining('lone\\ud800')]);
  });
});

describe("refusals are logged at most once per window per cause, and counted in /metrics", () => {
  const CAP = 50;

  test("a flood of entries over the cap and of bad names: one line per cause per window, exact counters", async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message) => void warnings.push(message) };
    const target = await nodes.start({ name: "log-target", clusterName: CLUSTER, gossipIntervalMs: 100, maxEntriesPerNode: CAP }, { logger });
    const metrics = new AdminMetrics(target, { clientCount: 0, slowClientsDropped: 0 });
    const counter = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(metrics.render())?.[1]);
    const refusedLines = () => warnings.filter((line) => line.startsWith("refused "));
    const nameLines = () => warnings.filter((line) => line.startsWith("ignored ") && line.includes("node-name rule"));
    const raw = await rawPeerOf(target, "flooder");

    // Three frames of 1,000 entries of `node` each, versions in order.
    const perFrame = 1_000;
    const flood = (node: string) => {
      for (let f = 0; f < 3; f++) {
        const entries = Array.from({ length: perFrame }, (_, i) => wireEntry(`k${f * perFrame + i}`, f * perFrame + i + 1));
        push(raw, [{ node, generation: 1, fromVersion: f * perFrame, collectedUpTo: 0, maxVersion: (f + 1) * perFrame, entries }]);
      }
    };
    // A bidi override breaks the name rule: the deltas of "fl\u202eooded" are skipped whole.
    flood("fl\u202eooded");
    const badDigest = ["", "a\nb", "\u202eevil"].map((node): DigestEntry => ({ node, generation: 1, heartbeat: 3, maxVersion: 0, collectedUpTo: 0 }));
    await roundTrip(raw, badDigest);
    await roundTrip(raw, badDigest);
    expect(target.entries("fl\u202eooded")).toEqual([]);
    expect(counter("goferbroke_invalid_node_names_total")).toBe(3 + 3 + 3); // three deltas, two digests of three names
    expect(nameLines()).toHaveLength(1);
    expect(nameLines()[0]).toContain("\\u{202e}");
    expect(nameLines()[0]).not.toMatch(/[\n\u202e]/);

    // 950 entries refused by the first frame (the cap takes 50), 1,000 by each of the others. The
    // flooder floods its own entries: a node named only second-hand would be dropped from
    // probation (state/probation.ts) during the wait below, and the late entry not refused but unknown.
    const name = "flooder";
    flood(name);
    await roundTrip(raw);
    expect(target.entries(name)).toHaveLength(CAP);
    expect(target.stats().gossip.entriesRefused).toBe(3 * perFrame - CAP);
    expect(counter("goferbroke_entries_refused_total")).toBe(3 * perFrame - CAP);
    expect(refusedLines()).toEqual([expect.stringMatching(new RegExp(`^refused ${perFrame - CAP} entries from "flooder": .*maxEntriesPerNode \\(${CAP}\\).*nodes "${name}"`))]);

    // After the window, the next refusal logs one line with everything refused since the last.
    await Bun.sleep(REFUSAL_LOG_PERIOD_MS + 200);
    push(raw, [{ node: name, generation: 1, fromVersion: 3 * perFrame, collectedUpTo: 0, maxVersion: 3 * perFrame + 1, entries: [wireEntry("late", 3 * perFrame + 1)] }]);
    await roundTrip(raw);
    expect(refusedLines()).toHaveLength(2);
    expect(refusedLines()[1]).toStartWith(`refused ${2 * perFrame + 1} entries`);
    expect(counter("goferbroke_entries_refused_total")).toBe(3 * perFrame - CAP + 1);
  });
});
