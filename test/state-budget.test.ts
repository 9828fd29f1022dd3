// Delta selection within a byte budget, checked against an independent model: what a peer lacks
// is derived here from its digest and the state, sizes are measured by writing bytes with the
// codec (never taken from the size functions under test), and every selected entry is compared
// with the state it came from.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type DigestEntry, FrameWriter, MessageType, type NodeDelta, type WireEntry, writeDeltas } from "../src/codec/index.ts";
import {
  ClusterState,
  type Entry,
  NodeState,
  ValueType,
  WriteError,
  defaultStateLimits,
  encodeValue,
  entryId,
  selectDeltas,
} from "../src/state/index.ts";

const clock = { now: () => 0, wallNow: () => 1_700_000_000_000 };
const keepOrder = <T>(items: T[]): T[] => items;

/** Bytes of a deltas section as the codec writes it. */
function writtenSize(deltas: readonly NodeDelta[]): number {
  const writer = new FrameWriter(256);
  writer.begin(MessageType.Ack);
  writeDeltas(writer, deltas);
  const size = writer.bodyLength;
  writer.abandon();
  return size;
}

/** Bytes one node delta adds to a section (the section's count prefix not included). */
function deltaBytes(delta: NodeDelta): number {
  return writtenSize([delta]) - writtenSize([]);
}

function wireOf(entry: Entry): WireEntry {
  const wire: WireEntry = { group: entry.group, key: entry.key, version: entry.version, valueType: entry.valueType, deleted: entry.deleted, value: entry.value };
  if (entry.expiresAt !== undefined) wire.expiresAt = entry.expiresAt;
  if (entry.writtenAt !== undefined) wire.writtenAt = entry.writtenAt;
  return wire;
}

// ---- generated states -------------------------------------------------------------------------

type Op =
  | { kind: "set"; key: number; size: number; ttl: boolean }
  | { kind: "delete"; key: number };

interface NodeSpec {
  generation: number;
  ops: Op[];
  /** Fraction of the node's versions up to which tombstones get collected (0: none). */
  collect: number;
}

interface PeerSpec {
  /** Per known node: absent, or a digest entry relative to the node's state. */
  views: ({ generationDelta: -1 | 0 | 1; maxFraction: number; collectedFraction: number } | null)[];
  /** Names the peer knows that we do not. */
  strangers: number;
  /** List one known node twice (the first entry counts). */
  duplicate: boolean;
}

interface Scenario {
  budget: number;
  nodes: NodeSpec[];
  peer: PeerSpec;
}

/** A fraction in [0, max], uniform in steps of 1/100 (fc.double favours tiny values). */
const fraction = (max: number) => fc.integer({ min: 0, max: Math.round(max * 100) }).map((n) => n / 100);

/** Value sizes: mostly small, sometimes within a few bytes of the budget (either side of it). */
const sizeArb = (budget: number) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.nat(40) },
    { weight: 2, arbitrary: fc.integer({ min: Math.max(0, budget - 70), max: budget + 10 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: budget }) },
  );

const opArb = (budget: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("set" as const), key: fc.nat(7), size: sizeArb(budget), ttl: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("delete" as const), key: fc.nat(7) }) },
  );

const nodeArb = (budget: number): fc.Arbitrary<NodeSpec> =>
  fc.record({
    generation: fc.integer({ min: 1, max: 3 }),
    ops: fc.array(opArb(budget), { maxLength: 14 }),
    // Often everything collectable is collected: the newest versions may then be gone.
    collect: fc.oneof(fc.constant(0), fraction(1), fc.constant(1), fc.constant(1)),
  });

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 64, max: 400 }), fc.integer({ min: 400, max: 4000 }))
  .chain((budget) =>
    fc.integer({ min: 1, max: 7 }).chain((count) =>
      fc.record({
        budget: fc.constant(budget),
        nodes: fc.array(nodeArb(budget), { minLength: count, maxLength: count }),
        peer: fc.record({
          views: fc.array(
            fc.option(
              fc.record({
                generationDelta: fc.constantFrom(-1 as const, 0 as const, 0 as const, 0 as const, 1 as const),
                maxFraction: fraction(1.2),
                collectedFraction: fraction(1),
              }),
              { freq: 3 },
            ),
            { minLength: count, maxLength: count },
          ),
          strangers: fc.nat(2),
          duplicate: fc.boolean(),
        }),
      }),
    ),
  );

