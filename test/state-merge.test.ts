// Unit tests of the cluster state: local writes and their versions, change records, merges,
// generations, tombstone collection, full-state catch-up, damaged entries and TTL expiry.
// Expected values come from the scenario itself (what was written, and when), never from a
// previous run of the code under test.

import { describe, expect, test } from "bun:test";
import {
  BodyReader,
  FrameDecoder,
  FrameWriter,
  MessageType,
  type DigestEntry,
  type Frame,
  type NodeDelta,
  type WireEntry,
  readDeltas,
  readPage,
  writeDeltas,
  writePage,
} from "../src/codec/index.ts";
import { GossipEngine, type GossipSettings } from "../src/gossip/engine.ts";
import { createRandom } from "../src/random.ts";
import {
  type ChangeRecord,
  ClusterState,
  type StateClock,
  type StateLimits,
  ValueType,
  WriteError,
  applyDigest,
  decodeValue,
  defaultStateLimits,
  encodeValue,
  isKnownValueType,
  mergeDeltas,
  selectDeltas,
} from "../src/state/index.ts";
import { EMPTY_GENERATION_HEARTBEATS } from "../src/state/merge.ts";
import { VirtualClock } from "../src/transport/virtual-clock.ts";

const WALL_EPOCH = 1_700_000_000_000;

/** A clock that moves only when told to: both readings stay constant between advances. */
class ManualClock implements StateClock {
  mono = 1_000;
  wall = WALL_EPOCH;
  now(): number {
    return this.mono;
  }
  wallNow(): number {
    return this.wall;
  }
  advance(ms: number): void {
    this.mono += ms;
    this.wall += ms;
  }
}

function makeState(name: string, generation: number, clock: StateClock, graceMs = 60_000, limits: Partial<StateLimits> = {}): ClusterState {
  return new ClusterState(name, generation, clock, { tombstoneGraceMs: graceMs, limits: { ...defaultStateLimits, ...limits } });
}

const keepOrder = <T>(items: T[]): T[] => items;
const readLimits = { maxNameBytes: 64, maxKeyBytes: 256, maxValueBytes: 65536, isKnownValueType };

/** Sends deltas through the real codec, as the wire would. */
function overTheWire(deltas: readonly NodeDelta[]): NodeDelta[] {
  const writer = new FrameWriter();
  writer.begin(MessageType.Ack);
  writeDeltas(writer, deltas);
  writer.end();
  const frames: Frame[] = [];
  new FrameDecoder().push(writer.finish(), (frame) => frames.push(frame));
  expect(frames).toHaveLength(1);
  const decoded = readDeltas(new BodyReader(frames[0]!.body), readLimits);
  expect(decoded.skipped).toHaveLength(0);
  return decoded.deltas;
}

interface SyncResult {
  changes: ChangeRecord[];
  applied: number;
  skipped: number;
  deltas: NodeDelta[];
}

/**
 * One SYN-ACK's worth of state from `from` to `to`: what `from` selects for `to`'s digest within
 * the budget, preceded (unless withDigest is false, as for an ACK) by `from`'s digest.
 */
function sync(from: ClusterState, to: ClusterState, budget = 1 << 20, withDigest = true): SyncResult {
  const selection = selectDeltas(from, to.digest(), budget, keepOrder);
  const changes: ChangeRecord[] = [];
  if (withDigest) changes.push(...applyDigest(to, from.digest()).changes);
  const deltas = overTheWire(selection.deltas);
  const outcome = mergeDeltas(to, deltas);
  changes.push(...outcome.changes);
  return { changes, applied: outcome.applied, skipped: outcome.skipped, deltas };
}

/** Syncs until `to` holds `from`'s own state, at most `maxRounds` times; returns every change. */
function syncUntilCaughtUp(from: ClusterState, to: ClusterState, budget: number, maxRounds = 50): { changes: ChangeRecord[]; rounds: number } {
  const changes: ChangeRecord[] = [];
  for (let round = 1; round <= maxRounds; round++) {
    changes.push(...sync(from, to, budget).changes);
    const held = to.nodes.get(from.selfName);
    if (held && held.generation === from.self.generation && held.maxVersion === from.self.maxVersion && held.replaced === null) {
      return { changes, rounds: round };
    }
  }
  throw new Error(`${to.selfName} did not catch up with ${from.selfName} in ${maxRounds} syncs`);
}

const text = (value: string) => encodeValue(value);
const str = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A node's live entries as seen by `viewer`, as sorted "group/key=value@version" lines. */
function view(viewer: ClusterState, node: string): string[] {
  return [...viewer.liveEntries(node)].map((e) => `${e.group}/${e.key}=${str(e.value)}@${e.version}`).sort();
}

function summary(changes: readonly ChangeRecord[]): string[] {
  return changes.map((c) => `${c.kind} ${c.node} ${c.group}/${c.key}`).sort();
}

describe("local writes and versions", () => {
  test("every write bumps a per-node counter by one, whatever the clock says", () => {
    const clock = new ManualClock(); // never advanced: every write below happens in the same millisecond
    const state = makeState("a", 1, clock);
    const versions: number[] = [];
    for (let i = 0; i < 200; i++) {
      const record = state.set("g", `k${i % 50}`, text(`v${i}`));
      versions.push(record.current.version);
      if (i % 7 === 3) {
        const deleted = state.delete("g", `k${(i + 1) % 50}`);
        if (deleted) versions.push(state.self.maxVersion);
      }
    }
    // Strictly increasing by exactly one: a counter, not a timestamp.
    for (let i = 0; i < versions.length; i++) expect(versions[i]).toBe(i + 1);
    expect(state.self.maxVersion).toBe(versions.length);

    // A wall clock going backwards changes nothing either.
    clock.wall -= 3_600_000;
    expect(state.set("g", "late", text("x")).current.version).toBe(versions.length + 1);
  });

  test("same-millisecond writes all survive, locally and at a peer", () => {
    const clock = new ManualClock();
    const a = makeState("a", 1, clock);
    const b = makeState("b", 1, clock);
    const expected: string[] = [];
    for (let i = 0; i < 100; i++) {
      a.set("g", `k${i}`, text(`value-${i}`));
      expected.push(`g/k${i}=value-${i}@${i + 1}`);
    }
    // Rewrites of one key within the same millisecond: the last one wins, nothing is lost.
    a.set("g", "k0", text("first"));
    a.set("g", "k0", text("second"));
    expected[0] = "g/k0=second@102";
    expected.sort();
    expect(view(a, "a")).toEqual(expected);
    sync(a, b);
    expect(view(b, "a")).toEqual(expected);
  });

  test("limits are checked before anything changes", () => {
    const clock = new ManualClock();
    const state = makeState("a", 1, clock, 60_000, { maxKeyBytes: 8, maxValueBytes: 16, maxEntriesPerNode: 2 });
    expect(() => state.set("g", "a-long-key", text("v"))).toThrow(WriteError);
    expect(() => state.set("g", "k", text("x".repeat(17)))).toThrow(WriteError);
    expect(() => state.set("g", "k", text("v"), 0)).toThrow(WriteError);
    expect(() => state.set("g", "k", text("v"), -5)).toThrow(WriteError);
    state.set("g", "k1", text("1"));
    state.set("g", "k2", text("2"));
    expect(() => state.set("g", "k3", text("3"))).toThrow(/maxEntriesPerNode/);
    state.set("g", "k1", text("one")); // an update of a held key is not a new entry
    expect(state.self.maxVersion).toBe(3);
    expect(view(state, "a")).toEqual(["g/k1=one@3", "g/k2=2@2"]);
  });
});

