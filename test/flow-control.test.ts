// Flow control: the AIMD rate, the coalescing write buffer, one node's write path, the fairness
// share of delta selection and the FLOW message as units; then seeded simulations with flow
// control on and off: an overloaded cluster (bounded vs growing staleness, a quiet node's update
// in bounded rounds), a node flooding updates past flow control (a quiet node's change and a
// joiner's state still served in bounded rounds), the benchmark at half size (back in steady
// state within 10 rounds of the overload's end), a fair share; and whole nodes (set/get while
// writes wait, one warning and one event per period, the metrics counter).

import { describe, expect, test } from "bun:test";
import { BodyReader, DecodeError, EncodeError, type DigestEntry, FrameWriter, MessageType, readFlowInfo, writeFlowInfo } from "../src/codec/index.ts";
import type { OverloadEvent } from "../src/events.ts";
import { AimdRate, defaultAimdSettings } from "../src/gossip/aimd.ts";
import { FlowControl, OVERLOAD_REPORT_PERIOD_MS, type OverloadReport } from "../src/gossip/flow-control.ts";
import { VersionArrivals } from "../src/gossip/version-arrivals.ts";
import { CoalescingWriteBuffer } from "../src/gossip/write-buffer.ts";
import type { Logger } from "../src/log.ts";
import { FlowExperiment, type RoundRecord } from "../src/sim/flow-experiment.ts";
import { jainIndex } from "../src/sim/measure.ts";
import type { SimNode } from "../src/sim/simulated-cluster.ts";
import { averagedStaleness, steadyReturn } from "../src/sim/steady-state.ts";
import { SimulatedCluster } from "../src/sim/simulated-cluster.ts";
import { ClusterState, NodeState, ValueType, WriteError, defaultStateLimits, encodeValue, entryId, selectDeltas } from "../src/state/index.ts";
import { VirtualClock } from "../src/transport/virtual-clock.ts";

const text = (value: string) => encodeValue(value);
const keepOrder = <T>(items: T[]): T[] => items;

// ---- units ----------------------------------------------------------------------------------

describe("AIMD rate", () => {
  const settings = defaultAimdSettings;

  test("starts released: no limit until an overflow, and the rate follows the demand ceiling", () => {
    const rate = new AimdRate(settings);
    expect(rate.limiting).toBe(false);
    rate.endRound(false, 4, false);
    expect(rate.limiting).toBe(false);
    expect(rate.rate).toBeCloseTo(4 * settings.headroom);
  });

  test("an overflow cuts to a fraction of min(rate, capacity share), once per cooldown; quiet rounds add a step", () => {
    const rate = new AimdRate(settings);
    rate.endRound(false, 10, false);
    rate.endRound(true, 10, true, 3);
    expect(rate.limiting).toBe(true);
    expect(rate.rate).toBeCloseTo(settings.decreaseFactor * 3);
    const afterCut = rate.rate;
    for (let round = 1; round < settings.cooldownRounds; round++) rate.endRound(true, 10, true, 3);
    expect(rate.rate).toBeCloseTo(afterCut); // within the cooldown: held, neither cut nor raised
    expect(rate.decreases).toBe(1);
    rate.endRound(true, 10, true, 100);
    expect(rate.rate).toBeCloseTo(settings.decreaseFactor * afterCut); // below the capacity share: a plain cut
    expect(rate.decreases).toBe(2);
    const beforeStep = rate.rate;
    rate.endRound(false, 10, true);
    expect(rate.rate).toBeCloseTo(beforeStep + 10 * settings.increaseFraction);
  });

  test("stays between the floor and the cap", () => {
    const rate = new AimdRate(settings);
    for (let round = 0; round < 200; round++) rate.endRound(true, 1, true, 0.001);
    expect(rate.rate).toBe(settings.minRate);
    for (let round = 0; round < settings.releaseRounds - 1; round++) rate.endRound(false, 1, true);
    for (let round = 0; round < 200; round++) rate.endRound(false, 1, true);
    expect(rate.rate).toBeCloseTo(settings.headroom);
  });

  test("after quiet rounds it is released, unless writes wait: then it grows by the recovery factor", () => {
    const waiting = new AimdRate(settings);
    const released = new AimdRate(settings);
    for (const rate of [waiting, released]) rate.endRound(true, 100, true, 2);
    for (let round = 1; round < settings.releaseRounds; round++) {
      waiting.endRound(false, 100, true);
      released.endRound(false, 100, false);
    }
    const before = waiting.rate;
    waiting.endRound(false, 100, true);
    released.endRound(false, 100, false);
    expect(waiting.limiting).toBe(true);
    expect(waiting.rate).toBeCloseTo(before * settings.recoveryFactor);
    expect(released.limiting).toBe(false);
    expect(released.rate).toBeCloseTo(100 * settings.headroom);
  });

  test("peers: limiting ones meet halfway, a released node takes a limiting peer's rate, a released peer's rate is ignored", () => {
    const a = new AimdRate(settings);
    const b = new AimdRate(settings);
    a.endRound(true, 10, true, 2.5); // 2.0, limiting
    b.endRound(true, 10, true, 5); // 4.0, limiting
    a.blend(b.rate, b.roundsSinceOverflow, 10);
    expect(a.rate).toBeCloseTo(3);
    const released = new AimdRate(settings);
    released.endRound(false, 10, false);
    a.blend(released.rate, released.roundsSinceOverflow, 10);
    expect(a.rate).toBeCloseTo(3);
    released.blend(a.rate, a.roundsSinceOverflow, 10);
    expect(released.limiting).toBe(true);
    expect(released.rate).toBeCloseTo(3);
  });

  test("property of the loop: nodes that see the same overflows and swap rates share a capacity fairly", () => {
    // A fluid model: 20 nodes, a capacity of 30 updates/s in all; an overflow when the admitted
    // total exceeds it. Demands from 0.5 (under any share) to 6 updates/s.
    const demands = Array.from({ length: 20 }, (_, i) => 0.5 + (i % 5) * 1.375);
    const capacity = 30;
    const rates = demands.map(() => new AimdRate(settings));
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const admitted = (i: number) => (rates[i]!.limiting ? Math.min(demands[i]!, rates[i]!.rate) : demands[i]!);
    const totals: number[] = [];
    const perNode = demands.map(() => 0);
    for (let round = 0; round < 400; round++) {
      const total = demands.reduce((sum, _, i) => sum + admitted(i), 0);
      if (round >= 200) {
        totals.push(total);
        demands.forEach((_, i) => (perNode[i]! += admitted(i)));
      }
      const ceiling = Math.max(...demands);
      rates.forEach((rate, i) => rate.endRound(total > capacity, ceiling, demands[i]! > rate.rate, capacity / demands.length));
      for (let i = 0; i < rates.length; i++) {
        const j = Math.floor(random() * rates.length);
        if (j === i) continue;
        const [mine, theirs] = [rates[i]!, rates[j]!];
        const [mineRate, mineQuiet] = [mine.rate, mine.roundsSinceOverflow];
        mine.blend(theirs.rate, theirs.roundsSinceOverflow, ceiling);
        theirs.blend(mineRate, mineQuiet, ceiling);
      }
    }
    const meanTotal = totals.reduce((a, b) => a + b, 0) / totals.length;
    expect(meanTotal).toBeLessThanOrEqual(capacity * 1.1);
    expect(meanTotal).toBeGreaterThanOrEqual(capacity * 0.6);
    const share = perNode.map((sum) => sum / totals.length);
    const fairShare = meanTotal / demands.length;
    // Nodes that want less than the share get what they want; the others split the rest evenly.
    demands.forEach((demand, i) => {
      if (demand < fairShare * 0.5) expect(share[i]).toBeCloseTo(demand, 1);
    });
    expect(jainIndex(share.filter((_, i) => demands[i]! > fairShare * 1.5))).toBeGreaterThanOrEqual(0.95);
  });
});

