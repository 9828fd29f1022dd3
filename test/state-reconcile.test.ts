// Reconciliation as a whole, checked against a model of the origin's writes (docs/ALGORITHM.md):
// one node writes, deletes and collects tombstones while two others take its state in deltas of
// random small budgets, directly or through each other, and fall behind the collected point now
// and then. After every step the receivers' max version is a safe floor; once the writes stop,
// everyone ends with exactly the origin's live keys (no deleted key comes back).

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ClusterState, type StateClock, applyDigest, defaultStateLimits, encodeValue, mergeDeltas, selectDeltas } from "../src/state/index.ts";
import { toWire } from "../src/state/delta-selection.ts";
import { entryId, type Entry } from "../src/state/node-state.ts";
import type { NodeDelta } from "../src/codec/index.ts";

const GRACE_MS = 1_000;
const KEYS = ["k0", "k1", "k2", "k3", "k4"];

class ManualClock implements StateClock {
  mono = 1_000;
  now(): number {
    return this.mono;
  }
  wallNow(): number {
    return 1_700_000_000_000 + this.mono;
  }
}

type Step =
  | { op: "set"; key: number; value: number }
  | { op: "delete"; key: number }
  | { op: "wait"; ms: number }
  | { op: "sync"; from: number; to: number; budget: number }
  | { op: "push"; to: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  // Values of 1 to 30 bytes, so that a later, smaller entry may fit where an earlier one did not.
  { arbitrary: fc.record({ op: fc.constant("set" as const), key: fc.nat(KEYS.length - 1), value: fc.nat(999) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant("delete" as const), key: fc.nat(KEYS.length - 1) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 1_500 }) }), weight: 1 },
  // 0 = the origin, 1 and 2 the receivers; budgets from less than one entry to a few.
  { arbitrary: fc.record({ op: fc.constant("sync" as const), from: fc.nat(2), to: fc.nat(2), budget: fc.integer({ min: 20, max: 160 }) }), weight: 3 },
  // The origin's newest write pushed on its own (GossipEngine.pushLocal): a gap for a receiver behind.
  { arbitrary: fc.record({ op: fc.constant("push" as const), to: fc.integer({ min: 1, max: 2 }) }), weight: 1 },
);

const valueOf = (n: number): string => `v${"x".repeat(n % 30)}`;

/** The origin's latest write of each key: what any copy of it must agree with. */
interface Written {
  version: number;
  deleted: boolean;
  value: string;
}

/** One exchange: `to` gets `from`'s digest and what `from` selects for `to`'s digest in `budget` bytes. */
function sync(from: ClusterState, to: ClusterState, budget: number): void {
  const selection = selectDeltas(from, to.digest(), budget, (items) => items);
  applyDigest(to, from.digest());
  mergeDeltas(to, selection.deltas);
}

/** The delta GossipEngine.pushLocal sends for one fresh write: from the version before it. */
function pushOf(origin: ClusterState, entry: Entry): NodeDelta {
  const self = origin.self;
  return { node: self.name, generation: self.generation, fromVersion: entry.version - 1, collectedUpTo: self.collectedUpTo, maxVersion: self.maxVersion, entries: [toWire(entry)] };
}

/**
 * The safe floor: `viewer` holds, of every key the origin wrote at or below its max version, that
 * very write (a tombstone may already be collected); of every later write, nothing newer.
 */
function checkSafeFloor(viewer: ClusterState, written: Map<string, Written>): void {
  const held = viewer.nodes.get("a");
  if (!held) return;
  for (const [key, write] of written) {
    const copy = held.entries.get(entryId("g", key));
    if (write.version <= held.maxVersion) {
      if (write.deleted) {
        if (copy) expect({ key, version: copy.version, deleted: copy.deleted }).toEqual({ key, version: write.version, deleted: true });
      } else {
        expect({ key, version: copy?.version, deleted: copy?.deleted, value: copy && new TextDecoder().decode(copy.value) }).toEqual({
          key,
          version: write.version,
          deleted: false,
          value: write.value,
        });
      }
    } else if (copy) {
      expect(copy.version).toBeLessThan(write.version);
    }
  }
}

function liveView(viewer: ClusterState): string[] {
  return [...viewer.liveEntries("a")].map((entry) => `${entry.key}=${new TextDecoder().decode(entry.value)}@${entry.version}`).sort();
}

describe("reconciliation against a model of the origin's writes", () => {
  test("property: versions count writes, a receiver's max version is a safe floor after every exchange, and everyone ends with exactly the live keys", () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 80 }), (steps) => {
        const clock = new ManualClock();
        const options = { tombstoneGraceMs: GRACE_MS, limits: defaultStateLimits };
        const states = [new ClusterState("a", 1, clock, options), new ClusterState("b", 1, clock, options), new ClusterState("c", 1, clock, options)];
        const origin = states[0]!;
        const written = new Map<string, Written>();
        let writes = 0;
        for (const s of steps) {
          if (s.op === "set") {
            origin.set("g", KEYS[s.key]!, encodeValue(valueOf(s.value)));
            written.set(KEYS[s.key]!, { version: ++writes, deleted: false, value: valueOf(s.value) });
          } else if (s.op === "delete") {
            const key = KEYS[s.key]!;
            if (written.get(key)?.deleted !== false) continue; // nothing live to delete
            origin.delete("g", key);
            written.set(key, { version: ++writes, deleted: true, value: "" });
          } else if (s.op === "wait") {
            clock.mono += s.ms;
            for (const state of states) state.sweep();
          } else if (s.op === "push") {
            const newest = [...origin.self.entries.values()].at(-1);
            if (newest) mergeDeltas(states[s.to]!, [pushOf(origin, newest)]);
          } else if (s.from !== s.to) {
            sync(states[s.from]!, states[s.to]!, s.budget);
          }
          // Versions: one per write, whatever the clock did.
          expect(origin.self.maxVersion).toBe(writes);
          checkSafeFloor(states[1]!, written);
          checkSafeFloor(states[2]!, written);
        }
        // Writes stop; tombstones get collected; exchanges with room for everything, in both orders.
        clock.mono += GRACE_MS;
        for (const state of states) state.sweep();
        for (let round = 0; round < 3; round++) {
          sync(origin, states[1]!, 1 << 16);
          sync(states[1]!, states[2]!, 1 << 16);
          sync(origin, states[2]!, 1 << 16);
        }
        const live = [...written].filter(([, write]) => !write.deleted).map(([key, write]) => `${key}=${write.value}@${write.version}`).sort();
        for (const state of states) expect(liveView(state)).toEqual(live);
      }),
      { numRuns: 1000 },
    );
  });
});