describe("change records", () => {
  test("set, update and delete each produce one record with the previous value and version", () => {
    const clock = new ManualClock();
    const state = makeState("a", 1, clock);
    const added = state.set("g", "k", text("one"));
    expect(added.kind).toBe("added");
    expect(added.local).toBe(true);
    expect(added.node).toBe("a");
    expect(added.previous).toBeUndefined();
    expect(str(added.current.value)).toBe("one");
    expect(added.current.version).toBe(1);

    const updated = state.set("g", "k", text("two"));
    expect(updated.kind).toBe("updated");
    expect(str(updated.current.value)).toBe("two");
    expect(updated.current.version).toBe(2);
    expect(updated.previous && str(updated.previous.value)).toBe("one");
    expect(updated.previous?.version).toBe(1);

    const deleted = state.delete("g", "k");
    expect(deleted?.kind).toBe("deleted");
    expect(deleted?.previous && str(deleted.previous.value)).toBe("two");
    expect(deleted?.previous?.version).toBe(2);
    expect(state.self.maxVersion).toBe(3); // the tombstone has a version of its own
    expect(state.get("a", "g", "k")).toBeUndefined();

    // Nothing live to delete: no record and no new version.
    expect(state.delete("g", "k")).toBeNull();
    expect(state.delete("g", "never-written")).toBeNull();
    expect(state.self.maxVersion).toBe(3);

    // Writing a deleted key again is an addition, with no previous value.
    const again = state.set("g", "k", text("three"));
    expect(again.kind).toBe("added");
    expect(again.previous).toBeUndefined();
    expect(again.current.version).toBe(4);
  });

  test("a peer raises exactly one record per change it applies, with the previous value", () => {
    const clock = new ManualClock();
    const a = makeState("a", 1, clock);
    const b = makeState("b", 1, clock);
    a.set("g", "keep", text("k"));
    a.set("g", "change", text("old"));
    a.set("g", "drop", text("d"));
    const first = sync(a, b);
    expect(summary(first.changes)).toEqual(["added a g/change", "added a g/drop", "added a g/keep"]);
    for (const change of first.changes) {
      expect(change.local).toBe(false);
      expect(change.previous).toBeUndefined();
    }

    a.set("g", "change", text("new"));
    a.delete("g", "drop");
    a.set("g", "fresh", text("f"));
    const second = sync(a, b);
    expect(summary(second.changes)).toEqual(["added a g/fresh", "deleted a g/drop", "updated a g/change"]);
    const updated = second.changes.find((c) => c.kind === "updated")!;
    expect(str(updated.current.value)).toBe("new");
    expect(updated.current.version).toBe(4);
    expect(updated.previous && str(updated.previous.value)).toBe("old");
    expect(updated.previous?.version).toBe(2);
    const deleted = second.changes.find((c) => c.kind === "deleted")!;
    expect(deleted.previous && str(deleted.previous.value)).toBe("d");
    expect(deleted.previous?.version).toBe(3);

    // Nothing new: nothing selected, nothing raised.
    const third = sync(a, b);
    expect(third.deltas.filter((d) => d.node === "a")).toHaveLength(0);
    expect(third.changes).toHaveLength(0);
    expect(view(b, "a")).toEqual(view(a, "a"));
  });
});

describe("merge", () => {
  function entry(key: string, version: number, value: string, deleted = false): WireEntry {
    return { group: "g", key, version, valueType: ValueType.String, deleted, value: new TextEncoder().encode(value) };
  }
  function delta(fromVersion: number, maxVersion: number, entries: WireEntry[], generation = 1): NodeDelta {
    return { node: "a", generation, fromVersion, collectedUpTo: 0, maxVersion, entries };
  }

  test("applies only versions newer than what it holds", () => {
    const b = makeState("b", 1, new ManualClock());
    const first = mergeDeltas(b, [delta(0, 3, [entry("x", 1, "x1"), entry("y", 2, "y1"), entry("x", 3, "x2")])]);
    expect(first.applied).toBe(3);
    expect(first.skipped).toBe(0);
    expect(view(b, "a")).toEqual(["g/x=x2@3", "g/y=y1@2"]);

    // The same delta again, and an older copy of x: nothing changes, every entry is counted as skipped.
    const again = mergeDeltas(b, [delta(0, 3, [entry("x", 1, "x1"), entry("y", 2, "y1"), entry("x", 3, "x2")])]);
    expect(again.applied).toBe(0);
    expect(again.skipped).toBe(3);
    expect(again.changes).toHaveLength(0);
    const stale = mergeDeltas(b, [delta(0, 3, [entry("x", 2, "stale")])]);
    expect(stale.applied).toBe(0);
    expect(stale.changes).toHaveLength(0);
    expect(view(b, "a")).toEqual(["g/x=x2@3", "g/y=y1@2"]);

    // Mixed: stale entries are skipped, the newer one in the same delta applies.
    const mixed = mergeDeltas(b, [delta(1, 4, [entry("y", 2, "y1"), entry("x", 3, "x2"), entry("y", 4, "y2")])]);
    expect(mixed.applied).toBe(1);
    expect(mixed.skipped).toBe(2);
    expect(summary(mixed.changes)).toEqual(["updated a g/y"]);
    expect(view(b, "a")).toEqual(["g/x=x2@3", "g/y=y2@4"]);
  });

  test("an applied value is a copy: it does not keep the frame it arrived in alive", () => {
    const b = makeState("b", 1, new ManualClock());
    // A frame far larger than the value, as a SYN-ACK carrying a big digest is.
    const padding = Array.from({ length: 200 }, (_, i) => entry(`pad-${i}`, i + 1, "p".repeat(100)));
    const received = overTheWire([delta(0, 201, [...padding, entry("x", 201, "small")])]);
    mergeDeltas(b, received);
    const held = b.get("a", "g", "x")!;
    expect(new TextDecoder().decode(held.value)).toBe("small");
    expect(held.value.buffer.byteLength).toBe(held.value.byteLength);
  });

  test("a delta that would leave a gap below the max version is skipped whole, and the rest of the message applies", () => {
    const b = makeState("b", 1, new ManualClock());
    mergeDeltas(b, [delta(0, 2, [entry("x", 1, "x1"), entry("y", 2, "y1")])]);
    const gapped: NodeDelta = delta(5, 6, [entry("z", 6, "z")]);
    const other: NodeDelta = { node: "c", generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: 1, entries: [entry("w", 1, "w")] };
    const outcome = mergeDeltas(b, [gapped, other]);
    expect(outcome.skipped).toBe(1);
    expect(outcome.applied).toBe(1);
    expect(b.nodes.get("a")!.maxVersion).toBe(2);
    expect(b.get("a", "g", "z")).toBeUndefined();
    expect(view(b, "c")).toEqual(["g/w=w@1"]);
  });

  test("deltas about the receiver itself or from an older generation are ignored", () => {
    const b = makeState("b", 5, new ManualClock());
    b.set("g", "mine", text("m"));
    const aboutMe: NodeDelta = { node: "b", generation: 5, fromVersion: 0, collectedUpTo: 0, maxVersion: 9, entries: [entry("mine", 9, "forged")] };
    const outcome = mergeDeltas(b, [aboutMe]);
    expect(outcome.applied).toBe(0);
    expect(view(b, "b")).toEqual(["g/mine=m@1"]);

    mergeDeltas(b, [delta(0, 1, [entry("x", 1, "gen2")], 2)]);
    const older = mergeDeltas(b, [delta(0, 5, [entry("x", 5, "gen1")], 1)]);
    expect(older.applied).toBe(0);
    expect(older.skipped).toBe(1);
    expect(view(b, "a")).toEqual(["g/x=gen2@1"]);
    expect(b.nodes.get("a")!.generation).toBe(2);
  });
});