describe("coalescing write buffer", () => {
  test("keeps one write per key in arrival order; a rewrite replaces the value but keeps the place and the age", () => {
    const buffer = new CoalescingWriteBuffer();
    expect(buffer.put("g", "a", text("a1"), undefined, 10)).toBe(false);
    expect(buffer.put("g", "b", text("b1"), 2_000, 20)).toBe(false);
    expect(buffer.put("g", "a", text("a2"), 5_000, 30)).toBe(true);
    expect(buffer.put("g", "b", null, undefined, 40)).toBe(true);
    expect(buffer.size).toBe(2);
    const a = buffer.get("g", "a")!;
    expect([new TextDecoder().decode(a.value!.bytes), a.expiresAt, a.firstWrittenAt, a.writes]).toEqual(["a2", 5_000, 10, 2]);
    const b = buffer.get("g", "b")!;
    expect([b.value, "expiresAt" in b, b.firstWrittenAt]).toEqual([null, false, 20]);
    expect(buffer.oldest()!.key).toBe("a");
    expect(buffer.shift()!.key).toBe("a");
    buffer.drop("g", "b");
    expect(buffer.size).toBe(0);
    expect(buffer.shift()).toBeUndefined();
  });
});

describe("version arrivals", () => {
  test("a version is known since the first record at or above it; unrecorded advances are stamped when asked", () => {
    let now = 0;
    const arrivals = new VersionArrivals(() => now);
    const node = new NodeState("n", 1);
    node.maxVersion = 3;
    arrivals.observe(node); // versions 1-3 at t=0
    now = 100;
    node.maxVersion = 7;
    arrivals.observe(node); // 4-7 at t=100
    now = 250;
    expect([1, 3, 4, 7].map((v) => arrivals.knownSince(node, v))).toEqual([0, 0, 100, 100]);
    node.maxVersion = 9;
    expect(arrivals.knownSince(node, 8)).toBe(250); // stamped now, on first question
    now = 300;
    expect(arrivals.knownSince(node, 8)).toBe(250);
    expect(arrivals.knownSince(node, 10)).toBe(300); // not known: now
    node.generation = 2; // a restart starts over
    node.maxVersion = 2;
    expect(arrivals.knownSince(node, 1)).toBe(300);
  });

  test("a peer's digest makes versions known before they arrive; another generation's digest does not", () => {
    let now = 0;
    const arrivals = new VersionArrivals(() => now);
    const node = new NodeState("quiet", 1);
    node.maxVersion = 1;
    arrivals.observe(node);
    now = 1000;
    arrivals.learn(node, 1, 2); // a peer holds version 2; it has not reached us
    arrivals.learn(node, 2, 5); // a restart we have not merged: says nothing about generation 1
    now = 4000;
    node.maxVersion = 2; // version 2 arrives three rounds later
    arrivals.observe(node);
    expect(arrivals.knownSince(node, 2)).toBe(1000); // waited since the digest, not since it arrived
    node.maxVersion = 3;
    expect(arrivals.knownSince(node, 3)).toBe(4000);
  });

  test("a digest listing only versions held here records nothing; versions beyond them are recorded", () => {
    let now = 0;
    const arrivals = new VersionArrivals(() => now);
    const held = new NodeState("held", 1);
    held.maxVersion = 4;
    arrivals.learn(held, 1, 4);
    arrivals.learn(held, 1, 2);
    expect(arrivals.size).toBe(0);
    now = 500;
    expect(arrivals.knownSince(held, 4)).toBe(500); // stamped when asked, like any unrecorded advance
    const ahead = new NodeState("ahead", 1);
    ahead.maxVersion = 4;
    now = 600;
    arrivals.learn(ahead, 1, 6); // a peer holds 5 and 6 already
    expect(arrivals.size).toBe(2);
    now = 900;
    ahead.maxVersion = 6;
    expect(arrivals.knownSince(ahead, 6)).toBe(600);
  });
});

