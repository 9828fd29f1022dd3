// States that start from one shared membership snapshot (the simulator's converged start) must
// behave exactly like states that each own a private copy of it: sharing is copy-on-write and
// invisible. Checked by running the same random operations (writes, deletes, exchanges, heartbeats,
// sweeps, removals, and a restarted node with a newer generation) in two worlds, one sharing and one
// not, and comparing everything each state shows after every operation; and the shared snapshot's
// records must come out of it untouched.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  ClusterState,
  type Entry,
  type StateClock,
  ValueType,
  applyDigest,
  defaultStateLimits,
  encodeValue,
  entryId,
  mergeDeltas,
  NodeState,
  selectDeltas,
} from "../src/state/index.ts";
import { MemberSnapshot, MemberTable } from "../src/state/member-table.ts";

const NAMES = ["n0", "n1", "n2", "n3"];
const GRACE_MS = 3_000;
const keepOrder = <T>(items: T[]): T[] => items;

class ManualClock implements StateClock {
  mono = 1_000;
  wall = 1_700_000_000_000;
  now(): number {
    return this.mono;
  }
  wallNow(): number {
    return this.wall;
  }
}

/** Records as a converged cluster would hold them: a live entry, an expiring one, a tombstone. */
function snapshotRecords(): NodeState[] {
  return NAMES.map((name, index) => {
    const node = new NodeState(name, index + 1);
    const entry = (key: string, version: number, extra: Partial<Entry> = {}): Entry => ({ group: "g", key, value: new Uint8Array([version]), valueType: ValueType.Bytes, version, deleted: false, ...extra });
    node.put(entryId("g", "live"), entry("live", 1));
    node.put(entryId("g", "ttl"), entry("ttl", 2, { expiresAt: 1_700_000_000_000 + 2_000 }));
    node.put(entryId("g", "gone"), entry("gone", 3, { value: new Uint8Array(0), deleted: true, deletedAt: 500 }));
    return node;
  });
}

/** Four states over one clock, plus n0 restarted with a newer generation (knowing only itself). */
function world(shared: boolean) {
  const clock = new ManualClock();
  const common = new MemberSnapshot(snapshotRecords());
  const options = (): ConstructorParameters<typeof ClusterState>[3] => ({
    tombstoneGraceMs: GRACE_MS,
    limits: defaultStateLimits,
    members: shared ? common : new MemberSnapshot(snapshotRecords()),
  });
  const states = NAMES.map((name, index) => new ClusterState(name, index + 1, clock, options()));
  states.push(new ClusterState("n0", 100, clock, { tombstoneGraceMs: GRACE_MS, limits: defaultStateLimits }));
  return { clock, states, snapshot: common };
}

type Operation =
  | { kind: "write"; at: number; key: number; value: number; ttl: boolean }
  | { kind: "delete"; at: number; key: number }
  | { kind: "exchange"; from: number; to: number }
  | { kind: "tick"; at: number; ms: number }
  | { kind: "remove"; at: number; name: number };

const index = fc.nat(NAMES.length); // the last one is the restarted n0
const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ kind: fc.constant("write" as const), at: index, key: fc.nat(3), value: fc.nat(255), ttl: fc.boolean() }),
  fc.record({ kind: fc.constant("delete" as const), at: index, key: fc.nat(3) }),
  fc.record({ kind: fc.constant("exchange" as const), from: index, to: index }),
  fc.record({ kind: fc.constant("exchange" as const), from: index, to: index }),
  fc.record({ kind: fc.constant("tick" as const), at: index, ms: fc.nat(2_000) }),
  fc.record({ kind: fc.constant("remove" as const), at: index, name: fc.nat(NAMES.length - 1) }),
);

/** Runs one operation; returns what it reported (change records, outcomes), for comparison. */
function run(states: ClusterState[], clock: ManualClock, op: Operation): unknown {
  switch (op.kind) {
    case "write": {
      const keys = ["live", "ttl", "gone", "new"];
      return states[op.at]!.set("g", keys[op.key]!, encodeValue(op.value), op.ttl ? 1_500 : undefined);
    }
    case "delete":
      return states[op.at]!.delete("g", ["live", "ttl", "gone", "new"][op.key]!);
    case "exchange": {
      // SYN, SYN-ACK and ACK as the engine runs them, minus the bytes.
      const [a, b] = [states[op.from]!, states[op.to]!];
      if (a === b) return null;
      const synDigest = a.digest();
      const learnedB = applyDigest(b, synDigest);
      const forA = selectDeltas(b, synDigest, 1 << 20, keepOrder);
      const synAckDigest = b.digest();
      const learnedA = applyDigest(a, synAckDigest);
      const mergedA = mergeDeltas(a, forA.deltas);
      const forB = selectDeltas(a, synAckDigest, 1 << 20, keepOrder);
      return [learnedB, learnedA, mergedA, mergeDeltas(b, forB.deltas)];
    }
    case "tick":
      clock.mono += op.ms;
      clock.wall += op.ms;
      states[op.at]!.bumpHeartbeat();
      return states[op.at]!.sweep();
    case "remove": {
      const name = NAMES[op.name]!;
      return states[op.at]!.removeNode(name, states[op.at]!.nodes.get(name)?.generation ?? 0, "dead", 60_000);
    }
  }
}

