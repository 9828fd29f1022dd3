// The lifecycle table on its own (src/membership/lifecycle.ts): records, live/dead lists, the
// live-set counter and the direct-watch cleanup, without probes, timers or a network.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createDetector, defaultDetectorSettings } from "../src/membership/detector.ts";
import { isLive, MemberTable, type Member, type MemberStatus, type Transition, type TransitionKind } from "../src/membership/lifecycle.ts";
import { VirtualClock } from "../src/transport/virtual-clock.ts";

function newTable(): { table: MemberTable; clock: VirtualClock; records: Transition[] } {
  const clock = new VirtualClock();
  const records: Transition[] = [];
  const table = new MemberTable(clock, () => defaultDetectorSettings, (transition) => records.push(transition));
  return { table, clock, records };
}

/** Gives the member a direct watch, as the heartbeat ring does for a ring successor. */
function watchDirectly(member: Member, now: number): void {
  member.direct = { detector: createDetector(defaultDetectorSettings, now), pingId: 0, answered: false, lastHeartbeatMs: now };
}

describe("MemberTable: records", () => {
  test("a node admitted joins: one 'joined' record with its generation, phi and time; it is live", () => {
    const { table, clock, records } = newTable();
    clock.advance(1234);
    const member = table.admit("b", 7, clock.now());
    // Its detector starts now: phi is the level of no silence at all.
    expect(records).toEqual([{ kind: "joined", node: "b", generation: 7, phi: member.gossipDetector.phi(1234), at: 1234 }]);
    expect(records[0]!.phi).toBeLessThan(1e-6);
    expect(member.status).toBe("alive");
    expect(member.sinceMs).toBe(1234);
    expect(table.livePeers()).toEqual(["b"]);
    expect(table.holds(member)).toBe(true);
  });

  test("every status change of an announced node is one record of the kind given, at the time given", () => {
    const { table, clock, records } = newTable();
    const member = table.admit("b", 1, clock.now());
    clock.advance(10_000); // silent since admission: phi has grown
    const phiNow = table.phiOf(member, clock.now());
    expect(phiNow).toBeGreaterThan(0);
    table.setStatus(member, "suspect", "suspect", clock.now());
    table.setStatus(member, "dead", "dead", clock.now());
    expect(records.slice(1)).toEqual([
      { kind: "suspect", node: "b", generation: 1, phi: phiNow, at: 10_000 },
      { kind: "dead", node: "b", generation: 1, phi: phiNow, at: 10_000 },
    ]);
    expect(member.sinceMs).toBe(10_000);
  });

  test("a node first heard of as dead or left produces no records, until it joins", () => {
    const { table, clock, records } = newTable();
    const dead = table.addUnannounced("d", 3, "dead", clock.now());
    const left = table.addUnannounced("l", 4, "left", clock.now());
    table.setStatus(left, "left", "left", clock.now());
    expect(records).toEqual([]);
    expect(table.deadPeers()).toEqual(["d"]);
    expect(table.livePeers()).toEqual([]);
    expect(table.views().map((view) => [view.name, view.status])).toEqual([
      ["d", "dead"],
      ["l", "left"],
    ]);
    dead.announced = true;
    table.setStatus(dead, "alive", "joined", clock.now());
    expect(records.map((record) => [record.kind, record.node])).toEqual([["joined", "d"]]);
  });

  test("a left node's phi is 0: it is no longer watched", () => {
    const { table, clock } = newTable();
    const member = table.admit("b", 1, clock.now());
    clock.advance(60_000);
    expect(table.phiOf(member, clock.now())).toBeGreaterThan(0);
    table.setStatus(member, "left", "left", clock.now());
    expect(table.phiOf(member, clock.now())).toBe(0);
  });

  test("delete forgets the node; the caller records its removal", () => {
    const { table, clock, records } = newTable();
    const member = table.admit("b", 1, clock.now());
    table.setStatus(member, "dead", "dead", clock.now());
    table.delete(member);
    expect(table.get("b")).toBeUndefined();
    expect(table.holds(member)).toBe(false);
    expect(table.deadPeers()).toEqual([]);
    table.record("removed", member, clock.now());
    expect(records.map((record) => record.kind)).toEqual(["joined", "dead", "removed"]);
  });
});