describe("flow control on one node", () => {
  const newNode = (on: boolean, maxEntriesPerNode = 1000) => {
    const clock = new VirtualClock();
    const state = new ClusterState("self", 1, clock, { tombstoneGraceMs: 60_000, limits: { ...defaultStateLimits, maxEntriesPerNode } });
    return { clock, state, flow: new FlowControl(state, clock, 1000, on) };
  };
  /** A congested peer reports `rate`: this node limits too and takes that rate. */
  const congest = (flow: FlowControl, rate: number) => flow.onPeerInfo({ allowedRate: rate, desiredRate: rate, ceilingRate: 10, roundsSinceOverflow: 0 });
  const valueOf = (state: ClusterState, key: string) => {
    const entry = state.get("self", "g", key);
    return entry && new TextDecoder().decode(entry.value);
  };

  test("off, or on with nothing congested: every write is published at once", () => {
    for (const on of [false, true]) {
      const { state, flow } = newNode(on);
      for (let i = 1; i <= 50; i++) {
        const write = flow.write("g", `k${i}`, text("v"));
        expect(write).toMatchObject({ published: true, change: { kind: "added", current: { version: i } } });
      }
      expect(state.self.maxVersion).toBe(50);
      expect(flow.status()).toMatchObject({ enabled: on, limiting: false, backlogEntries: 0 });
    }
  });

  test("above the allowed rate writes wait: newest value wins here, only it is published, oldest first", () => {
    const { clock, state, flow } = newNode(true);
    congest(flow, 2);
    expect(flow.status()).toMatchObject({ limiting: true, allowedRate: 2 });
    const first = flow.write("g", "a", text("a1"));
    expect(first).toMatchObject({ published: false, change: { kind: "added", current: { version: 0 } } });
    flow.write("g", "b", text("b1"));
    const rewrite = flow.write("g", "a", text("a2"));
    expect(rewrite.change).toMatchObject({ kind: "updated", current: { version: 0 }, previous: { version: 0 } });
    flow.write("g", "c", text("c1"));
    expect(state.self.maxVersion).toBe(0); // nothing published yet
    expect(new TextDecoder().decode(flow.visible("g", "a")!.value)).toBe("a2");
    expect(flow.counters).toMatchObject({ heldBack: 3, coalesced: 1 });
    clock.advance(1000);
    const published = flow.startRound().published;
    // One second at about 2 updates/s: two of the three, in arrival order, "a" with its newest value.
    expect(published.map((change) => change.key)).toEqual(["a", "b"]);
    expect([valueOf(state, "a"), state.get("self", "g", "a")!.version, valueOf(state, "c")]).toEqual(["a2", 1, undefined]);
    expect(flow.status()).toMatchObject({ backlogEntries: 1, oldestUnsentAgeMs: 1000 });
    clock.advance(1000);
    expect(flow.startRound().published.map((change) => change.key)).toEqual(["c"]);
    expect(state.self.maxVersion).toBe(3); // a1 never took a version
  });

  test("deletes wait too; a key never published is simply forgotten", () => {
    const { clock, state, flow } = newNode(true);
    flow.write("g", "old", text("x")); // published while released
    congest(flow, 1);
    flow.write("g", "new", text("y"));
    expect(flow.delete("g", "new")).toMatchObject({ published: false, change: { kind: "deleted" } });
    expect(flow.delete("g", "new")).toBeNull();
    expect(flow.delete("g", "old")).toMatchObject({ published: false, change: { kind: "deleted", previous: { version: 1 } } });
    expect(flow.visible("g", "old")).toBeUndefined();
    expect(valueOf(state, "old")).toBe("x"); // still published until the delete goes out
    for (let round = 0; round < 3 && flow.status().backlogEntries > 0; round++) {
      clock.advance(1000);
      flow.startRound();
    }
    expect(flow.status().backlogEntries).toBe(0);
    expect(state.get("self", "g", "old")).toBeUndefined();
    expect(state.self.entries.has(entryId("g", "new"))).toBe(false);
  });

  test("the limits count waiting writes: a new key past maxEntriesPerNode is refused at once", () => {
    const { flow } = newNode(true, 3);
    congest(flow, 0.1);
    for (const key of ["a", "b", "c"]) flow.write("g", key, text("v"));
    expect(() => flow.write("g", "d", text("v"))).toThrow(new WriteError("node self already holds 3 entries, the limit (maxEntriesPerNode)"));
    expect(flow.held("g", "d")).toBeUndefined();
    flow.write("g", "a", text("again")); // not a new key
    flow.delete("g", "b");
    flow.write("g", "d", text("v")); // room again
    expect(flow.status().backlogEntries).toBe(3);
  });

  test("turning flow control off publishes every waiting write at once", () => {
    const { state, flow } = newNode(true);
    congest(flow, 0.1);
    for (const key of ["a", "b", "c"]) flow.write("g", key, text(key));
    expect(flow.configure(false, 1000).map((change) => change.key)).toEqual(["a", "b", "c"]);
    expect(state.self.maxVersion).toBe(3);
    expect(flow.write("g", "d", text("d")).published).toBe(true);
  });

  test("sustained overload is reported at most once per period, with the figures", () => {
    const { clock, flow } = newNode(true);
    const reports: { at: number; report: OverloadReport }[] = [];
    for (let round = 0; round < 40; round++) {
      congest(flow, 0.05); // a cluster that stays congested
      flow.write("g", `k${round}`, text("v"));
      clock.advance(1000);
      const { report } = flow.startRound();
      if (report) reports.push({ at: clock.now(), report });
    }
    expect(reports.length).toBeGreaterThanOrEqual(3);
    expect(reports.length).toBeLessThanOrEqual(Math.ceil(40_000 / OVERLOAD_REPORT_PERIOD_MS));
    for (let i = 1; i < reports.length; i++) expect(reports[i]!.at - reports[i - 1]!.at).toBeGreaterThanOrEqual(OVERLOAD_REPORT_PERIOD_MS);
    const { report } = reports[0]!;
    expect(report.limiting).toBe(true);
    expect(report.backlogEntries).toBeGreaterThan(0);
    expect(report.oldestUnsentAgeMs).toBeGreaterThanOrEqual(5000);
  });
});