describe("the entry cap holds for remote nodes too", () => {
  const CAP = 4;

  test("new keys past maxEntriesPerNode are refused and counted; updates and deletes of held keys apply; a refused key arrives with its next write once there is room", () => {
    const clock = new ManualClock();
    const a = makeState("a", 1, clock); // the default cap: a holds more than b allows
    const b = makeState("b", 1, clock, 60_000, { maxEntriesPerNode: CAP });
    for (let i = 0; i < 10; i++) a.set("g", `k${i}`, text(`v${i}`));
    const first = mergeDeltas(b, overTheWire(selectDeltas(a, b.digest(), 1 << 20, keepOrder).deltas));
    expect({ applied: first.applied, refused: first.refused, skipped: first.skipped, refusedNodes: first.refusedNodes }).toEqual({ applied: CAP, refused: 10 - CAP, skipped: 10 - CAP, refusedNodes: ["a"] });
    expect(view(b, "a")).toEqual(["g/k0=v0@1", "g/k1=v1@2", "g/k2=v2@3", "g/k3=v3@4"]);
    // Refused for good: b is caught up (a's later writes are not held back behind them), and a
    // second sync sends nothing more.
    expect(b.nodes.get("a")!.maxVersion).toBe(a.self.maxVersion);
    expect(sync(a, b).applied).toBe(0);

    a.set("g", "k0", text("v0b")); // update of a held key
    a.delete("g", "k1"); // delete of a held key
    a.set("g", "k9", text("v9b")); // a refused key, written again: now there is room (3 live)
    a.set("g", "k8", text("v8b")); // and now there is none again
    const second = sync(a, b);
    expect(summary(second.changes)).toEqual(["added a g/k9", "deleted a g/k1", "updated a g/k0"]);
    expect(view(b, "a")).toEqual(["g/k0=v0b@11", "g/k2=v2@3", "g/k3=v3@4", "g/k9=v9b@13"]);
    expect(b.nodes.get("a")!.liveUserEntries).toBe(CAP);
    // The deleted key never comes back, whatever arrives later.
    expect(b.get("a", "g", "k1")).toBeUndefined();
    expect(b.nodes.get("a")!.entries.get("g\u0000k1")?.deleted).toBe(true);
  });

  test("tombstones and reserved entries of keys not held are capped as well, so a peer cannot fill memory with them", () => {
    const clock = new ManualClock();
    const b = makeState("b", 1, clock, 60_000, { maxEntriesPerNode: CAP });
    const tombstones: WireEntry[] = Array.from({ length: 10 }, (_, i) => ({ group: "g", key: `gone${i}`, version: i + 1, valueType: ValueType.String, deleted: true, value: new Uint8Array(0) }));
    const reserved: WireEntry[] = Array.from({ length: 3 }, (_, i) => ({ group: "__gb", key: `r${i}`, version: 11 + i, valueType: ValueType.String, deleted: false, value: Uint8Array.of(0x61) }));
    const live: WireEntry = { group: "g", key: "live", version: 14, valueType: ValueType.String, deleted: false, value: Uint8Array.of(0x61) };
    const outcome = mergeDeltas(b, [{ node: "hostile", generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: 14, entries: [...tombstones, ...reserved, live] }]);
    expect({ applied: outcome.applied, refused: outcome.refused }).toEqual({ applied: CAP + 1, refused: 10 + 3 - CAP });
    const held = b.nodes.get("hostile")!;
    expect(held.entries.size).toBe(CAP + 1);
    expect(view(b, "hostile")).toEqual(["g/live=a@14"]);
  });

  test("a peer pushing far more entries than the cap leaves exactly the cap held", () => {
    const b = makeState("b", 1, new ManualClock(), 60_000, { maxEntriesPerNode: 1000 });
    const entries: WireEntry[] = Array.from({ length: 50_000 }, (_, i) => ({ group: "g", key: `k${i}`, version: i + 1, valueType: ValueType.String, deleted: false, value: Uint8Array.of(0x61) }));
    const outcome = mergeDeltas(b, [{ node: "hostile", generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: 50_000, entries }]);
    expect({ applied: outcome.applied, refused: outcome.refused }).toEqual({ applied: 1000, refused: 49_000 });
    expect(b.nodes.get("hostile")!.entries.size).toBe(1000);
  });
});

describe("node names in digests", () => {
  test("an unknown name that breaks the node-name rule never becomes a member, and is reported; the rest of the digest applies", () => {
    const b = makeState("b", 1, new ManualClock());
    const entry = (node: string) => ({ node, generation: 1, heartbeat: 1, maxVersion: 0, collectedUpTo: 0 });
    const bad = ["", "a\nb", "\u202eevil", "with space", "é", "x".repeat(65)];
    for (let round = 0; round < 2; round++) {
      const outcome = applyDigest(b, [...bad.map(entry), entry("good-1")]);
      expect(outcome.invalidNames).toEqual(bad);
      expect(outcome.discovered).toEqual(round === 0 ? ["good-1"] : []);
    }
    expect([...b.nodes.names()].sort()).toEqual(["b", "good-1"]);
  });
});