/** Builds the state directly (entries of any size, other nodes' tombstones and collections). */
function buildState(scenario: Scenario): ClusterState {
  const first = scenario.nodes[0]!;
  const state = new ClusterState("node-0", first.generation, clock, {
    tombstoneGraceMs: 1000,
    limits: { ...defaultStateLimits, maxGossipBytes: 1 << 30 },
  });
  scenario.nodes.forEach((spec, index) => {
    let node: NodeState;
    if (index === 0) node = state.self;
    else {
      // Names of varied lengths, one of them past 127 bytes (a two-byte length prefix).
      node = new NodeState(index === 5 ? `node-${"x".repeat(130)}` : `node-${index}`, spec.generation);
      state.nodes.set(node.name, node);
    }
    for (const op of spec.ops) {
      const key = `key-${op.key}`;
      const id = entryId("g", key);
      const version = node.maxVersion + 1;
      if (op.kind === "set") {
        const entry: Entry = { group: "g", key, value: new Uint8Array(op.size).fill(0x61 + (version % 26)), valueType: ValueType.Bytes, version, deleted: false };
        if (op.ttl) entry.expiresAt = 1_700_000_000_000 + version * 1000;
        node.put(id, entry);
      } else {
        const held = node.entries.get(id);
        if (!held || held.deleted) continue;
        node.put(id, { group: "g", key, value: new Uint8Array(0), valueType: held.valueType, version, deleted: true, deletedAt: 0 });
      }
    }
    // Collect the tombstones at or below a cut, as a sweep would.
    const cut = Math.floor(spec.collect * node.maxVersion);
    for (const [id, entry] of [...node.entries]) {
      if (entry.deleted && entry.version <= cut) {
        node.entries.delete(id);
        node.collectedUpTo = Math.max(node.collectedUpTo, entry.version);
      }
    }
  });
  return state;
}

function buildDigest(state: ClusterState, scenario: Scenario): DigestEntry[] {
  const nodes = [...state.nodes.values()];
  const digest: DigestEntry[] = [];
  scenario.peer.views.forEach((view, index) => {
    const node = nodes[index];
    if (!node || !view) return;
    const maxVersion = Math.floor(view.maxFraction * node.maxVersion);
    digest.push({
      node: node.name,
      generation: Math.max(1, node.generation + view.generationDelta),
      heartbeat: index,
      maxVersion,
      collectedUpTo: Math.floor(view.collectedFraction * Math.max(maxVersion, node.collectedUpTo)),
    });
  });
  for (let i = 0; i < scenario.peer.strangers; i++) digest.push({ node: `stranger-${i}`, generation: 1, heartbeat: 1, maxVersion: 5, collectedUpTo: 0 });
  if (scenario.peer.duplicate && digest.length > 0) digest.push({ ...digest[0]!, maxVersion: 0, generation: 1 });
  // Digest order must not matter: reverse it half the time.
  return scenario.budget % 2 === 0 ? digest.reverse() : digest;
}

// ---- the model ----------------------------------------------------------------------------------

interface Lack {
  node: NodeState;
  fromVersion: number;
  unknown: boolean;
  depth: number;
  /** The node's entries the peer lacks, ascending by version. */
  lacking: Entry[];
}

