// Made-up members (issue #16), over real sockets: a raw peer completes the handshake by hand and
// sends SYN digests naming thousands of nodes that do not exist, then disconnects. Replication
// among the real nodes must go on, the names must never become members or spread, no real node may
// be suspected, and the member cap must hold however many names arrive. The probation rules
// themselves (state/probation.ts) are checked on a bare cluster state at the end.

import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type DigestEntry, FrameWriter, type NodeDelta, MessageType, SUMMARY_BUCKETS, writeDeltas, writePage, writeSummary } from "../src/codec/index.ts";
import type { Node } from "../src/index.ts";
import { ProbationContacts } from "../src/node/probation-contacts.ts";
import { createRandom } from "../src/random.ts";
import { applyDigest, ClusterState, defaultStateLimits, mergeDeltas, RESERVED_GROUP, ValueType } from "../src/state/index.ts";
import { NEW_MEMBERS_PER_PEER_ROUND, PROBATION_ROUNDS, probationLimit } from "../src/state/probation.ts";
import { Nodes, record, waitFor } from "./api-helpers.ts";
import { closeAll, dialByHand, introduction, rawConnect, type RawPeer } from "./tcp-harness.ts";

// Real nodes: every wait inside is bounded on its own; this only lifts the runner's 5 s default.
setDefaultTimeout(60_000);

const nodes = new Nodes();
afterEach(closeAll);
afterAll(() => nodes.stopAll());

const CLUSTER = "hostile-members";
const MAX_FRAME_BYTES = 1 << 20;
const FAKE = "fake-";

async function rawPeerOf(node: Node, name: string): Promise<RawPeer> {
  const raw = await rawConnect(Number(node.address.split(":")[1]));
  await dialByHand(raw, introduction(name, { clusterName: CLUSTER }));
  return raw;
}

let correlationId = 0;

/**
 * ACKs whose pages (covering every name hash) name `count` made-up nodes and the raw peer itself,
 * split into frames under the frame limit, then a SYN, whose SYN-ACK says they were all handled.
 * (Protocol 4: a SYN carries a summary; names travel in pages.)
 */
function fakeSyns(self: string, from: number, count: number, perFrame = 20_000): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let start = from; start < from + count; start += perFrame) {
    const digest: DigestEntry[] = [{ node: self, generation: 1, heartbeat: 1, maxVersion: 0, collectedUpTo: 0 }];
    for (let i = start; i < Math.min(from + count, start + perFrame); i++) digest.push({ node: `${FAKE}${i}`, generation: 1, heartbeat: 7, maxVersion: 3, collectedUpTo: 0 });
    const writer = new FrameWriter(4096, MAX_FRAME_BYTES);
    writer.begin(MessageType.Ack, ++correlationId);
    writePage(writer, { ranges: [{ first: 0, last: 0xffffffff }], entries: digest });
    writeDeltas(writer, []);
    writer.end();
    frames.push(writer.finish());
  }
  const writer = new FrameWriter(4096, MAX_FRAME_BYTES);
  writer.begin(MessageType.Syn, ++correlationId);
  writeSummary(writer, new Uint32Array(SUMMARY_BUCKETS));
  writer.end();
  frames.push(writer.finish());
  return frames;
}

const fakesHeld = (node: Node): number => node.nodes().filter((name) => name.startsWith(FAKE)).length;
const fakeMembers = (node: Node): number => node.members().filter((member) => member.name.startsWith(FAKE)).length;