describe("generations", () => {
  /** Generation 1 of "a" with keys k1..k6 (~120-byte values), fully known to b. */
  function setup() {
    const clock = new ManualClock();
    const a1 = makeState("a", 1, clock);
    const b = makeState("b", 1, clock);
    const pad = ".".repeat(120);
    for (let i = 1; i <= 6; i++) a1.set("g", `k${i}`, text(`old-${i}${pad}`));
    syncUntilCaughtUp(a1, b, 1 << 20);
    expect(view(b, "a")).toEqual(view(a1, "a"));
    // The restart: generation 2 keeps k1 as it was, changes k2, drops k3, k5 and k6, adds k4
    // (k4 existed before too: it changes), adds k7, and writes then deletes k6.
    const a2 = makeState("a", 2, clock);
    a2.set("g", "k7", text(`new-7${pad}`));
    a2.set("g", "k2", text(`new-2${pad}`));
    a2.set("g", "k1", text(`old-1${pad}`));
    a2.set("g", "k4", text(`new-4${pad}`));
    a2.set("g", "k6", text(`new-6${pad}`));
    a2.delete("g", "k6");
    return { clock, a1, a2, b, pad };
  }

  const expectedEvents = ["added a g/k7", "deleted a g/k3", "deleted a g/k5", "deleted a g/k6", "updated a g/k2", "updated a g/k4"];

  test("a higher generation replaces the old state: one event per real change, none for unchanged keys", () => {
    const { a2, b } = setup();
    const { changes } = syncUntilCaughtUp(a2, b, 1 << 20);
    expect(summary(changes)).toEqual(expectedEvents);
    expect(b.nodes.get("a")!.generation).toBe(2);
    expect(view(b, "a")).toEqual(view(a2, "a"));
  });

  test("over many small messages, vanished keys are deleted only once the new state caught up", () => {
    const { a2, b, pad } = setup();
    const changes: ChangeRecord[] = [];
    let caughtUp = false;
    // One ~136-byte entry per message (two never fit): the new generation arrives over several syncs.
    const budget = 200;
    for (let round = 0; round < 30 && !caughtUp; round++) {
      changes.push(...sync(a2, b, budget).changes);
      const held = b.nodes.get("a")!;
      caughtUp = held.maxVersion === a2.self.maxVersion;
      if (!caughtUp) {
        // Meanwhile the old copies still read, and nothing was reported deleted yet.
        expect(changes.filter((c) => c.kind === "deleted")).toHaveLength(0);
        expect(b.get("a", "g", "k3") && str(b.get("a", "g", "k3")!.value)).toBe(`old-3${pad}`);
        expect(b.get("a", "g", "k1") && str(b.get("a", "g", "k1")!.value)).toBe(`old-1${pad}`);
      }
    }
    expect(caughtUp).toBe(true);
    expect(summary(changes)).toEqual(expectedEvents);
    expect(view(b, "a")).toEqual(view(a2, "a"));
    expect(b.nodes.get("a")!.replaced).toBeNull();
  });

  test("the new generation also replaces the old one when it arrives without a digest (ACK, push)", () => {
    const { a2, b } = setup();
    const changes: ChangeRecord[] = [];
    for (let round = 0; round < 10; round++) changes.push(...sync(a2, b, 1 << 20, false).changes);
    expect(summary(changes)).toEqual(expectedEvents);
    expect(view(b, "a")).toEqual(view(a2, "a"));
  });

  test("a new generation first heard of through a delta is reported as discovered, once", () => {
    // The membership learns of restarts from `discovered`: missing it, it would remove the old
    // generation later, taking the new one out of this state with it.
    const { a2, b } = setup();
    const first = mergeDeltas(b, overTheWire(selectDeltas(a2, b.digest(), 1 << 20, keepOrder).deltas));
    expect(first.discovered).toEqual(["a"]);
    expect(b.nodes.get("a")!.generation).toBe(2);
    a2.set("g", "k8", text("later"));
    expect(mergeDeltas(b, overTheWire(selectDeltas(a2, b.digest(), 1 << 20, keepOrder).deltas)).discovered).toEqual([]);
  });

  test("a restarted node that has written nothing yet leaves none of its old entries behind", () => {
    const clock = new ManualClock();
    const a1 = makeState("a", 1, clock);
    const b = makeState("b", 1, clock);
    const c = makeState("c", 1, clock);
    a1.set("g", "x", text("1"));
    a1.set("g", "y", text("2"));
    sync(a1, b);
    sync(a1, c);
    expect(view(b, "a")).toHaveLength(2);
    const a2 = makeState("a", 2, clock); // restarted, empty
    a2.bumpHeartbeat();
    const early = sync(a2, b).changes;
    // Just restarted: its entries may still be on their way, so the old ones stay for now.
    expect(b.nodes.get("a")!.generation).toBe(2);
    expect(early).toHaveLength(0);
    expect(view(b, "a")).toHaveLength(2);
    // Still nothing after EMPTY_GENERATION_HEARTBEATS rounds: the new generation has no entries.
    const changes: ChangeRecord[] = [];
    for (let round = 1; round < EMPTY_GENERATION_HEARTBEATS; round++) {
      a2.bumpHeartbeat();
      changes.push(...sync(a2, b).changes);
    }
    expect(view(b, "a")).toEqual([]);
    expect(b.get("a", "g", "x")).toBeUndefined();
    expect(summary(changes)).toEqual(["deleted a g/x", "deleted a g/y"]);
    expect(b.nodes.get("a")!.replaced).toBeNull();
    // A third node hearing of the restart only from b ends the same way.
    const fromB = [...sync(b, c).changes, ...sync(b, c).changes];
    expect(view(c, "a")).toEqual([]);
    expect(summary(fromB)).toEqual(["deleted a g/x", "deleted a g/y"]);
  });

  test("hearing of a new generation from a node that has none of its entries yet drops nothing", () => {
    const clock = new ManualClock();
    const a1 = makeState("a", 1, clock);
    const b = makeState("b", 1, clock);
    const t = makeState("t", 1, clock);
    a1.set("g", "x", text("same"));
    a1.set("g", "y", text("old"));
    sync(a1, b);
    sync(a1, t);
    const a2 = makeState("a", 2, clock);
    a2.set("g", "x", text("same"));
    a2.set("g", "z", text("new"));
    a2.bumpHeartbeat();
    // t learns of generation 2 from a digest only; b hears of it from t, at version 0.
    expect(applyDigest(t, a2.digest()).changes).toHaveLength(0);
    expect(t.nodes.get("a")!.maxVersion).toBe(0);
    expect(applyDigest(b, t.digest()).changes).toHaveLength(0);
    expect(b.nodes.get("a")!.generation).toBe(2);
    expect(view(b, "a").map((line) => line.replace(/@\d+$/, ""))).toEqual(["g/x=same", "g/y=old"]);
    // b hears from a itself that generation 2 has versions; much later t, still without them,
    // reports it at version 0 with a heartbeat past EMPTY_GENERATION_HEARTBEATS: b keeps waiting.
    expect(applyDigest(b, a2.digest()).changes).toHaveLength(0);
    for (let i = 0; i < 2 * EMPTY_GENERATION_HEARTBEATS; i++) a2.bumpHeartbeat();
    applyDigest(t, a2.digest());
    expect(t.nodes.get("a")!.maxVersion).toBe(0);
    expect(applyDigest(b, t.digest()).changes).toHaveLength(0);
    expect(view(b, "a").map((line) => line.replace(/@\d+$/, ""))).toEqual(["g/x=same", "g/y=old"]);
    // The entries then arrive: exactly the real changes, nothing for the unchanged key.
    const { changes } = syncUntilCaughtUp(a2, b, 1 << 20, 3);
    expect(summary(changes)).toEqual(["added a g/z", "deleted a g/y"]);
    expect(view(b, "a")).toEqual(view(a2, "a"));
  });
});