describe("MemberTable: live set and direct watch", () => {
  test("liveSetChanges moves when a node becomes or stops being live, not between alive and suspect", () => {
    const { table, clock } = newTable();
    const start = table.liveSetChanges;
    const member = table.admit("b", 1, clock.now());
    const afterJoin = table.liveSetChanges;
    expect(afterJoin).not.toBe(start);
    table.setStatus(member, "suspect", "suspect", clock.now());
    expect(table.liveSetChanges).toBe(afterJoin);
    table.setStatus(member, "dead", "dead", clock.now());
    expect(table.liveSetChanges).not.toBe(afterJoin);
    const afterDeath = table.liveSetChanges;
    table.addUnannounced("c", 1, "dead", clock.now());
    expect(table.liveSetChanges).toBe(afterDeath);
  });

  test("a node that stops being live loses its direct watch; a live one keeps it", () => {
    const { table, clock } = newTable();
    const member = table.admit("b", 1, clock.now());
    watchDirectly(member, clock.now());
    table.setStatus(member, "suspect", "suspect", clock.now());
    expect(member.direct).toBeDefined();
    table.setStatus(member, "dead", "dead", clock.now());
    expect(member.direct).toBeUndefined();
  });

  test("the direct watch's detector decides phi and heartbeat age when there is one", () => {
    const { table, clock } = newTable();
    const member = table.admit("b", 1, clock.now());
    clock.advance(5000);
    watchDirectly(member, clock.now()); // heard from directly just now
    clock.advance(100);
    const [view] = table.views();
    expect(view).toMatchObject({ name: "b", watchedDirectly: true, lastHeartbeatAgeMs: 100 });
    expect(view!.phi).toBe(member.direct!.detector.phi(clock.now()));
    expect(view!.phi).toBeLessThan(member.gossipDetector.phi(clock.now()));
  });

  test("helpers are alive announced nodes other than the target; the ring holds live announced ones", () => {
    const { table, clock } = newTable();
    table.admit("a", 1, clock.now());
    const suspect = table.admit("s", 1, clock.now());
    table.setStatus(suspect, "suspect", "suspect", clock.now());
    table.admit("t", 1, clock.now());
    table.addUnannounced("d", 1, "dead", clock.now());
    expect(table.helperCandidates("t").sort()).toEqual(["a"]);
    expect(table.ringMembers().sort()).toEqual(["a", "s", "t"]);
    expect(table.livePeers().sort()).toEqual(["a", "s", "t"]);
  });

  test("a local pause is excused in every detector, gossip and direct", () => {
    const { table, clock } = newTable();
    const member = table.admit("b", 1, clock.now());
    watchDirectly(member, clock.now());
    clock.advance(8000);
    const gossipBefore = member.gossipDetector.phi(clock.now());
    const directBefore = member.direct!.detector.phi(clock.now());
    table.excuseLocalPause(6000, clock.now());
    expect(member.gossipDetector.phi(clock.now())).toBeLessThan(gossipBefore);
    expect(member.direct!.detector.phi(clock.now())).toBeLessThan(directBefore);
  });
});

// Operations on a handful of nodes in any order; the table's bookkeeping must hold after each.
type Operation =
  | { op: "admit"; node: number }
  | { op: "unannounced"; node: number; status: "dead" | "left" }
  | { op: "set"; node: number; status: MemberStatus; kind: TransitionKind }
  | { op: "watch"; node: number }
  | { op: "delete"; node: number };

const node = fc.nat(2);
const status = fc.constantFrom<MemberStatus>("alive", "suspect", "dead", "left");
const kind = fc.constantFrom<TransitionKind>("joined", "suspect", "alive", "dead", "left");
const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ op: fc.constant("admit" as const), node }),
  fc.record({ op: fc.constant("unannounced" as const), node, status: fc.constantFrom<"dead" | "left">("dead", "left") }),
  fc.record({ op: fc.constant("set" as const), node, status, kind }),
  fc.record({ op: fc.constant("watch" as const), node }),
  fc.record({ op: fc.constant("delete" as const), node }),
);

describe("MemberTable: properties", () => {
  test("exactly one record per change of an announced node; the live-set counter moves whenever livePeers() changes; no node that is not live is watched", () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
        const { table, clock, records } = newTable();
        let expectedRecords = 0;
        for (const step of operations) {
          clock.advance(100);
          const name = `n${step.node}`;
          const member = table.get(name);
          const liveBefore = table.livePeers().sort().join(",");
          const changesBefore = table.liveSetChanges;
          if (step.op === "admit" && !member) {
            table.admit(name, 1, clock.now());
            expectedRecords++;
          } else if (step.op === "unannounced" && !member) {
            table.addUnannounced(name, 1, step.status, clock.now());
          } else if (step.op === "set" && member) {
            table.setStatus(member, step.status, step.kind, clock.now());
            if (member.announced) {
              expectedRecords++;
              expect(records.at(-1)).toMatchObject({ kind: step.kind, node: name, at: clock.now() });
            }
          } else if (step.op === "watch" && member && isLive(member)) {
            watchDirectly(member, clock.now());
          } else if (step.op === "delete" && member) {
            table.delete(member);
          }
          expect(records.length).toBe(expectedRecords);
          if (table.livePeers().sort().join(",") !== liveBefore) expect(table.liveSetChanges).not.toBe(changesBefore);
          for (const each of table.values()) if (!isLive(each)) expect(each.direct).toBeUndefined();
          const views = table.views().map((view) => view.name);
          expect(views).toEqual([...views].sort());
        }
      }),
      { numRuns: 1000 },
    );
  });
});