/** What the peer lacks, from the rules of DESIGN.md section 3 and 5. */
function modelLacks(state: ClusterState, digest: readonly DigestEntry[]): Map<string, Lack> {
  const firstSeen = new Map<string, DigestEntry>();
  for (const entry of digest) if (!firstSeen.has(entry.node)) firstSeen.set(entry.node, entry);
  const lacks = new Map<string, Lack>();
  for (const node of state.nodes.values()) {
    const peer = firstSeen.get(node.name);
    let fromVersion: number;
    let unknown: boolean;
    if (node.maxVersion === 0) continue; // nothing was ever written
    if (!peer || peer.generation < node.generation) {
      fromVersion = 0; // knows nothing of this generation: everything
      unknown = true;
    } else if (peer.generation > node.generation || peer.maxVersion >= node.maxVersion) {
      continue; // knows as much or more
    } else {
      // Behind the collection point, and not already catching up past it: the full state.
      const missed = peer.maxVersion < node.collectedUpTo && peer.collectedUpTo < node.collectedUpTo;
      fromVersion = missed ? 0 : peer.maxVersion;
      unknown = false;
    }
    // May be empty: the versions the peer lacks were all collected. It is then told so by a
    // delta without entries, so that it stops being behind.
    const lacking = [...node.entries.values()].filter((e) => e.version > fromVersion).sort((a, b) => a.version - b.version);
    lacks.set(node.name, { node, fromVersion, unknown, depth: node.maxVersion - (unknown ? 0 : peer!.maxVersion), lacking });
  }
  return lacks;
}

function deltaFor(lack: Lack, entries: number): NodeDelta {
  const { node } = lack;
  return {
    node: node.name,
    generation: node.generation,
    fromVersion: lack.fromVersion,
    collectedUpTo: node.collectedUpTo,
    maxVersion: node.maxVersion,
    entries: lack.lacking.slice(0, entries).map(wireOf),
  };
}

/** Bytes of a varuint as the codec writes it. */
function varuintBytes(value: number): number {
  const writer = new FrameWriter(64);
  writer.begin(MessageType.Ack);
  writer.varuint(value);
  const size = writer.bodyLength;
  writer.abandon();
  return size;
}

function checkSelection(scenario: Scenario): void {
  const state = buildState(scenario);
  const digest = buildDigest(state, scenario);
  const budget = scenario.budget;
  const result = selectDeltas(state, digest, budget, keepOrder);

  // The section as written: within budget, and exactly the size reported.
  const written = writtenSize(result.deltas);
  expect(written).toBe(result.bytes);
  expect(written).toBeLessThanOrEqual(budget);

  // Group the deltas by node: one node's deltas are adjacent (its entries, then possibly a tail
  // without entries saying nothing else exists up to its max version).
  const lacks = modelLacks(state, digest);
  const groups: { name: string; deltas: NodeDelta[] }[] = [];
  for (const delta of result.deltas) {
    const current = groups[groups.length - 1];
    if (current && current.name === delta.node) current.deltas.push(delta);
    else {
      expect(groups.some((g) => g.name === delta.node)).toBe(false);
      groups.push({ name: delta.node, deltas: [delta] });
    }
  }

  let previousUnknown = true;
  let previousDepth = Number.POSITIVE_INFINITY;
  const sentBy = new Map<string, { entries: number; tail: boolean; bytes: number }>();
  for (const group of groups) {
    const lack = lacks.get(group.name);
    expect(lack).toBeDefined(); // nothing is sent that the peer does not lack
    if (!lack) return;
    const [first, second, ...more] = group.deltas;
    expect(more).toHaveLength(0);
    const main = first!.entries.length > 0 ? first! : undefined;
    const tail = main ? second : first;
    if (main) {
      expect(main.fromVersion).toBe(lack.fromVersion);
      // The safe floor: ascending versions starting right after fromVersion, no surviving
      // version skipped, i.e. exactly a prefix of what the peer lacks.
      expect(main).toEqual(deltaFor(lack, main.entries.length));
    }
    const sent = main?.entries.length ?? 0;
    if (tail) {
      // Only after everything, and only when the newest versions are gone.
      expect(sent).toBe(lack.lacking.length);
      const lastSent = sent > 0 ? lack.lacking[sent - 1]!.version : lack.fromVersion;
      expect(lastSent).toBeLessThan(lack.node.maxVersion);
      expect(tail).toEqual({ ...deltaFor(lack, 0), fromVersion: lastSent });
    }
    sentBy.set(group.name, { entries: sent, tail: tail !== undefined, bytes: group.deltas.reduce((sum, d) => sum + deltaBytes(d), 0) });
    // Nodes unknown to the peer come first; then the most out-of-date first.
    if (lack.unknown) expect(previousUnknown).toBe(true);
    if (lack.unknown !== previousUnknown) previousDepth = Number.POSITIVE_INFINITY;
    expect(lack.depth).toBeLessThanOrEqual(previousDepth);
    previousUnknown = lack.unknown;
    previousDepth = lack.depth;
  }

  // Whatever was left out did not fit: not even in the room left at the end (room only shrinks
  // while selecting). The selector reserves the count prefix for two deltas per candidate.
  const reserve = varuintBytes(2 * lacks.size);
  const usedByServed = [...sentBy.values()].reduce((sum, s) => sum + s.bytes, 0);
  let incomplete = 0;
  for (const [name, lack] of lacks) {
    const sent = sentBy.get(name) ?? { entries: 0, tail: false, bytes: 0 };
    const others = usedByServed - sent.bytes;
    const lastSent = sent.entries > 0 ? lack.lacking[sent.entries - 1]!.version : lack.fromVersion;
    const needsTail = lastSent < lack.node.maxVersion;
    if (sent.entries < lack.lacking.length) {
      incomplete++;
      expect(reserve + others + deltaBytes(deltaFor(lack, sent.entries + 1))).toBeGreaterThan(budget);
    } else if (needsTail && !sent.tail) {
      incomplete++;
      const mainBytes = sent.entries > 0 ? deltaBytes(deltaFor(lack, sent.entries)) : 0;
      const tailBytes = deltaBytes({ ...deltaFor(lack, 0), fromVersion: lastSent });
      expect(reserve + others + mainBytes + tailBytes).toBeGreaterThan(budget);
    }
  }
  expect(result.truncated).toBe(incomplete);
}

