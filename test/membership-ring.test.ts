import { describe, expect, test } from "bun:test";
import { nameHash, ringPredecessors, ringSuccessors } from "../src/membership/monitor-ring.ts";

const names = (count: number): string[] => Array.from({ length: count }, (_, i) => `node-${i}`);

/** The ring the hard way: everyone sorted by (hash, name), then the `count` after self. */
function sortedRingSuccessors(self: string, live: string[], count: number): string[] {
  const ring = [...new Set([self, ...live])].sort((a, b) => nameHash(a) - nameHash(b) || (a < b ? -1 : a > b ? 1 : 0));
  const at = ring.indexOf(self);
  return Array.from({ length: Math.min(count, ring.length - 1) }, (_, i) => ring[(at + 1 + i) % ring.length]!);
}

describe("monitor ring", () => {
  test("the successors are the next `count` nodes after self on the hash-ordered ring", () => {
    const live = names(100);
    for (const self of live) expect(ringSuccessors(self, live, 3)).toEqual(sortedRingSuccessors(self, live, 3));
  });

  test("on a shared view every node is watched by exactly `count` others", () => {
    const live = names(100);
    const watchers = new Map(live.map((name) => [name, 0]));
    for (const self of live) for (const watched of ringSuccessors(self, live, 3)) watchers.set(watched, watchers.get(watched)! + 1);
    expect(new Set(watchers.values())).toEqual(new Set([3]));
  });

  test("on a shared view the predecessors of a node are exactly the nodes that watch it", () => {
    const live = names(100);
    for (const count of [1, 3, 5]) {
      for (const self of live) {
        const watchers = live.filter((other) => ringSuccessors(other, live, count).includes(self));
        expect(ringPredecessors(self, live, count).sort()).toEqual(watchers.sort());
      }
    }
    expect(ringPredecessors("a", ["a", "b", "c"], 5).sort()).toEqual(["b", "c"]);
    expect(ringPredecessors("a", ["b", "c"], 0)).toEqual([]);
  });

  test("the input order and duplicates of self do not matter; self is never its own successor", () => {
    const live = names(20);
    const reversed = [...live].reverse();
    for (const self of live) {
      expect(ringSuccessors(self, reversed, 4)).toEqual(ringSuccessors(self, live, 4));
      expect(ringSuccessors(self, live, 4)).not.toContain(self);
    }
  });

  test("small rings and zero", () => {
    expect(ringSuccessors("a", ["a", "b", "c"], 5).sort()).toEqual(["b", "c"]);
    expect(ringSuccessors("a", ["a"], 3)).toEqual([]);
    expect(ringSuccessors("a", ["b", "c"], 0)).toEqual([]);
  });

  test("a node leaving changes only the watch of its own predecessors, each by one node", () => {
    const live = names(50);
    const gone = "node-17";
    const rest = live.filter((name) => name !== gone);
    for (const self of rest) {
      const before = ringSuccessors(self, live, 3);
      const after = ringSuccessors(self, rest, 3);
      if (!before.includes(gone)) {
        expect(after).toEqual(before);
      } else {
        expect(after.filter((name) => !before.includes(name))).toHaveLength(1);
        expect(before.filter((name) => !after.includes(name))).toEqual([gone]);
      }
    }
  });

  test("the hash spreads similar names: consecutive names rarely watch each other", () => {
    const live = names(100);
    const adjacent = live.filter((self, i) => ringSuccessors(self, live, 1)[0] === live[(i + 1) % live.length]).length;
    expect(adjacent).toBeLessThan(4);
  });
});
