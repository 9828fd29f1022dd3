import { expect, test } from "bun:test";
import fc from "fast-check";
import { SortedMembers, childrenIn, pushTreeChildren } from "../src/gossip/push-tree.ts";

/** Walks the tree from the origin as every node would, with the same member view everywhere. */
function deliveries(members: string[], origin: string, fanout: number): { received: Map<string, number>; depth: number } {
  const received = new Map<string, number>();
  let frontier = [origin];
  let depth = 0;
  while (frontier.length > 0 && depth <= members.length) {
    const next: string[] = [];
    for (const node of frontier) {
      for (const child of pushTreeChildren(members, origin, node, fanout)) {
        received.set(child, (received.get(child) ?? 0) + 1);
        next.push(child);
      }
    }
    if (next.length > 0) depth++;
    frontier = next;
  }
  return { received, depth };
}

test("with one shared view every member but the origin receives a push exactly once, in log_fanout(N) hops", () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 5 }), fc.nat(), (members, fanout, pick) => {
      const origin = members[pick % members.length]!;
      const { received, depth } = deliveries(members, origin, fanout);
      for (const member of members) expect(received.get(member) ?? 0).toBe(member === origin ? 0 : 1);
      // A complete fanout-ary tree of N nodes has depth ceil(log_f((f-1)N + 1)) - 1 (f = 1: a chain).
      const n = members.length;
      const bound = fanout === 1 ? n - 1 : Math.ceil(Math.log((fanout - 1) * n + 1) / Math.log(fanout)) - 1;
      expect(depth).toBeLessThanOrEqual(bound);
    }),
    { numRuns: 300 },
  );
});

test("children never include the node itself or the origin, and fanout 0 pushes nowhere", () => {
  const members = ["a", "b", "c", "d", "e"];
  for (const self of members) {
    const children = pushTreeChildren(members, "c", self, 2);
    expect(children).not.toContain(self);
    expect(children).not.toContain("c");
  }
  expect(pushTreeChildren(members, "a", "a", 0)).toEqual([]);
  // An origin missing from the view is still the root.
  expect(pushTreeChildren(["b", "c"], "a", "a", 2)).toEqual(["b", "c"]);
});

/** The tree's definition, spelled out the slow way: sort everyone (origin included) and index. */
function referenceChildren(members: string[], origin: string, self: string, fanout: number): string[] {
  const sorted = [...new Set([...members, origin, self])].sort();
  const size = sorted.length;
  const originAt = sorted.indexOf(origin);
  const rank = (sorted.indexOf(self) - originAt + size) % size;
  const children: string[] = [];
  for (let child = rank * fanout + 1; child <= rank * fanout + fanout && child < size; child++) children.push(sorted[(originAt + child) % size]!);
  return children;
}

test("children over a kept sorted list follow the definition, whether or not the origin is among the members", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.stringMatching(/^[a-zA-Z0-9é-]{1,8}$/), { minLength: 1, maxLength: 120 }),
      fc.stringMatching(/^[a-zA-Z0-9é-]{1,8}$/),
      fc.integer({ min: 0, max: 4 }),
      fc.nat(),
      (members, outsider, fanout, pick) => {
        const self = members[pick % members.length]!;
        const sorted = [...members].sort();
        for (const origin of [members[(pick * 7) % members.length]!, outsider, self]) {
          const expected = referenceChildren(members, origin, self, fanout);
          expect(childrenIn(sorted, origin, self, fanout)).toEqual(expected);
          expect(pushTreeChildren(members, origin, self, fanout)).toEqual(expected);
        }
      },
    ),
    { numRuns: 500 },
  );
});

test("the kept sorted list is rebuilt when the live-set counter moves, and only then", () => {
  let live = ["d", "b"];
  let changes = 0;
  let reads = 0;
  const members = new SortedMembers("c", () => changes, () => (reads++, live));
  expect(members.get()).toEqual(["b", "c", "d"]);
  live = ["d", "b", "a"];
  expect(members.get()).toEqual(["b", "c", "d"]); // the counter did not move: the cached list
  expect(reads).toBe(1);
  changes++;
  expect(members.get()).toEqual(["a", "b", "c", "d"]);
  expect(reads).toBe(2);
});

test("a node starting a push for an origin its view lacks (a newcomer it met) gets the root's children, as every other view places them", () => {
  const sorted = ["b", "d", "f", "h", "k", "m"];
  // "e" is not in the view: as the root, it would sort between d and f.
  expect(childrenIn(sorted, "e", "e", 2)).toEqual(["f", "h"]);
  // The root's children forward to their own children in the same tree, which the view with the
  // origin added agrees on: every member but the origin is reached exactly once.
  const reached: string[] = [];
  const visit = (node: string): void => {
    for (const child of childrenIn(sorted, "e", node, 2)) {
      reached.push(child);
      visit(child);
    }
  };
  visit("e");
  expect(reached.sort()).toEqual(sorted);
});