describe("delta selection within a budget", () => {
  test("property: within budget, exact size, safe floor, unknown nodes first, nothing left out that fits", () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        checkSelection(scenario);
      }),
      { numRuns: 1000, seed: 20260417 },
    );
  });

  test("property: with more than 127 deltas (a two-byte count prefix) the size is still exact and in budget", () => {
    fc.assert(
      fc.property(fc.integer({ min: 60, max: 200 }), fc.nat(3), fc.nat(400), (nodes, collectedEvery, shortBy) => {
        const state = new ClusterState("node-0", 1, clock, { tombstoneGraceMs: 1000, limits: defaultStateLimits });
        for (let i = 1; i <= nodes; i++) {
          const node = new NodeState(`n${i}`, 1);
          node.put(entryId("g", "k"), { group: "g", key: "k", value: new Uint8Array(i % 5), valueType: ValueType.Bytes, version: 1, deleted: false });
          // Some nodes' newest version is a collected tombstone: they take a second delta.
          if (collectedEvery > 0 && i % collectedEvery === 0) {
            node.maxVersion = 2;
            node.collectedUpTo = 2;
          }
          state.nodes.set(node.name, node);
        }
        // Budgets at and just below what everything takes, where the count prefix matters.
        const everything = writtenSize(selectDeltas(state, [], 1 << 20, keepOrder).deltas);
        const budget = Math.max(1, everything - shortBy);
        const result = selectDeltas(state, [], budget, keepOrder);
        const written = writtenSize(result.deltas);
        expect(written).toBe(result.bytes);
        expect(written).toBeLessThanOrEqual(budget);
        // Every node is served whole (its entry, and the tail when its newest version is gone) or
        // counted as truncated.
        let whole = 0;
        for (const node of state.nodes.values()) {
          if (node.maxVersion === 0) continue;
          const sent = result.deltas.filter((d) => d.node === node.name);
          const expected = node.maxVersion === 2 ? 2 : 1;
          if (sent.length === expected) whole++;
        }
        expect(whole + result.truncated).toBe(nodes);
      }),
      { numRuns: 200, seed: 99 },
    );
  });

  test("the model's size helper agrees with the codec on count prefixes", () => {
    expect(varuintBytes(0)).toBe(1);
    expect(varuintBytes(127)).toBe(1);
    expect(varuintBytes(128)).toBe(2);
  });

  test("a peer that knows nothing gets unknown nodes, biggest first, before any node it is behind on", () => {
    const scenario: Scenario = {
      budget: 100_000,
      nodes: [
        { generation: 1, ops: [{ kind: "set", key: 1, size: 3, ttl: false }], collect: 0 },
        { generation: 1, ops: Array.from({ length: 3 }, (_, i) => ({ kind: "set" as const, key: i, size: 3, ttl: false })), collect: 0 },
        { generation: 1, ops: Array.from({ length: 9 }, (_, i) => ({ kind: "set" as const, key: i % 7, size: 3, ttl: false })), collect: 0 },
        { generation: 2, ops: Array.from({ length: 5 }, (_, i) => ({ kind: "set" as const, key: i, size: 3, ttl: false })), collect: 0 },
      ],
      // Knows node-0 fully, nothing of node-1, is 8 versions behind on node-2 (9 versions, 7
      // live keys) and knows only an older generation of node-3.
      peer: {
        views: [
          { generationDelta: 0, maxFraction: 1, collectedFraction: 0 },
          null,
          { generationDelta: 0, maxFraction: 1.5 / 9, collectedFraction: 0 },
          { generationDelta: -1, maxFraction: 1, collectedFraction: 0 },
        ],
        strangers: 0,
        duplicate: false,
      },
    };
    const state = buildState(scenario);
    const result = selectDeltas(state, buildDigest(state, scenario), scenario.budget, keepOrder);
    expect(result.deltas.map((d) => `${d.node}:${d.fromVersion}:${d.entries.length}`)).toEqual(["node-3:0:5", "node-1:0:3", "node-2:1:7"]);
    checkSelection(scenario);
  });
});

