// Issue #18, bar 2: no gossip message exceeds the frame limit at any cluster size. One node holds
// 100,000 members (a digest listing them all would be several MiB); a peer that knows none of
// them reconciles with it over real frames, every one checked against the 1 MiB frame limit and
// the gossip budget, until it holds them all, and from then on the two exchange summaries only.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { DEFAULT_MAX_FRAME_BYTES, type Frame, FrameDecoder, HEADER_BYTES, MessageType, digestSize } from "../src/codec/index.ts";
import { GossipEngine, type GossipSettings } from "../src/gossip/engine.ts";
import type { EngineOutcome } from "../src/gossip/outcome.ts";
import { createRandom } from "../src/random.ts";
import { ClusterState, NodeState, defaultStateLimits } from "../src/state/index.ts";
import { VirtualClock } from "../src/transport/virtual-clock.ts";

// Tens of seconds on a loaded two-core machine: 100,000 members, built and reconciled for real.
setDefaultTimeout(300_000);

const MEMBERS = 100_000;
const settings: GossipSettings = {
  gossipIntervalMs: 1000,
  fanout: 1,
  maxGossipBytes: 256 * 1024, // the default
  pushFanout: 0,
  maxNameBytes: 64,
  maxKeyBytes: 256,
  maxValueBytes: 64 * 1024,
};

function engine(name: string, clock: VirtualClock, seed: number): GossipEngine {
  const state = new ClusterState(name, 1, clock, { tombstoneGraceMs: 60_000, limits: defaultStateLimits });
  return new GossipEngine(state, clock, createRandom(seed), settings, { get: () => [] });
}

describe("size ceiling", () => {
  test("a node holding 100,000 members and a peer that knows none reconcile without a frame over the limit", () => {
    const clock = new VirtualClock();
    const big = engine("big", clock, 1);
    const empty = engine("empty", clock, 2);
    // Long names (40 bytes) and generations of 6 bytes, as real ones are (milliseconds since 1970).
    for (let i = 0; i < MEMBERS; i++) {
      const name = `member-${String(i).padStart(6, "0")}-${"x".repeat(26)}`;
      big.state.nodes.set(name, new NodeState(name, 1_700_000_000_000 + i));
    }
    expect(big.state.nodes.size).toBe(MEMBERS + 1);
    // What protocol 3 sent in every SYN and SYN-ACK: this many bytes could never be one frame.
    expect(digestSize(big.state.digest())).toBeGreaterThan(DEFAULT_MAX_FRAME_BYTES * 4);

    let largestFrame = 0;
    let frames = 0;
    const engines = new Map([["big", big], ["empty", empty]]);
    /** Delivers `from`'s batches (and the answers they cause) until none is left, checking every frame. */
    const deliver = (from: string, batches: EngineOutcome): void => {
      const queue = batches.sends.map((batch) => ({ from, batch }));
      for (let steps = 0; queue.length > 0; steps++) {
        expect(steps).toBeLessThan(10); // SYN, SYN-ACK, ACK, ACK: an exchange ends
        const { from: sender, batch } = queue.shift()!;
        const decoded: Frame[] = [];
        new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES }).push(batch.frames, (frame) => decoded.push(frame));
        for (const frame of decoded) {
          frames++;
          largestFrame = Math.max(largestFrame, frame.body.length + HEADER_BYTES);
          expect(frame.body.length).toBeLessThanOrEqual(settings.maxGossipBytes);
          for (const peer of batch.peers) {
            const outcome = engines.get(peer)!.handleFrame(sender, frame)!;
            expect(outcome.protocolError).toBeUndefined();
            for (const answer of outcome.sends) queue.push({ from: peer, batch: answer });
          }
        }
      }
    };

    let exchanges = 0;
    while (empty.state.nodes.size < big.state.nodes.size && exchanges < 100) {
      exchanges++;
      clock.advance(1000);
      // Each starts an exchange in turn, as both would in a real cluster.
      deliver("big", big.round(["empty"]));
      deliver("empty", empty.round(["big"]));
    }
    expect(empty.state.nodes.size).toBe(MEMBERS + 2);
    expect(big.state.nodes.size).toBe(MEMBERS + 2);
    expect(largestFrame).toBeLessThanOrEqual(DEFAULT_MAX_FRAME_BYTES);
    // A page carries at most a budget's worth: many exchanges were needed, each one bounded.
    expect(exchanges).toBeGreaterThan(4);

    // Converged: an exchange is a summary and an empty page, whatever the cluster's size.
    const before = { syn: big.stats.bytesOut.syn, frames };
    const synAcksBefore = empty.stats.messagesIn.synack;
    clock.advance(1000);
    const round = big.round(["empty"]);
    for (const batch of round.sends) for (const frame of decodeAll(batch.frames)) expect(frame.type).toBe(MessageType.Syn);
    deliver("big", round);
    expect(frames - before.frames).toBe(2); // SYN and SYN-ACK, no ACK: nothing differs
    expect(empty.stats.messagesIn.synack).toBe(synAcksBefore);
    expect(big.stats.messagesIn.synack).toBeGreaterThan(0);
  });
});

function decodeAll(bytes: Uint8Array): Frame[] {
  const frames: Frame[] = [];
  new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES }).push(bytes, (frame) => frames.push(frame));
  return frames;
}