describe("delta selection with fairness", () => {
  /** A state holding `noisy` (50 versions) and a second node with a few, and a peer digest. */
  function scene(small: { versions: number; peerHolds: number }) {
    const clock = { now: () => 0, wallNow: () => 1_700_000_000_000 };
    const state = new ClusterState("self", 1, clock, { tombstoneGraceMs: 1000, limits: defaultStateLimits });
    const fill = (name: string, versions: number) => {
      const node = new NodeState(name, 1);
      for (let v = 1; v <= versions; v++) node.put(entryId("g", `k${v}`), { group: "g", key: `k${v}`, value: new Uint8Array(4), valueType: ValueType.Bytes, version: v, deleted: false });
      state.nodes.set(name, node);
      return node;
    };
    const noisy = fill("noisy", 50);
    const quiet = fill("quiet", small.versions);
    const digest: DigestEntry[] = [
      { node: "noisy", generation: 1, heartbeat: 0, maxVersion: 10, collectedUpTo: 0 },
      { node: "quiet", generation: 1, heartbeat: 0, maxVersion: small.peerHolds, collectedUpTo: 0 },
    ];
    // The quiet node's missing version has waited here since t=0, the noisy ones since t=100.
    const fairness = { oldestFirstShare: 0.25, heldSince: (node: NodeState) => (node === quiet ? 0 : node === noisy ? 100 : 50) };
    return { state, digest, fairness };
  }

  test("scuttle-depth alone starves a small old change; the oldest-first share serves it", () => {
    const { state, digest, fairness } = scene({ versions: 5, peerHolds: 4 });
    const plain = selectDeltas(state, digest, 1 << 20, keepOrder, { maxEntries: 10 });
    expect(plain.deltas.map((d) => `${d.node}:${d.entries.length}`)).toEqual(["noisy:10"]);
    expect(plain).toMatchObject({ truncated: 2, leftOut: 30 + 1 });
    const fair = selectDeltas(state, digest, 1 << 20, keepOrder, { maxEntries: 10, fairness });
    expect(fair.deltas.map((d) => `${d.node}:${d.entries.length}`)).toEqual(["quiet:1", "noisy:9"]);
    expect(fair).toMatchObject({ truncated: 1, leftOut: 31 });
  });

  test("a node the peer lists without any version counts as unknown to it and comes first", () => {
    const { state, digest, fairness } = scene({ versions: 3, peerHolds: 0 });
    expect(selectDeltas(state, digest, 1 << 20, keepOrder, { maxEntries: 10 }).deltas[0]!.node).toBe("noisy");
    const fair = selectDeltas(state, digest, 1 << 20, keepOrder, { maxEntries: 10, fairness: { ...fairness, heldSince: () => 0 } });
    expect(fair.deltas.map((d) => `${d.node}:${d.entries.length}`)).toEqual(["quiet:3", "noisy:7"]);
  });
});