describe("deltas without entries", () => {
  test("a peer behind only on collected versions is told so by a delta without entries", () => {
    const holder = new ClusterState("holder", 1, clock, { tombstoneGraceMs: 1000, limits: defaultStateLimits });
    const gone = new NodeState("gone", 1);
    gone.maxVersion = 4; // k@1..k@3 overwritten, tombstone @4 collected
    gone.collectedUpTo = 4;
    holder.nodes.set("gone", gone);
    const peer: DigestEntry = { node: "gone", generation: 1, heartbeat: 0, maxVersion: 2, collectedUpTo: 0 };
    const result = selectDeltas(holder, [peer], 1000, keepOrder);
    expect(result.truncated).toBe(0);
    expect(result.deltas).toEqual([{ node: "gone", generation: 1, fromVersion: 0, collectedUpTo: 4, maxVersion: 4, entries: [] }]);
    expect(writtenSize(result.deltas)).toBe(result.bytes);
    // With a surviving entry below the collected ones: the entry, then the tail from its version.
    gone.put(entryId("g", "old"), { group: "g", key: "old", value: new Uint8Array([1]), valueType: ValueType.Bytes, version: 1, deleted: false });
    const withEntry = selectDeltas(holder, [peer], 1000, keepOrder);
    expect(withEntry.deltas.map((d) => `${d.fromVersion}:${d.entries.map((e) => e.version).join(",")}:${d.maxVersion}`)).toEqual(["0:1:4", "1::4"]);
    expect(writtenSize(withEntry.deltas)).toBe(withEntry.bytes);
    // No room even for the header: that is an overflow, not silence.
    expect(selectDeltas(holder, [peer], 5, keepOrder).truncated).toBe(1);
  });
});