describe("tombstones", () => {
  test("are collected after the grace period, and collectedUpTo advances to the last collected version", () => {
    const clock = new ManualClock();
    const grace = 10_000;
    const a = makeState("a", 1, clock, grace);
    const b = makeState("b", 1, clock, grace);
    for (let i = 1; i <= 5; i++) a.set("g", `k${i}`, text(`${i}`)); // versions 1..5
    a.delete("g", "k2"); // version 6, at t0
    sync(a, b);
    clock.advance(4_000);
    a.delete("g", "k4"); // version 7, at t0 + 4 s
    sync(a, b);
    const tombstones = (s: ClusterState) => [...s.nodes.get("a")!.entries.values()].filter((e) => e.deleted).map((e) => e.version);
    expect(tombstones(a)).toEqual([6, 7]);
    expect(tombstones(b)).toEqual([6, 7]);

    clock.advance(grace - 4_000 - 1); // 1 ms short of the first tombstone's grace
    expect(a.sweep()).toHaveLength(0);
    expect(tombstones(a)).toEqual([6, 7]);
    expect(a.self.collectedUpTo).toBe(0);

    clock.advance(1);
    a.sweep();
    b.sweep(); // b received the first tombstone at the same time: it collects it too
    expect(tombstones(a)).toEqual([7]);
    expect(a.self.collectedUpTo).toBe(6);
    expect(tombstones(b)).toEqual([7]);
    expect(b.nodes.get("a")!.collectedUpTo).toBe(6);

    clock.advance(4_000);
    a.sweep();
    b.sweep();
    expect(tombstones(a)).toEqual([]);
    expect(a.self.collectedUpTo).toBe(7);
    expect(b.nodes.get("a")!.collectedUpTo).toBe(7);
    expect(a.digest().find((d) => d.node === "a")?.collectedUpTo).toBe(7);
    // Collection never touches live entries.
    expect(view(a, "a")).toEqual(["g/k1=1@1", "g/k3=3@3", "g/k5=5@5"]);
    expect(view(b, "a")).toEqual(view(a, "a"));
  });

  test("a peer behind the collected point gets the full state and ends with no deleted key", () => {
    const clock = new ManualClock();
    const grace = 1_000;
    const a = makeState("a", 1, clock, grace);
    const c = makeState("c", 1, clock, grace);
    for (let i = 1; i <= 6; i++) a.set("g", `k${i}`, text(`${i}`)); // versions 1..6
    sync(a, c); // c knows versions 1..6
    a.delete("g", "k2"); // 7
    a.set("g", "k3", text("three")); // 8
    a.delete("g", "k5"); // 9
    a.set("g", "k7", text("7")); // 10
    clock.advance(grace);
    a.sweep();
    expect(a.self.collectedUpTo).toBe(9);

    const selection = selectDeltas(a, c.digest(), 1 << 20, keepOrder);
    const forA = selection.deltas.find((d) => d.node === "a")!;
    expect(forA.fromVersion).toBe(0);
    expect(forA.entries.map((e) => e.version)).toEqual([1, 4, 6, 8, 10]); // every surviving version

    const { changes } = syncUntilCaughtUp(a, c, 1 << 20);
    expect(view(c, "a")).toEqual(["g/k1=1@1", "g/k3=three@8", "g/k4=4@4", "g/k6=6@6", "g/k7=7@10"]);
    expect(c.get("a", "g", "k2")).toBeUndefined();
    expect(c.get("a", "g", "k5")).toBeUndefined();
    expect(summary(changes)).toEqual(["added a g/k7", "deleted a g/k2", "deleted a g/k5", "updated a g/k3"]);
    expect(c.nodes.get("a")!.collectedUpTo).toBe(9);
    // Caught up: the next selection is incremental again (nothing to send).
    expect(selectDeltas(a, c.digest(), 1 << 20, keepOrder).deltas).toHaveLength(0);
  });

  test("a full state whose newest versions were collected still completes, and drops the deleted keys", () => {
    const clock = new ManualClock();
    const grace = 1_000;
    const a = makeState("a", 1, clock, grace);
    const c = makeState("c", 1, clock, grace);
    const d = makeState("d", 1, clock, grace);
    a.set("g", "keep", text("k")); // 1
    a.set("g", "drop", text("d")); // 2
    a.set("g", "gone", text("x")); // 3
    sync(a, c);
    sync(a, d);
    a.delete("g", "drop"); // 4
    a.delete("g", "gone"); // 5: the newest version is a tombstone
    clock.advance(grace);
    a.sweep();
    expect(a.self.collectedUpTo).toBe(5);
    expect([...a.self.entries.values()].map((e) => e.version)).toEqual([1]);

    const { changes } = syncUntilCaughtUp(a, c, 1 << 20, 3);
    expect(view(c, "a")).toEqual(["g/keep=k@1"]);
    expect(summary(changes)).toEqual(["deleted a g/drop", "deleted a g/gone"]);
    expect(c.nodes.get("a")!.maxVersion).toBe(5);
    // Caught up: nothing more to send either way.
    expect(selectDeltas(a, c.digest(), 1 << 20, keepOrder).deltas).toHaveLength(0);

    // Everything deleted: the full state has no entry at all.
    a.delete("g", "keep"); // 6
    clock.advance(grace);
    a.sweep();
    expect(a.self.entries.size).toBe(0);
    const emptied = syncUntilCaughtUp(a, d, 1 << 20, 3);
    expect(view(d, "a")).toEqual([]);
    expect(summary(emptied.changes)).toEqual(["deleted a g/drop", "deleted a g/gone", "deleted a g/keep"]);
    // A node that never heard of "a" learns its versions without any event.
    const fresh = makeState("fresh", 1, clock, grace);
    const learnt = syncUntilCaughtUp(a, fresh, 1 << 20, 3);
    expect(learnt.changes).toHaveLength(0);
    expect(fresh.nodes.get("a")!.maxVersion).toBe(6);
  });

  test("the full state also arrives intact over many small messages, and through a third node", () => {
    const clock = new ManualClock();
    const grace = 1_000;
    const a = makeState("a", 1, clock, grace);
    const b = makeState("b", 1, clock, grace);
    const c = makeState("c", 1, clock, grace);
    for (let i = 1; i <= 20; i++) a.set("g", `k${i}`, text(`value-${i}`));
    sync(a, c);
    for (let i = 1; i <= 20; i += 3) a.delete("g", `k${i}`);
    for (let i = 2; i <= 20; i += 4) a.set("g", `k${i}`, text(`changed-${i}`));
    syncUntilCaughtUp(a, b, 1 << 20);
    clock.advance(grace);
    a.sweep();
    b.sweep();
    expect(b.nodes.get("a")!.collectedUpTo).toBe(a.self.collectedUpTo);
    expect(a.self.collectedUpTo).toBeGreaterThan(20);

    // c only ever talks to b, in messages that hold a few entries each.
    const changes: ChangeRecord[] = [];
    for (let round = 0; round < 40; round++) changes.push(...sync(b, c, 120).changes);
    expect(view(c, "a")).toEqual(view(a, "a"));
    // k10 was deleted and then written again: it is the one deleted key that is live.
    const gone = [1, 4, 7, 13, 16, 19].map((i) => `k${i}`);
    for (const key of gone) expect(c.get("a", "g", key)).toBeUndefined();
    expect(c.get("a", "g", "k10") && str(c.get("a", "g", "k10")!.value)).toBe("changed-10");
    const deleted = changes.filter((ch) => ch.kind === "deleted").map((ch) => ch.key).sort();
    expect(deleted).toEqual([...gone].sort());
    expect(new Set(changes.map((ch) => ch.key)).size).toBe(changes.length); // one event per key at most
  });
});