describe("a peer naming made-up members", () => {
  test("10,000 names: replication goes on, none becomes a member or spreads, no real node is suspected", async () => {
    const cluster = (await nodes.cluster(["m-alpha", "m-bravo", "m-charlie"], { clusterName: CLUSTER, gossipIntervalMs: 100 })) as [Node, Node, Node];
    const [alpha, bravo, charlie] = cluster;
    const suspected = cluster.flatMap((node) => record(node, "node-suspect"));
    const raw = await rawPeerOf(alpha, "mallory");
    for (const syn of fakeSyns("mallory", 0, 10_000)) raw.write(syn);
    await raw.nextFrame(MessageType.SynAck, 5_000);
    raw.socket!.end();

    // One SYN introduces at most the per-peer allowance, all probationary.
    expect(fakesHeld(alpha)).toBeGreaterThan(0);
    expect(fakesHeld(alpha)).toBeLessThanOrEqual(NEW_MEMBERS_PER_PEER_ROUND);

    // A write made after the attack reaches the others within 5 s, from every node.
    for (const [i, writer] of cluster.entries()) writer.set("app", `after-${i}`, "flows");
    for (const [i, writer] of cluster.entries()) {
      for (const reader of cluster) await waitFor(`${writer.name}'s write on ${reader.name}`, () => reader.get(writer.name, "app", `after-${i}`) === "flows", 5_000);
    }
    // Nothing vouched for the names: they expire (PROBATION_ROUNDS of 100 ms) and never spread.
    await waitFor("the made-up names to expire on alpha", () => fakesHeld(alpha) === 0, PROBATION_ROUNDS * 100 + 5_000);
    for (const node of cluster) {
      expect({ node: node.name, fakeMembers: fakeMembers(node) }).toEqual({ node: node.name, fakeMembers: 0 });
    }
    expect({ bravo: fakesHeld(bravo), charlie: fakesHeld(charlie) }).toEqual({ bravo: 0, charlie: 0 });
    expect(suspected).toEqual([]);
  });

  test("200,000 names sent again and again: the member cap holds, no frame is refused, the node stays responsive", async () => {
    const MAX_MEMBERS = 200;
    const [target, bravo] = (await nodes.cluster(["cap-target", "cap-bravo"], { clusterName: CLUSTER, gossipIntervalMs: 100, maxMembers: MAX_MEMBERS })) as [Node, Node];
    const raw = await rawPeerOf(target, "mallory-cap");
    let peakHeld = 0;
    // Five floods of 200,000 names each, a round or more apart: five rounds' allowance at most.
    for (let flood = 0; flood < 5; flood++) {
      for (const syn of fakeSyns("mallory-cap", flood * 200_000, 200_000)) raw.write(syn);
      await raw.nextFrame(MessageType.SynAck, 10_000);
      peakHeld = Math.max(peakHeld, target.nodes().length);
      await Bun.sleep(150);
    }
    expect(peakHeld).toBeLessThanOrEqual(MAX_MEMBERS);
    expect(fakesHeld(target)).toBeLessThanOrEqual(probationLimit(MAX_MEMBERS));
    expect(fakeMembers(target)).toBe(0);
    // Responsive: its SYN-ACKs still came (above), and its writes still reach bravo.
    target.set("app", "after-flood", "served");
    await waitFor("target's write on bravo", () => bravo.get("cap-target", "app", "after-flood") === "served", 5_000);
    expect(target.stats().gossip.decodeErrors).toBe(0);
    expect(fakesHeld(bravo)).toBe(0);
    raw.socket!.end();
  });
});