describe("entries too large for one gossip message", () => {
  function state(maxGossipBytes: number): ClusterState {
    return new ClusterState("writer", 1, clock, { tombstoneGraceMs: 1000, limits: { ...defaultStateLimits, maxGossipBytes } });
  }

  test("are refused at write time with a WriteError naming maxGossipBytes, and nothing changes", () => {
    const small = state(200);
    small.set("g", "before", encodeValue("ok"));
    let error: unknown;
    try {
      small.set("g", "big", encodeValue("x".repeat(300)));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(WriteError);
    expect((error as Error).message).toContain("maxGossipBytes");
    expect(small.self.maxVersion).toBe(1);
    expect(small.get("writer", "g", "big")).toBeUndefined();
  });

  test("property: a write is refused exactly when the delta carrying it alone would exceed the budget", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 60, max: 3000 }),
        fc.array(fc.nat(5), { maxLength: 3 }), // small earlier writes, which always fit in 60 bytes
        fc.integer({ min: -80, max: 20 }),
        fc.boolean(),
        (maxGossipBytes, before, sizeOffset, withTtl) => {
          const writer = state(maxGossipBytes);
          before.forEach((size, i) => writer.set("g", `small-${i}`, encodeValue("s".repeat(size))));
          const previousMax = writer.self.maxVersion;
          const size = Math.max(0, maxGossipBytes + sizeOffset);
          const value = encodeValue(new Uint8Array(size).fill(7));
          const ttl = withTtl ? 60_000 : undefined;
          // What a peer one version behind would be sent for this entry alone, written by the codec.
          const candidate: WireEntry = { group: "g", key: "big", version: previousMax + 1, valueType: ValueType.Bytes, deleted: false, value: value.bytes };
          if (ttl !== undefined) candidate.expiresAt = Math.round(clock.wallNow() + ttl);
          candidate.writtenAt = clock.wallNow(); // every local write carries the time it was made
          const needed = writtenSize([{ node: "writer", generation: 1, fromVersion: previousMax, collectedUpTo: 0, maxVersion: previousMax + 1, entries: [candidate] }]);

          let refused: unknown = null;
          try {
            writer.set("g", "big", value, ttl);
          } catch (error) {
            refused = error;
          }
          if (needed > maxGossipBytes) {
            expect(refused).toBeInstanceOf(WriteError);
            expect((refused as Error).message).toContain("maxGossipBytes");
            expect(writer.self.maxVersion).toBe(previousMax);
            expect(writer.get("writer", "g", "big")).toBeUndefined();
          } else {
            expect(refused).toBeNull();
            // Accepted, so it must also be deliverable: a peer one version behind gets it in budget.
            const digest: DigestEntry[] = [{ node: "writer", generation: 1, heartbeat: 0, maxVersion: previousMax, collectedUpTo: 0 }];
            const result = selectDeltas(writer, digest, maxGossipBytes, keepOrder);
            expect(result.truncated).toBe(0);
            expect(result.deltas.map((d) => d.entries.map((e) => e.key))).toEqual([["big"]]);
            expect(writtenSize(result.deltas)).toBeLessThanOrEqual(maxGossipBytes);
          }
        },
      ),
      { numRuns: 400, seed: 7 },
    );
  });

  test("a too-large entry held for another node is reported as truncated, not silently dropped", () => {
    const holder = state(1 << 20);
    const other = new NodeState("other", 1);
    other.put(entryId("g", "huge"), { group: "g", key: "huge", value: new Uint8Array(500), valueType: ValueType.Bytes, version: 1, deleted: false });
    other.put(entryId("g", "after"), { group: "g", key: "after", value: new Uint8Array(1), valueType: ValueType.Bytes, version: 2, deleted: false });
    holder.nodes.set("other", other);
    const result = selectDeltas(holder, [], 300, keepOrder);
    expect(result.truncated).toBe(1);
    // Stopping at the first entry that does not fit: "after" is not sent past the gap either.
    expect(result.deltas).toHaveLength(0);
    expect(result.bytes).toBe(1);
  });
});