/** Everything a state shows: every member's record, heartbeat and entries, in table order. */
function view(state: ClusterState): unknown {
  return [...state.nodes.values()].map((node) => ({
    name: node.name,
    generation: node.generation,
    heartbeat: state.heartbeatOf(node.name),
    maxVersion: node.maxVersion,
    collectedUpTo: node.collectedUpTo,
    entries: [...node.entries],
    replaced: node.replaced && [...node.replaced],
    replacedUntil: node.replacedUntil,
    sweepable: [...node.sweepable].sort(),
    liveUserEntries: node.liveUserEntries,
  }));
}

describe("states sharing a membership snapshot", () => {
  test("property: behave exactly like states with private copies, and leave the snapshot untouched", () => {
    const pristine = view(stateOver(new MemberSnapshot(snapshotRecords())));
    fc.assert(
      fc.property(fc.array(operation, { minLength: 1, maxLength: 60 }), (operations) => {
        const sharing = world(true);
        const owning = world(false);
        for (const op of operations) {
          expect(run(sharing.states, sharing.clock, op)).toEqual(run(owning.states, owning.clock, op));
          for (let i = 0; i < sharing.states.length; i++) expect(view(sharing.states[i]!)).toEqual(view(owning.states[i]!));
        }
        expect(view(stateOver(sharing.snapshot))).toEqual(pristine);
      }),
      { numRuns: 300, seed: 20261125 },
    );
  });

  test("records stay shared until a state changes one: heartbeats alone copy nothing", () => {
    const { states, snapshot } = world(true);
    const [a, b] = [states[1]!, states[2]!];
    for (let round = 0; round < 5; round++) {
      a.bumpHeartbeat();
      b.bumpHeartbeat();
      applyDigest(b, a.digest());
      applyDigest(a, b.digest());
    }
    // b learned a's heartbeats, yet holds the snapshot's own record of every other member.
    expect(b.heartbeatOf("n1")).toBe(5);
    for (const name of ["n0", "n1", "n3"]) expect(b.nodes.get(name)).toBe(snapshot.records[snapshot.slots.get(name)!]!);
    // A write of a reaches b: only b's record of a is copied; c still shares the original.
    a.set("g", "fresh", encodeValue(1));
    mergeDeltas(b, selectDeltas(a, b.digest(), 1 << 20, keepOrder).deltas);
    expect(b.get("n1", "g", "fresh")).toBeDefined();
    expect(b.nodes.get("n1")).not.toBe(snapshot.records[1]);
    expect(states[3]!.nodes.get("n1")).toBe(snapshot.records[1]!);
    expect(snapshot.records[1]!.entries.has(entryId("g", "fresh"))).toBe(false);
  });

  test("a table refuses a record under another name, and a snapshot listing a name twice", () => {
    const table = new MemberTable();
    expect(() => table.set("a", new NodeState("b", 1))).toThrow("record of b set under the name a");
    expect(() => new MemberSnapshot([new NodeState("a", 1), new NodeState("a", 2)])).toThrow("lists a name twice");
  });

  test("removed members free their slots for new ones; the snapshot's names keep theirs", () => {
    const snapshot = new MemberSnapshot([new NodeState("s0", 1), new NodeState("s1", 1)]);
    const table = new MemberTable(snapshot);
    const x = table.set("x", new NodeState("x", 1));
    expect(x).toBe(2);
    table.delete("x");
    table.delete("s0");
    expect(table.size).toBe(1);
    expect(table.set("y", new NodeState("y", 1))).toBe(x); // x's slot, reused
    expect(table.set("s0", new NodeState("s0", 2))).toBe(0); // the snapshot's slot
    expect([...table.keys()]).toEqual(["s0", "s1", "y"]);
    expect(table.heartbeatAt(0)).toBe(0);
  });
});

/** A state of a fifth name over a snapshot: shows the snapshot's records as they are. */
function stateOver(snapshot: MemberSnapshot): ClusterState {
  return new ClusterState("observer", 1, new ManualClock(), { tombstoneGraceMs: GRACE_MS, limits: defaultStateLimits, members: snapshot });
}