describe("FLOW message", () => {
  const body = (write: (writer: FrameWriter) => void) => {
    const writer = new FrameWriter();
    writer.begin(MessageType.Flow, 1);
    write(writer);
    writer.end();
    return writer.finish().subarray(12);
  };

  test("round-trips, and bytes after the known fields (a later version's) are skipped", () => {
    const info = { allowedRate: 0.125, desiredRate: 40, ceilingRate: 1234.5, roundsSinceOverflow: 10 };
    const extended = body((writer) => {
      writeFlowInfo(writer, info);
      writer.varuint(99).varuint(7);
    });
    expect(readFlowInfo(new BodyReader(extended))).toEqual(info);
  });

  test("a short body is a decoding error naming the field; a rate that cannot be sent is refused", () => {
    const full = body((writer) => writeFlowInfo(writer, { allowedRate: 1, desiredRate: 1, ceilingRate: 1, roundsSinceOverflow: 1 }));
    expect(() => readFlowInfo(new BodyReader(full.subarray(0, full.length - 1)))).toThrow(DecodeError);
    expect(() => readFlowInfo(new BodyReader(full.subarray(0, full.length - 1)))).toThrow(/flow\.roundsSinceOverflow/);
    expect(() => body((writer) => writeFlowInfo(writer, { allowedRate: Number.NaN, desiredRate: 1, ceilingRate: 1, roundsSinceOverflow: 0 }))).toThrow(EncodeError);
  });
});

// ---- simulations ----------------------------------------------------------------------------

/** The largest of a figure over rounds in (from, to] seconds. */
function peak(rounds: readonly RoundRecord[], from: number, to: number, figure: (round: RoundRecord) => number): number {
  return Math.max(...rounds.filter((r) => r.seconds > from && r.seconds <= to).map(figure));
}
const maxStaleness = (round: RoundRecord) => round.staleness.maxReplicaMs;

/** An application write on a simulated node, through its public set(). */
function write(experiment: FlowExperiment, name: string, group: string, key: string, value: string): void {
  experiment.cluster.node(name).node.set(group, key, value);
}

/** Rounds (up to `limit`) until every node holds `keys` of `origin` in group "probe"; -1 if not within it. */
function roundsUntilEverywhere(experiment: FlowExperiment, origin: string, keys: readonly string[], limit: number): number {
  const start = experiment.seconds;
  for (let round = 1; round <= limit; round++) {
    experiment.runUntil(start + round);
    if (experiment.cluster.nodes.every((node) => keys.every((key) => node.state.get(origin, "probe", key)))) return round;
  }
  return -1;
}

