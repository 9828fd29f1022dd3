// Summaries and pages (state/summary.ts, codec/summary.ts): what a bucket hash covers, and that a
// page, however tight its budget, lists every node its sender holds within its ranges.

import { describe, expect, test } from "bun:test";
import { BodyReader, DecodeError, FrameWriter, type Page, SUMMARY_BUCKETS, pageSize, readPage, writePage } from "../src/codec/index.ts";
import { createRandom } from "../src/random.ts";
import { ClusterState, NodeState, defaultStateLimits, differingRanges, pageOf, summarize } from "../src/state/index.ts";
import { inRanges } from "../src/state/summary.ts";
import { VirtualClock } from "../src/transport/virtual-clock.ts";

function stateWith(self: string, members: number): ClusterState {
  const state = new ClusterState(self, 1, new VirtualClock(), { tombstoneGraceMs: 60_000, limits: defaultStateLimits });
  for (let i = 0; i < members; i++) {
    const node = new NodeState(`member-${i}`, 1_000 + i);
    node.maxVersion = i % 7;
    state.nodes.set(node.name, node);
  }
  return state;
}

/** The page as a receiver reads it: written and decoded. */
function overTheWire(page: Page): Page {
  const writer = new FrameWriter();
  writer.begin(4);
  writePage(writer, page);
  writer.end();
  return readPage(new BodyReader(writer.finish().subarray(12)), 64);
}

describe("summaries", () => {
  test("heartbeats leave the summary alone; a new max version or generation changes exactly its bucket", () => {
    const a = stateWith("a", 500);
    const b = stateWith("a", 500);
    expect(differingRanges(summarize(a), summarize(b))).toEqual([]);
    for (let i = 0; i < 10; i++) a.bumpHeartbeat();
    expect(differingRanges(summarize(a), summarize(b))).toEqual([]);
    const changed = a.nodes.get("member-42")!;
    changed.maxVersion += 1;
    const ranges = differingRanges(summarize(a), summarize(b));
    expect(ranges).toHaveLength(1);
    expect(ranges[0]!.last - ranges[0]!.first + 1).toBe(2 ** 32 / SUMMARY_BUCKETS);
    expect(inRanges(changed.nameHash, ranges)).toBe(true);
    changed.maxVersion -= 1;
    changed.generation += 1;
    expect(differingRanges(summarize(a), summarize(b))).toEqual(ranges);
  });

  test("property: a page within any budget lists every node its sender holds in its ranges, and nothing else", () => {
    const state = stateWith("self", 3_000);
    const random = createRandom(5);
    const everything = [{ first: 0, last: 0xffffffff }];
    const seen = new Set<string>();
    for (let trial = 0; trial < 60; trial++) {
      const budget = 200 + random.int(40_000);
      const page = overTheWire(pageOf(state, everything, budget, random.next()));
      expect(pageSize(page)).toBeLessThanOrEqual(budget);
      const listed = new Set(page.entries.map((entry) => entry.node));
      for (const node of state.nodes.values()) expect(listed.has(node.name)).toBe(inRanges(node.nameHash, page.ranges));
      for (const name of listed) seen.add(name);
    }
    // Random starting points reach every part of a difference larger than one page.
    expect(seen.size).toBe(state.nodes.size);
  });
});

describe("page decoding", () => {
  const encode = (write: (writer: FrameWriter) => void): BodyReader => {
    const writer = new FrameWriter();
    writer.begin(4);
    write(writer);
    writer.end();
    return new BodyReader(writer.finish().subarray(12));
  };
  for (const [label, ranges] of [
    ["backwards", [[5, 4]]],
    ["overlapping", [[0, 10], [10, 20]]],
    ["past 32 bits", [[0, 2 ** 32]]],
  ] as const) {
    test(`a range ${label} is a DecodeError naming page.range`, () => {
      const reader = encode((w) => {
        w.varuint(ranges.length);
        for (const [first, last] of ranges) w.varuint(first).varuint(last);
        w.varuint(0).varuint(0);
      });
      let error: unknown;
      try {
        readPage(reader, 64);
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(DecodeError);
      expect((error as DecodeError).message).toContain("page.range");
    });
  }
  test("more ranges than buckets is a DecodeError naming page.rangeCount", () => {
    const reader = encode((w) => {
      w.varuint(SUMMARY_BUCKETS + 1);
      for (let i = 0; i <= SUMMARY_BUCKETS; i++) w.varuint(2 * i).varuint(2 * i);
      w.varuint(0).varuint(0);
    });
    expect(() => readPage(reader, 64)).toThrow("page.rangeCount");
  });
});