describe("damaged entries", () => {
  const settings: GossipSettings = {
    gossipIntervalMs: 1000,
    fanout: 1,
    maxGossipBytes: 1 << 20,
    pushFanout: 0,
    maxNameBytes: 64,
    maxKeyBytes: 256,
    maxValueBytes: 65536,
  };

  function threeEntryDelta(middleType: number): NodeDelta {
    const enc = (s: string) => new TextEncoder().encode(s);
    return {
      node: "a",
      generation: 1,
      fromVersion: 0,
      collectedUpTo: 0,
      maxVersion: 3,
      entries: [
        { group: "g", key: "first", version: 1, valueType: ValueType.String, deleted: false, value: enc("1") },
        { group: "g", key: "middle", version: 2, valueType: middleType, deleted: false, value: enc("2") },
        { group: "g", key: "last", version: 3, valueType: ValueType.String, deleted: false, value: enc("3") },
      ],
    };
  }
  const other: NodeDelta = {
    node: "c",
    generation: 1,
    fromVersion: 0,
    collectedUpTo: 0,
    maxVersion: 1,
    entries: [{ group: "g", key: "other", version: 1, valueType: ValueType.Bool, deleted: false, value: new Uint8Array([1]) }],
  };

  function ackBytes(deltas: NodeDelta[]): Uint8Array {
    const writer = new FrameWriter();
    writer.begin(MessageType.Ack);
    writePage(writer, { ranges: [], entries: [] }); // the exchange's last ACK: no page
    writeDeltas(writer, deltas);
    writer.end();
    return writer.finish();
  }

  /** The offset of the middle entry's kind byte, found by writing it with two different types. */
  function kindByteOffset(): number {
    const asString = ackBytes([threeEntryDelta(ValueType.String), other]);
    const asBytes = ackBytes([threeEntryDelta(ValueType.Bytes), other]);
    expect(asBytes.length).toBe(asString.length);
    const differing: number[] = [];
    for (let i = 0; i < asString.length; i++) if (asString[i] !== asBytes[i]) differing.push(i);
    expect(differing).toHaveLength(1);
    return differing[0]!;
  }

  function receive(bytes: Uint8Array) {
    const clock = new VirtualClock();
    const state = new ClusterState("b", 1, clock, { tombstoneGraceMs: 60_000, limits: defaultStateLimits });
    const changes: ChangeRecord[] = [];
    const errors: unknown[] = [];
    const engine = new GossipEngine(state, clock, createRandom(1), settings, { get: () => ["b"] });
    const frames: Frame[] = [];
    new FrameDecoder().push(bytes, (frame) => frames.push(frame));
    expect(frames).toHaveLength(1);
    const outcome = engine.handleFrame("a", frames[0]!);
    expect(outcome).not.toBeNull();
    changes.push(...outcome!.changes);
    if (outcome!.protocolError) errors.push(outcome!.protocolError);
    return { state, engine, changes, errors };
  }

  for (const [label, corrupt] of [
    ["an unknown value type", (kind: number) => (kind & 0xf0) | 0x0c],
    ["reserved kind bits set", (kind: number) => kind | 0x30],
  ] as const) {
    test(`an entry with ${label} is skipped and counted; the rest of the message applies`, () => {
      const offset = kindByteOffset();
      const bytes = ackBytes([threeEntryDelta(ValueType.String), other]);
      expect(bytes[offset]).toBe(ValueType.String);
      bytes[offset] = corrupt(bytes[offset]!);

      // The decoder reports the one entry and keeps the others.
      const frames: Frame[] = [];
      new FrameDecoder().push(bytes, (frame) => frames.push(frame));
      const reader = new BodyReader(frames[0]!.body);
      expect(readPage(reader, 64)).toEqual({ ranges: [], entries: [] });
      const decoded = readDeltas(reader, readLimits);
      expect(decoded.skipped).toHaveLength(1);
      expect(decoded.skipped[0]!.field).toBe("entry.kind");
      expect(decoded.deltas.map((d) => d.entries.map((e) => e.key))).toEqual([["first", "last"], ["other"]]);

      // Through the engine: counted as skipped, no protocol error, the rest applied.
      const { state, engine, changes, errors } = receive(bytes);
      expect(errors).toHaveLength(0);
      expect(engine.stats.decodeErrors).toBe(0);
      expect(engine.stats.entriesReceived).toBe(4);
      expect(engine.stats.entriesSkipped).toBe(1);
      expect(engine.stats.entriesApplied).toBe(3);
      expect(summary(changes)).toEqual(["added a g/first", "added a g/last", "added c g/other"]);
      expect(state.get("a", "g", "middle")).toBeUndefined();
      expect(decodeValue(ValueType.Bool, state.get("c", "g", "other")!.value)).toBe(true);
    });
  }

  test("an entry whose inner lengths are damaged is skipped on its own", () => {
    const offset = kindByteOffset();
    const bytes = ackBytes([threeEntryDelta(ValueType.String), other]);
    // Before the kind byte come the version (1 byte) and the key "middle" (6 bytes) with its
    // one-byte length prefix: damage that prefix so the key runs past the entry's end.
    const keyLengthAt = offset - 1 - 6 - 1;
    expect(bytes[keyLengthAt]).toBe(6);
    bytes[keyLengthAt] = 60;
    const { state, engine } = receive(bytes);
    expect(engine.stats.entriesSkipped).toBe(1);
    expect(engine.stats.decodeErrors).toBe(0);
    expect(view(state, "a")).toEqual(["g/first=1@1", "g/last=3@3"]);
    expect(state.get("c", "g", "other")).toBeDefined();
  });

  test("an entry of an unknown type handed straight to the merge is skipped and counted", () => {
    const b = makeState("b", 1, new ManualClock());
    const outcome = mergeDeltas(b, [threeEntryDelta(13), other]);
    expect(outcome.skipped).toBe(1);
    expect(outcome.applied).toBe(3);
    expect(view(b, "a")).toEqual(["g/first=1@1", "g/last=3@3"]);
  });
});

describe("TTL", () => {
  test("an entry with a ttl expires on its origin as a tombstone with a new version", () => {
    const clock = new ManualClock();
    const a = makeState("a", 1, clock);
    a.set("g", "plain", text("p")); // 1
    const set = a.set("g", "session", text("s"), 5_000); // 2
    expect(a.self.entries.get("g\u0000session")?.expiresAt).toBe(WALL_EPOCH + 5_000);
    expect(set.current.version).toBe(2);

    clock.advance(4_999);
    expect(a.sweep()).toHaveLength(0);
    expect(a.get("a", "g", "session")).toBeDefined();

    clock.advance(1);
    const expired = a.sweep();
    expect(expired).toHaveLength(1);
    expect(expired[0]!.kind).toBe("expired");
    expect(expired[0]!.local).toBe(true);
    expect(expired[0]!.key).toBe("session");
    expect(str(expired[0]!.previous!.value)).toBe("s");
    expect(expired[0]!.previous!.version).toBe(2);
    expect(a.get("a", "g", "session")).toBeUndefined();
    const tombstone = a.self.entries.get("g\u0000session")!;
    expect(tombstone.deleted).toBe(true);
    expect(tombstone.version).toBe(3);
    expect(a.self.maxVersion).toBe(3);
    expect(a.sweep()).toHaveLength(0); // expires once
    expect(view(a, "a")).toEqual(["g/plain=p@1"]);
  });

  test("receivers expire the entry on their own, and the origin's tombstone raises no second event", () => {
    const clock = new ManualClock();
    const a = makeState("a", 1, clock);
    const b = makeState("b", 1, clock);
    const late = makeState("late", 1, clock);
    a.set("g", "session", text("s"), 5_000);
    a.set("g", "plain", text("p"));
    sync(a, b);
    expect(b.nodes.get("a")!.entries.get("g\u0000session")?.expiresAt).toBe(WALL_EPOCH + 5_000);

    clock.advance(5_000);
    // b sweeps before hearing anything more from a.
    const atB = b.sweep();
    expect(atB.map((c) => `${c.kind} ${c.node} ${c.key} ${c.local}`)).toEqual(["expired a session false"]);
    expect(b.get("a", "g", "session")).toBeUndefined();
    expect(view(b, "a")).toEqual(["g/plain=p@2"]);

    a.sweep();
    const after = sync(a, b);
    expect(after.changes).toHaveLength(0);
    expect(b.nodes.get("a")!.maxVersion).toBe(3);
    expect(b.sweep()).toHaveLength(0);

    // A node that never saw the live entry gets only the tombstone: no event, nothing live.
    const fresh = sync(a, late);
    expect(summary(fresh.changes)).toEqual(["added a g/plain"]);
    expect(view(late, "a")).toEqual(["g/plain=p@2"]);
  });

  test("when the origin's tombstone arrives before the receiver's own sweep, it is still one expiry", () => {
    const clock = new ManualClock();
    const a = makeState("a", 1, clock);
    const b = makeState("b", 1, clock);
    a.set("g", "session", text("s"), 5_000);
    a.set("g", "gone", text("g"), 60_000);
    sync(a, b);
    clock.advance(5_000);
    a.sweep(); // the origin expires first...
    a.delete("g", "gone"); // ...and deletes a key whose TTL has not run out
    const arrived = sync(a, b); // ...before b swept
    expect(arrived.changes.map((c) => `${c.kind} ${c.key}`).sort()).toEqual(["deleted gone", "expired session"]);
    const expired = arrived.changes.find((c) => c.kind === "expired")!;
    expect(expired.local).toBe(false);
    expect(str(expired.previous!.value)).toBe("s");
    expect(expired.previous!.version).toBe(1);
    expect(b.sweep()).toHaveLength(0); // and no second event
    expect(b.get("a", "g", "session")).toBeUndefined();
  });

  test("an entry that arrives already expired is held as a tombstone and never shown live", () => {
    const clock = new ManualClock();
    const a = makeState("a", 1, clock);
    const b = makeState("b", 1, clock);
    a.set("g", "brief", text("b"), 1_000);
    clock.advance(2_000); // a has not swept yet (it was frozen, say)
    expect(summary(sync(a, b).changes)).toEqual([]);
    expect(b.get("a", "g", "brief")).toBeUndefined();
    expect(b.nodes.get("a")?.entries.get("g\u0000brief")?.deleted).toBe(true);
    expect(b.sweep()).toEqual([]);
  });

  test("a live copy updated by a version that arrives already expired is reported expired", () => {
    const clock = new ManualClock();
    const a = makeState("a", 1, clock);
    const b = makeState("b", 1, clock);
    a.set("g", "k", text("long"));
    sync(a, b);
    a.set("g", "k", text("brief"), 1_000);
    clock.advance(2_000);
    expect(summary(sync(a, b).changes)).toEqual(["expired a g/k"]);
    expect(b.get("a", "g", "k")).toBeUndefined();
  });
});