describe("simulated overload (32 nodes × 16 keys, 20 deltas per message)", () => {
  const NODES = 32;
  // Anti-entropy delivers any update within a few times log2 N rounds; under control it must stay so.
  const BOUND_ROUNDS = 2 * Math.ceil(Math.log2(NODES)) + 5;
  const overloaded = (flowControl: boolean, quietNode: boolean) =>
    FlowExperiment.start({
      nodes: NODES,
      keysPerNode: 16,
      seed: 11,
      flowControl,
      valueBytes: 16,
      warmUpSeconds: 10,
      budgetAt: () => 20,
      // 0.5 updates/s per node is light load; 2.5 is about twice what 20 deltas per message carry.
      rate: (index, seconds) => (quietNode && index === NODES - 1 ? 0 : seconds >= 25 && seconds < 85 ? 2.5 : 0.5),
    });

  test("with flow control, staleness and backlog stay bounded and a quiet node's update arrives in bounded rounds; without, staleness grows and it starves", async () => {
    const outcomes = [];
    for (const flowControl of [true, false]) {
      const experiment = await overloaded(flowControl, true);
      experiment.runUntil(50);
      const quiet = experiment.names[NODES - 1]!;
      write(experiment, quiet, "probe", "hello", "from a quiet node");
      const quietRounds = roundsUntilEverywhere(experiment, quiet, ["hello"], BOUND_ROUNDS);
      experiment.runUntil(85);
      const rounds = experiment.rounds;
      const steady = rounds.filter((r) => r.seconds > 15 && r.seconds <= 25).map(maxStaleness);
      const backlog = (round: RoundRecord) => round.backlogEntries.reduce((a, b) => a + b, 0);
      outcomes.push({
        quietRounds,
        steadyMean: steady.reduce((a, b) => a + b, 0) / steady.length,
        overloadPeak: peak(rounds, 25, 85, maxStaleness),
        middle: { staleness: peak(rounds, 45, 65, maxStaleness), endToEnd: peak(rounds, 45, 65, (r) => r.staleness.maxEndToEndMs), backlog: peak(rounds, 45, 65, backlog) },
        late: { staleness: peak(rounds, 65, 85, maxStaleness), endToEnd: peak(rounds, 65, 85, (r) => r.staleness.maxEndToEndMs), backlog: peak(rounds, 65, 85, backlog) },
        maxBacklogPerNode: peak(rounds, 25, 85, (r) => Math.max(...r.backlogEntries)),
      });
    }
    const [on, off] = outcomes as [(typeof outcomes)[0], (typeof outcomes)[0]];
    console.log(`quiet node's update everywhere after: on ${on.quietRounds}, off ${off.quietRounds} rounds (bound ${BOUND_ROUNDS}); ` +
      `max staleness steady → overload peak: on ${(on.steadyMean / 1000).toFixed(1)} → ${(on.overloadPeak / 1000).toFixed(1)} s, off ${(off.steadyMean / 1000).toFixed(1)} → ${(off.overloadPeak / 1000).toFixed(1)} s`);

    // On: within three times the steady state, and the last 20 s no worse than the 20 s before.
    expect(on.overloadPeak).toBeLessThanOrEqual(3 * on.steadyMean);
    expect(on.late.staleness).toBeLessThanOrEqual(1.25 * on.middle.staleness);
    expect(on.late.endToEnd).toBeLessThanOrEqual(1.25 * on.middle.endToEnd);
    expect(on.late.backlog).toBeLessThanOrEqual(1.25 * on.middle.backlog);
    expect(on.maxBacklogPerNode).toBeLessThanOrEqual(16); // one waiting write per key at most
    expect(on.quietRounds).toBeGreaterThan(0);

    // Off, the same writes: past the bar, still climbing, and the quiet node's update starves.
    // (Climbing by 23 to 36 % from the middle 20 s to the last in runs so far, with the join's
    // timing alone moving it: "still climbing" is asked as more than 10 %.)
    expect(off.overloadPeak).toBeGreaterThan(3 * off.steadyMean);
    expect(off.late.staleness).toBeGreaterThan(1.1 * off.middle.staleness);
    expect(off.quietRounds).toBe(-1);
  }, 120_000); // whole simulated nodes: seconds on a quiet machine, much longer on a loaded one

  test("a node flooding updates past flow control starves no one: a quiet node's change and a joiner's state arrive in bounded rounds", async () => {
    // Node 0 ignores flow control and writes 200 updates/s over 5,000 keys, so every message it
    // or its relays build overflows whatever the others do; scuttle-depth then always serves the
    // flood first (chitchat #119), and only the fairness share gets small changes through.
    const outcomes = [];
    for (const flowControl of [true, false]) {
      const experiment = await FlowExperiment.start({ nodes: NODES, keysPerNode: 16, seed: 11, flowControl, valueBytes: 16, warmUpSeconds: 10, budgetAt: () => 20, rate: (index) => (index === 0 ? 0 : 0.3) });
      const flooder = experiment.cluster.nodes[0]!;
      flooder.node.applySettings({ gossip: { ...flooder.node.gossipSettings, flowControl: false } });
      let written = 0;
      const flood = (): void => {
        if (experiment.seconds >= 20) write(experiment, flooder.name, "flood", `f${written++ % 5000}`, String(written));
        experiment.cluster.clock.setTimer(5, flood);
      };
      flood();
      experiment.runUntil(40);
      const quiet = experiment.names[NODES - 1]!;
      write(experiment, quiet, "probe", "hello", "from a quiet node");
      experiment.cluster.addNode("joiner");
      await experiment.cluster.started();
      for (const key of ["a", "b", "c"]) write(experiment, "joiner", "probe", key, key);
      let quietRounds = -1;
      let joinerRounds = -1;
      // The quiet change is checked on the nodes that were there: the joiner, which starts empty,
      // learns every node's state at 20 entries per message, one node's state per message, in an
      // order that has nothing to do with the quiet change (unknown nodes, biggest first).
      const holds = (origin: string, keys: readonly string[], among: readonly SimNode[]) => among.every((node) => keys.every((key) => node.state.get(origin, "probe", key)));
      const before = experiment.cluster.nodes.filter((node) => node.name !== "joiner");
      for (let round = 1; round <= BOUND_ROUNDS && (quietRounds < 0 || joinerRounds < 0); round++) {
        experiment.runUntil(40 + round);
        if (quietRounds < 0 && holds(quiet, ["hello"], before)) quietRounds = round;
        if (joinerRounds < 0 && holds("joiner", ["a", "b", "c"], experiment.cluster.nodes)) joinerRounds = round;
      }
      // The flood is real: some node is far behind the flooder.
      const floodLag = Math.max(...experiment.cluster.nodes.map((node) => flooder.state.self.maxVersion - (node.state.nodes.get(flooder.name)?.maxVersion ?? 0)));
      outcomes.push({ quietRounds, joinerRounds, floodLag });
    }
    const [on, off] = outcomes as [(typeof outcomes)[0], (typeof outcomes)[0]];
    console.log(`under a flood: quiet node's change everywhere after on ${on.quietRounds}, off ${off.quietRounds}; joiner's state on ${on.joinerRounds}, off ${off.joinerRounds} rounds (bound ${BOUND_ROUNDS}); flooder lag on ${on.floodLag}, off ${off.floodLag} versions`);
    expect(on.floodLag).toBeGreaterThan(20 * BOUND_ROUNDS);
    expect(on.quietRounds).toBeGreaterThan(0);
    expect(on.joinerRounds).toBeGreaterThan(0);
    // Without flow control the quiet change starved in protocol 3 (scuttle-depth served the flood
    // first in every message). With protocol 4 it got through in this run (the figure is logged);
    // why has not been looked into, so nothing is asserted on it.
  }, 120_000); // whole simulated nodes: seconds on a quiet machine, much longer on a loaded one

  test("the overload is reported at most once per period on every node", async () => {
    const experiment = await overloaded(true, false);
    experiment.runUntil(85);
    for (const node of experiment.cluster.nodes) {
      expect(node.overloads.length).toBeGreaterThanOrEqual(1);
      expect(node.overloads.length).toBeLessThanOrEqual(Math.ceil((85 - 25) / (OVERLOAD_REPORT_PERIOD_MS / 1000)) + 1);
    }
  }, 120_000); // whole simulated nodes: seconds on a quiet machine, much longer on a loaded one
});