describe("probation (state/probation.ts)", () => {
  const clock = { now: () => 0, wallNow: () => 0 };
  const MAX_MEMBERS = 64; // probation bound 16
  const stateWith = () => new ClusterState("self", 1, clock, { tombstoneGraceMs: 1_000, limits: { ...defaultStateLimits, maxMembers: MAX_MEMBERS }, probation: true });
  const entry = (node: string, heartbeat = 5): DigestEntry => ({ node, generation: 1, heartbeat, maxVersion: 0, collectedUpTo: 0 });
  const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => entry(`${prefix}${i}`));

  test("second-hand names wait in a bounded set, longest-waiting evicted first, unreported to membership", () => {
    const state = stateWith();
    const bound = probationLimit(MAX_MEMBERS);
    const learnt = applyDigest(state, names("x", 40), undefined, "peer");
    expect(learnt.discovered).toEqual([]);
    expect(state.probation.size).toBe(bound);
    // The last `bound` names stayed: the earlier ones were evicted to make room.
    expect([...state.probation.names()]).toEqual(names("x", 40).slice(40 - bound).map((seen) => seen.node));
    // Their heartbeats do not reach membership either, and this node's digest does not vouch for them.
    expect(applyDigest(state, [{ ...entry("x39"), heartbeat: 9 }], undefined, "peer").heartbeats).toEqual([]);
    expect(state.digest().find((seen) => seen.node === "x39")?.heartbeat).toBe(0);
  });

  test("one peer introduces at most the per-round allowance; a name at heartbeat 0 is not learned", () => {
    const state = stateWith();
    const learnt = applyDigest(state, names("y", 200), undefined, "peer");
    expect(learnt.refusedNames).toBe(200 - NEW_MEMBERS_PER_PEER_ROUND);
    expect(applyDigest(state, [entry("unvouched", 0)], undefined, "other").refusedNames).toBe(0);
    expect(state.nodes.has("unvouched")).toBe(false);
  });

  test("a peer's own entry makes it a member, room made by a probationary name when the table is full", () => {
    const state = stateWith();
    // Fill the table with members (each its own first-hand word), then the probation set.
    for (let i = 0; state.nodes.size < MAX_MEMBERS - probationLimit(MAX_MEMBERS); i++) applyDigest(state, [entry(`real${i}`)], undefined, `real${i}`);
    applyDigest(state, names("z", probationLimit(MAX_MEMBERS)), undefined, "real0");
    expect(state.nodes.size).toBe(MAX_MEMBERS);
    const learnt = applyDigest(state, [entry("newcomer")], undefined, "newcomer");
    expect(learnt.discovered).toEqual(["newcomer"]);
    expect(state.nodes.size).toBe(MAX_MEMBERS);
    expect(state.nodes.has("z0")).toBe(false);
    // A probationary name's own word promotes it.
    expect(applyDigest(state, [entry("z5", 6)], undefined, "z5").discovered).toEqual(["z5"]);
    expect(state.isProbationary("z5")).toBe(false);
  });

  test("a name nobody vouches for is dropped after PROBATION_ROUNDS rounds", () => {
    const state = stateWith();
    applyDigest(state, [entry("ghost")], undefined, "peer");
    for (let round = 0; round < PROBATION_ROUNDS; round++) {
      state.bumpHeartbeat();
      state.sweep();
    }
    expect(state.nodes.has("ghost")).toBe(true);
    state.bumpHeartbeat();
    state.sweep();
    expect(state.nodes.has("ghost")).toBe(false);
    expect(state.probation.size).toBe(0);
  });
});

describe("contacting probationary names (node/probation-contacts.ts)", () => {
  const clock = { now: () => 0, wallNow: () => 0 };
  const address = (node: string): NodeDelta => ({
    node,
    generation: 1,
    fromVersion: 0,
    collectedUpTo: 0,
    maxVersion: 1,
    entries: [{ group: RESERVED_GROUP, key: "address", version: 1, valueType: ValueType.String, deleted: false, value: new TextEncoder().encode(`10.0.0.1:${node.length}`) }],
  });
  const setUp = (count: number) => {
    const state = new ClusterState("self", 1, clock, { tombstoneGraceMs: 1_000, limits: defaultStateLimits, probation: true });
    const merged = mergeDeltas(state, Array.from({ length: count }, (_, i) => address(`p${i}`)), "peer");
    return { state, changes: merged.changes, contacts: new ProbationContacts(state, createRandom(1)) };
  };

  test("names are contacted as their addresses arrive, at most 8 unanswered at once; each answer lets the next one go", () => {
    const { state, changes, contacts } = setUp(20);
    expect(state.probation.size).toBe(20);
    const first = contacts.afterStep(changes, []);
    expect(first).toEqual(["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"]);
    expect(contacts.afterStep([], [])).toEqual([]); // nothing answered: nothing more
    for (const name of ["p0", "p1"]) state.promote(name);
    const next = contacts.afterStep([], ["p0", "p1"]);
    expect(next.length).toBe(2);
    for (const name of next) expect(first).not.toContain(name);
  });

  test("contacts unanswered for two rounds free their places; starts are bounded per round", () => {
    const { changes, contacts } = setUp(60);
    expect(contacts.afterStep(changes, []).length).toBe(8);
    expect(contacts.forRound()).toEqual([]); // round 1: all 8 still in flight
    let batch = contacts.forRound(); // round 2: they expired, the round picks 8 more
    expect(batch.length).toBe(8);
    // Within one round, answers keep freeing places, until 48 contacts have started.
    let started = batch.length;
    for (let step = 0; step < 20 && batch.length > 0; step++) {
      batch = contacts.afterStep([], batch);
      started += batch.length;
    }
    expect(started).toBe(48);
    expect(contacts.forRound().length).toBe(8); // a new round, new starts
  });
});