describe("writtenAt: the origin's wall-clock time of each write", () => {
  /** The writtenAt `holder` keeps for `owner`'s g/key (tombstones included). */
  function writtenAt(holder: ClusterState, owner: string, key: string): number | undefined {
    return holder.nodes.get(owner)?.lookup(`g\u0000${key}`)?.writtenAt;
  }

  test("every local write records the wall clock when it was made: set, set with a ttl, delete, and the owner's expiry", () => {
    const clock = new ManualClock();
    const a = makeState("a", 1, clock);
    expect(a.set("g", "k", text("one")).writtenAt).toBe(WALL_EPOCH);
    expect(writtenAt(a, "a", "k")).toBe(WALL_EPOCH);
    clock.advance(250);
    expect(a.set("g", "session", text("s"), 1_000).writtenAt).toBe(WALL_EPOCH + 250);
    clock.advance(250);
    // The delete's own time, not the time the value that went away was written.
    expect(a.delete("g", "k")!.writtenAt).toBe(WALL_EPOCH + 500);
    expect(writtenAt(a, "a", "k")).toBe(WALL_EPOCH + 500);
    clock.advance(1_000);
    const [expired] = a.sweep();
    expect([expired!.kind, expired!.writtenAt]).toEqual(["expired", WALL_EPOCH + 1_500]);
    expect(writtenAt(a, "a", "session")).toBe(WALL_EPOCH + 1_500);
    // A virtual clock can read fractions of a millisecond; the wire carries whole ones.
    clock.wall += 0.6;
    expect(a.set("g", "k", text("two")).writtenAt).toBe(WALL_EPOCH + 1_501);
  });

  test("travels unchanged to a peer, on through a relay, and in a full-state transfer; records carry it", () => {
    const clock = new ManualClock();
    const grace = 1_000;
    const a = makeState("a", 1, clock, grace);
    const b = makeState("b", 1, clock, grace);
    const c = makeState("c", 1, clock, grace);
    a.set("g", "k1", text("1")); // version 1 at WALL_EPOCH
    clock.advance(100);
    a.set("g", "k2", text("2")); // version 2 at +100
    clock.advance(5_000); // the copies are made long after the writes
    const atB = sync(a, b).changes;
    expect(atB.map((change) => [change.kind, change.key, change.writtenAt])).toEqual([
      ["added", "k1", WALL_EPOCH],
      ["added", "k2", WALL_EPOCH + 100],
    ]);
    clock.advance(5_000);
    const atC = sync(b, c).changes; // c hears of a's writes only through b
    expect(atC.map((change) => [change.key, change.writtenAt])).toEqual([["k1", WALL_EPOCH], ["k2", WALL_EPOCH + 100]]);
    for (const key of ["k1", "k2"]) expect(writtenAt(c, "a", key)).toBe(writtenAt(a, "a", key)!);

    // b misses a delete whose tombstone is then collected: b gets a's whole state.
    a.delete("g", "k1"); // version 3 at +10100
    clock.advance(10);
    a.set("g", "k3", text("3")); // version 4 at +10110
    clock.advance(grace);
    a.sweep();
    expect(a.self.collectedUpTo).toBe(3);
    expect(selectDeltas(a, b.digest(), 1 << 20, keepOrder).deltas.find((d) => d.node === "a")!.fromVersion).toBe(0);
    const full = syncUntilCaughtUp(a, b, 1 << 20).changes;
    expect(writtenAt(b, "a", "k2")).toBe(WALL_EPOCH + 100);
    expect(writtenAt(b, "a", "k3")).toBe(WALL_EPOCH + 10_110);
    const byKey = new Map(full.map((change) => [change.key, change]));
    expect([byKey.get("k3")!.kind, byKey.get("k3")!.writtenAt]).toEqual(["added", WALL_EPOCH + 10_110]);
    // k1's tombstone was collected: its deletion is inferred from the full state, and when it was
    // made is no longer known.
    expect(byKey.get("k1")!.kind).toBe("deleted");
    expect("writtenAt" in byKey.get("k1")!).toBe(false);
  });

  test("never decides which version wins: versions alone do", () => {
    const clock = new ManualClock();
    const b = makeState("b", 1, clock);
    const wire = (version: number, value: string, time?: number): WireEntry => {
      const entry: WireEntry = { group: "g", key: "k", version, valueType: ValueType.String, deleted: false, value: new TextEncoder().encode(value) };
      if (time !== undefined) entry.writtenAt = time;
      return entry;
    };
    const deltaOf = (from: number, entry: WireEntry): NodeDelta[] => [{ node: "a", generation: 1, fromVersion: from, collectedUpTo: 0, maxVersion: entry.version, entries: [entry] }];
    mergeDeltas(b, overTheWire(deltaOf(0, wire(1, "first", WALL_EPOCH))));
    // A newer version written "earlier" (the owner's clock stepped back) still wins.
    const newer = mergeDeltas(b, overTheWire(deltaOf(1, wire(2, "second", WALL_EPOCH - 60_000))));
    expect([newer.applied, newer.changes[0]!.kind, newer.changes[0]!.writtenAt]).toEqual([1, "updated", WALL_EPOCH - 60_000]);
    // The same version again with a later time changes nothing.
    const same = mergeDeltas(b, overTheWire(deltaOf(1, wire(2, "impostor", WALL_EPOCH + 60_000))));
    expect([same.applied, same.skipped, same.changes.length]).toEqual([0, 1, 0]);
    expect(str(b.get("a", "g", "k")!.value)).toBe("second");
    expect(writtenAt(b, "a", "k")).toBe(WALL_EPOCH - 60_000);
    // An entry without writtenAt (a sender that does not stamp) applies, and records none.
    const bare = mergeDeltas(b, overTheWire(deltaOf(2, wire(3, "third"))));
    expect(bare.applied).toBe(1);
    expect("writtenAt" in bare.changes[0]!).toBe(false);
    expect(writtenAt(b, "a", "k")).toBeUndefined();
  });

  test("an expiry a receiver notices on its own carries none; the owner's expiry tombstone carries the owner's time", () => {
    const clock = new ManualClock();
    const a = makeState("a", 1, clock);
    const b = makeState("b", 1, clock);
    const c = makeState("c", 1, clock);
    a.set("g", "session", text("s"), 1_000);
    sync(a, b);
    sync(a, c);
    clock.advance(1_000);
    const [noticed] = b.sweep();
    expect(noticed!.kind).toBe("expired");
    expect("writtenAt" in noticed!).toBe(false);
    a.sweep(); // the owner's tombstone, at +1000
    clock.advance(40);
    const [fromOwner] = sync(a, c).changes;
    expect([fromOwner!.kind, fromOwner!.writtenAt]).toEqual(["expired", WALL_EPOCH + 1_000]);
  });
});