describe("return to steady state after an overload (the benchmark at half size: 64 nodes × 32 keys, 50 deltas per message)", () => {
  test("with flow control, max staleness is back in the steady-state band within 10 rounds of the overload's end and stays there", async () => {
    // The benchmark's workload (scripts/bench/flow.ts) with half the nodes, keys and budget: 60
    // busy nodes write at 0.75 or 1.25 updates/s, doubled from t = 25 s to 75 s; 4 quiet nodes
    // write 0.1 updates/s. The control run is the same without the doubling: the steady state.
    const NODES = 64;
    const QUIET = 4;
    const window = { steadyFromS: 15, overloadEndS: 75, untilS: 90 };
    const experiment = async (overload: boolean) => {
      const run = await FlowExperiment.start({
        nodes: NODES,
        keysPerNode: 32,
        seed: 1,
        flowControl: true,
        valueBytes: 16,
        warmUpSeconds: 6,
        budgetAt: () => 50,
        rate: (index, seconds) => {
          if (index >= NODES - QUIET) return 0.1;
          const base = index % 2 === 0 ? 0.75 : 1.25;
          return overload && seconds >= 25 && seconds < window.overloadEndS ? 2 * base : base;
        },
      });
      run.runUntil(window.untilS);
      return run;
    };
    const overloaded = await experiment(true);
    const control = await experiment(false);
    const back = steadyReturn(overloaded.rounds, control.rounds, window);
    const averagedPeak = Math.max(...averagedStaleness(overloaded.rounds, 25, window.overloadEndS).map((point) => point.ms));
    const waitingAtEnd = overloaded.rounds.find((r) => r.seconds === window.overloadEndS)!.backlogEntries.reduce((a, b) => a + b, 0);
    console.log(`steady-state band ${(back.bandMs / 1000).toFixed(2)} s (3-round average); overload peak ${(averagedPeak / 1000).toFixed(2)} s; ` +
      `${waitingAtEnd} writes waiting at t = ${window.overloadEndS} s; back in the band after ${back.firstInBand} rounds, for good after ${back.backForGood}`);

    // A real overload: staleness left the band and flow control held writes back...
    expect(averagedPeak).toBeGreaterThan(back.bandMs);
    expect(waitingAtEnd).toBeGreaterThan(0);
    // ...and within 10 rounds of its end the cluster is back in steady state, and stays there.
    expect(back.backForGood).not.toBeNull();
    expect(back.backForGood!).toBeLessThanOrEqual(10);
  }, 120_000); // whole simulated nodes: seconds on a quiet machine, much longer on a loaded one
});

describe("fair share (48 nodes that all want more than the capacity)", () => {
  test("allowed rates converge on one level and admitted rates are fair; without flow control they follow demand", async () => {
    const run = async (flowControl: boolean) => {
      const experiment = await FlowExperiment.start({
        nodes: 48,
        keysPerNode: 24,
        seed: 5,
        flowControl,
        valueBytes: 16,
        warmUpSeconds: 10,
        budgetAt: () => 30,
        // About 1.2 updates/s per node fit; half the nodes want 2, half 4.
        rate: (index) => (index % 2 === 0 ? 2 : 4),
      });
      experiment.runUntil(100);
      // Each node's level: its allowed rate averaged over the last 20 rounds. One round's rates
      // spread by more than the decrease factor, since a node that just cut sits that much under
      // the others until the FLOW exchanges bring it back.
      const last = experiment.rounds.slice(-20);
      const allowed = experiment.names.map((_, node) => last.reduce((sum, round) => sum + round.allowedRates[node]!, 0) / last.length);
      return { admitted: experiment.tracker.admittedRates(40_000, 100_000), allowed };
    };
    const on = await run(true);
    const off = await run(false);
    console.log(`Jain's index of admitted rates: on ${jainIndex(on.admitted).toFixed(3)}, off ${jainIndex(off.admitted).toFixed(3)}; ` +
      `allowed rates (last 20 rounds) ${Math.min(...on.allowed).toFixed(2)}–${Math.max(...on.allowed).toFixed(2)} updates/s`);
    expect(jainIndex(on.admitted)).toBeGreaterThanOrEqual(0.95);
    expect(Math.max(...on.allowed) / Math.min(...on.allowed)).toBeLessThanOrEqual(1.25);
    expect(Math.max(...on.admitted)).toBeLessThan(2); // every node limited below what even the lighter half wants
    expect(jainIndex(off.admitted)).toBeLessThan(0.95);
  }, 120_000); // whole simulated nodes: seconds on a quiet machine, much longer on a loaded one
});

// ---- whole nodes ----------------------------------------------------------------------------

describe("whole nodes under overload", () => {
  test("writes that wait read back at once, one warning and one event per period with the figures, flushed on stop", async () => {
    const warnings: string[] = [];
    const logger: Logger = { debug() {}, info() {}, warn: (message) => void warnings.push(message), error() {} };
    const cluster = new SimulatedCluster({
      nodes: 4,
      seed: 3,
      network: { lossRate: 0, minLatencyMs: 1, maxLatencyMs: 5 },
      gossip: { gossipIntervalMs: 1000, fanout: 1, pushFanout: 0, flowControl: true, maxEntriesPerMessage: 3 },
      membership: {},
      logger,
    });
    await cluster.started();
    cluster.runFor(5000);
    const writer = cluster.nodes[0]!.node;
    const events: OverloadEvent[] = [];
    writer.on("gossip-overload", (event) => void events.push(event));
    // The logger is shared: a relay whose messages overflow too reports its own overload.
    const everyNodesEvents: OverloadEvent[] = [];
    for (const { node } of cluster.nodes) node.on("gossip-overload", (event) => void everyNodesEvents.push(event));
    // Warnings and events over the same period: a start-up overflow (the first pages of every
    // member at 3 entries per message) is logged before the handler is there.
    const warningsBefore = warnings.length;
    const eventsBefore = writer.stats().overloadEvents["flow-control"];
    const versions: number[] = [];
    let last = 0;
    // 6 writes per second over 200 keys, where 3 entries per message move about 2 per second.
    for (let second = 0; second < 40; second++) {
      for (let i = 0; i < 6; i++) {
        last++;
        versions.push(writer.set("load", `k${last % 200}`, last));
      }
      cluster.runFor(1000);
    }
    expect(versions.filter((version) => version === 0).length).toBeGreaterThan(0);
    const status = writer.flowControl();
    expect(status).toMatchObject({ enabled: true, limiting: true });
    expect(status.backlogEntries).toBeGreaterThan(0);
    // The newest write reads back here at once, waiting or not, with version 0 while it waits.
    const newest = writer.getEntry(writer.name, "load", `k${last % 200}`)!;
    expect(newest.value).toBe(last);
    const waitingKeys = writer.entries(writer.name).filter((entry) => entry.version === 0);
    expect(waitingKeys.length).toBe(status.backlogEntries);

    const flowEvents = events.filter((event) => event.cause === "flow-control");
    const flowWarnings = warnings.slice(warningsBefore).filter((message) => message.startsWith("gossip overload"));
    expect(flowEvents.length).toBeGreaterThanOrEqual(1);
    expect(flowEvents.length).toBeLessThanOrEqual(Math.ceil(40_000 / OVERLOAD_REPORT_PERIOD_MS) + 1);
    expect(flowWarnings.length).toBe(everyNodesEvents.filter((event) => event.cause === "flow-control").length); // one line per event, not per round
    expect(writer.stats().overloadEvents["flow-control"] - eventsBefore).toBe(flowEvents.length);
    expect(flowEvents[0]).toMatchObject({ node: writer.name, flow: { enabled: true } });
    expect(flowEvents[0]!.reason).toContain("writes waiting");

    await writer.stop();
    expect(writer.flowControl().backlogEntries).toBe(0);
    expect(writer.state.get(writer.name, "load", `k${last % 200}`)!.version).toBeGreaterThan(0);
  }, 120_000); // whole simulated nodes: seconds on a quiet machine, much longer on a loaded one
});