describe("removed nodes: the registry and readmission", () => {
  const entry = (node: string, generation: number, heartbeat: number, maxVersion = 0): DigestEntry => ({ node, generation, heartbeat, maxVersion, collectedUpTo: 0 });
  const MEMORY_MS = 20_000;

  /** A state that held node x (generation 3, heartbeat 50, one entry) and removed it as `as`. */
  function removedX(as: "dead" | "left"): { clock: ManualClock; state: ClusterState } {
    const clock = new ManualClock();
    const state = makeState("a", 1, clock);
    const x = makeState("x", 3, clock);
    x.set("app", "k", encodeValue("v"));
    applyDigest(state, [entry("x", 3, 50, 1)]);
    mergeDeltas(state, selectDeltas(x, state.digest(), 1 << 20, keepOrder).deltas);
    expect(state.get("x", "app", "k")).toBeDefined();
    expect(state.removeNode("x", 3, as, MEMORY_MS)).toBe(true);
    expect(state.nodes.has("x")).toBe(false);
    expect(state.removed.statusOf("x")).toBe(as);
    return { clock, state };
  }

  test("a copy at the removal heartbeat or below, or of an older generation, is not learned again", () => {
    const { state } = removedX("dead");
    for (const stale of [entry("x", 3, 50), entry("x", 3, 12), entry("x", 2, 900)]) {
      expect(applyDigest(state, [stale])).toEqual({ heartbeats: [], discovered: [], changes: [], invalidNames: [], refusedNames: 0 });
      expect(state.nodes.has("x")).toBe(false);
    }
    // Nor by delta, at any heartbeat.
    expect(mergeDeltas(state, [{ node: "x", generation: 3, fromVersion: 0, collectedUpTo: 0, maxVersion: 1, entries: [] }]).discovered).toEqual([]);
    expect(state.nodes.has("x")).toBe(false);
  });

  test("removed as dead, a heartbeat past the removal readmits it with what was held, its live entries reported again; only newer versions apply", () => {
    const { state } = removedX("dead");
    const learnt = applyDigest(state, [entry("x", 3, 51, 1)]);
    expect(learnt.heartbeats).toEqual(["x"]);
    expect(learnt.changes.map((change) => [change.kind, change.key, change.current.version])).toEqual([["added", "k", 1]]);
    expect(state.nodes.get("x")?.generation).toBe(3);
    expect(state.heartbeatOf("x")).toBe(51);
    expect(state.removed.statusOf("x")).toBeUndefined();
    expect(state.get("x", "app", "k")?.version).toBe(1);
    // The same version again from a peer is nothing new.
    const again = mergeDeltas(state, [{ node: "x", generation: 3, fromVersion: 0, collectedUpTo: 0, maxVersion: 1, entries: [{ group: "app", key: "k", value: encodeValue("v").bytes, valueType: ValueType.String, version: 1, deleted: false }] }]);
    expect(again.changes).toEqual([]);
  });

  test("a key deleted before the removal does not come back after the readmission from a peer that missed the delete (I2)", () => {
    const clock = new ManualClock();
    const state = makeState("a", 1, clock);
    const x = makeState("x", 3, clock);
    x.set("app", "k", encodeValue("v"));
    const missedDelete = makeState("p", 1, clock);
    for (const holder of [state, missedDelete]) {
      applyDigest(holder, [entry("x", 3, 50, 1)]);
      mergeDeltas(holder, selectDeltas(x, holder.digest(), 1 << 20, keepOrder).deltas);
    }
    x.delete("app", "k");
    mergeDeltas(state, selectDeltas(x, state.digest(), 1 << 20, keepOrder).deltas);
    expect(state.get("x", "app", "k")).toBeUndefined();
    expect(state.removeNode("x", 3, "dead", MEMORY_MS)).toBe(true);
    expect(applyDigest(state, [entry("x", 3, 51, 2)]).changes).toEqual([]);
    // The peer offers all it holds of x: version 1, live.
    const offered = mergeDeltas(state, selectDeltas(missedDelete, state.digest(), 1 << 20, keepOrder).deltas);
    expect(offered.changes).toEqual([]);
    expect(state.get("x", "app", "k")).toBeUndefined();
  });

  test("a heartbeat of the removed generation, after a newer one was learned, readmits nothing and keeps the newer record", () => {
    const { state } = removedX("dead");
    // The restarted process (generation 4) heard of through a peer's delta.
    mergeDeltas(state, [{ node: "x", generation: 4, fromVersion: 0, collectedUpTo: 0, maxVersion: 0, entries: [] }], "peer");
    expect(state.nodes.get("x")?.generation).toBe(4);
    // A node that missed the crash still relays the old process's last heartbeats.
    expect(applyDigest(state, [entry("x", 3, 51, 1)]).changes).toEqual([]);
    expect(state.nodes.get("x")?.generation).toBe(4);
    expect(state.get("x", "app", "k")).toBeUndefined();
  });

  test("removed as left, no heartbeat readmits it at its generation; a new generation is a new node", () => {
    const { state } = removedX("left");
    expect(applyDigest(state, [entry("x", 3, 10_000)]).heartbeats).toEqual([]);
    expect(state.nodes.has("x")).toBe(false);
    expect(applyDigest(state, [entry("x", 4, 1)]).discovered).toEqual(["x"]);
  });

  test("a removal of an older generation than the one held changes nothing; of a newer one, bars that one", () => {
    const clock = new ManualClock();
    const state = makeState("a", 1, clock);
    applyDigest(state, [entry("x", 3, 50)]);
    // The membership decided to remove generation 2 while this state already learned 3 (a restart).
    expect(state.removeNode("x", 2, "dead", MEMORY_MS)).toBe(false);
    expect(state.nodes.get("x")?.generation).toBe(3);
    expect(state.removed.size).toBe(0);
    // The membership heard of generation 4 first-hand (a PONG) and removed it: 3 goes, 4 is barred.
    expect(state.removeNode("x", 4, "left", MEMORY_MS)).toBe(true);
    expect(state.nodes.has("x")).toBe(false);
    expect(state.isRemoved("x", 4)).toBe(true);
    expect(applyDigest(state, [entry("x", 4, 1)]).discovered).toEqual([]);
    expect(applyDigest(state, [entry("x", 5, 1)]).discovered).toEqual(["x"]);
  });

  test("the removal is forgotten after its memory: a copy is then a new discovery", () => {
    const { clock, state } = removedX("dead");
    clock.advance(MEMORY_MS - 1);
    state.sweep();
    expect(state.removed.statusOf("x")).toBe("dead");
    clock.advance(1);
    state.sweep();
    expect(state.removed.size).toBe(0);
    expect(applyDigest(state, [entry("x", 3, 50)]).discovered).toEqual(["x"]);
  });
});
