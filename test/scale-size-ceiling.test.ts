// Issue #18, bar 2: no gossip message exceeds the frame limit at any cluster size. One node holds
// 100,000 members (a digest listing them all would be several MiB); a peer that knows none of
// them reconciles with it over real frames, every one checked against the 1 MiB frame limit and
// the gossip budget. At 3,000 members and a small budget the peer learns them all over many
// pages, and from then on the two exchange summaries only.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { DEFAULT_MAX_FRAME_BYTES, type Frame, FrameDecoder, HEADER_BYTES, MessageType, digestSize } from "../src/codec/index.ts";
import { GossipEngine, type GossipSettings } from "../src/gossip/engine.ts";
import type { EngineOutcome } from "../src/gossip/outcome.ts";
import { createRandom } from "../src/random.ts";
import { ClusterState, NodeState, defaultStateLimits } from "../src/state/index.ts";
import { NEW_MEMBERS_PER_PEER_ROUND } from "../src/state/probation.ts";
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

function engine(name: string, clock: VirtualClock, seed: number, gossip: GossipSettings, maxMembers: number): GossipEngine {
  const state = new ClusterState(name, 1, clock, { tombstoneGraceMs: 60_000, limits: { ...defaultStateLimits, maxMembers } });
  return new GossipEngine(state, clock, createRandom(seed), gossip, { get: () => [] });
}

/** `big` holding `members` members (long names, generations of 6 bytes as real ones), `empty` none; exchanges checked frame by frame. */
function pair(members: number, gossip: GossipSettings) {
  const clock = new VirtualClock();
  const big = engine("big", clock, 1, gossip, members + 2);
  const empty = engine("empty", clock, 2, gossip, members + 2);
  for (let i = 0; i < members; i++) {
    const name = `member-${String(i).padStart(6, "0")}-${"x".repeat(26)}`;
    big.state.nodes.set(name, new NodeState(name, 1_700_000_000_000 + i));
  }
  let largestFrame = 0;
  let frames = 0;
  const engines = new Map([["big", big], ["empty", empty]]);
  /** Delivers `from`'s batches (and the answers they cause) until none is left, checking every frame. */
  const deliver = (from: string, batches: EngineOutcome): void => {
    const queue = batches.sends.map((batch) => ({ from, batch }));
    for (let steps = 0; queue.length > 0; steps++) {
      expect(steps).toBeLessThan(10); // SYN, SYN-ACK, ACK, ACK: an exchange ends
      const { from: sender, batch } = queue.shift()!;
      for (const frame of decodeAll(batch.frames)) {
        frames++;
        largestFrame = Math.max(largestFrame, frame.body.length + HEADER_BYTES);
        expect(frame.body.length).toBeLessThanOrEqual(gossip.maxGossipBytes);
        for (const peer of batch.peers) {
          const outcome = engines.get(peer)!.handleFrame(sender, frame)!;
          expect(outcome.protocolError).toBeUndefined();
          for (const answer of outcome.sends) queue.push({ from: peer, batch: answer });
        }
      }
    }
  };
  /** One exchange started by each, in turn, as both would in a real cluster. */
  const exchange = (): void => {
    clock.advance(1000);
    deliver("big", big.round(["empty"]));
    deliver("empty", empty.round(["big"]));
  };
  return { clock, big, empty, deliver, exchange, frames: () => frames, largestFrame: () => largestFrame };
}

describe("size ceiling", () => {
  test("a node holding 100,000 members and a peer that knows none exchange no frame over the limit", () => {
    const { big, empty, exchange, largestFrame } = pair(MEMBERS, settings);
    expect(big.state.nodes.size).toBe(MEMBERS + 1);
    // What protocol 3 sent in every SYN and SYN-ACK: this many bytes could never be one frame.
    expect(digestSize(big.state.digest())).toBeGreaterThan(DEFAULT_MAX_FRAME_BYTES * 4);
    // A peer introduces at most NEW_MEMBERS_PER_PEER_ROUND names per round of ours (issue #16),
    // so learning 100,000 takes over 1,500 rounds; 20 show the frames bounded and the learning
    // going on at that rate in every round.
    for (let i = 1; i <= 20; i++) {
      const before = empty.state.nodes.size;
      exchange(); // two exchanges around one round of `empty`: one or two rounds' worth of names
      expect(empty.state.nodes.size - before).toBeGreaterThanOrEqual(NEW_MEMBERS_PER_PEER_ROUND);
      expect(empty.state.nodes.size - before).toBeLessThanOrEqual(2 * NEW_MEMBERS_PER_PEER_ROUND);
    }
    expect(largestFrame()).toBeLessThanOrEqual(settings.maxGossipBytes + HEADER_BYTES);
  });

  test("3,000 members over pages of at most 16 KiB: the peer learns them all, then the two exchange a summary and an empty page", () => {
    const members = 3_000;
    const small = { ...settings, maxGossipBytes: 16 * 1024 };
    const { big, empty, deliver, exchange, frames, largestFrame, clock } = pair(members, small);
    let exchanges = 0;
    while (empty.state.nodes.size < big.state.nodes.size && exchanges < 100) {
      exchanges++;
      exchange();
    }
    expect(empty.state.nodes.size).toBe(members + 2);
    expect(big.state.nodes.size).toBe(members + 2);
    expect(largestFrame()).toBeLessThanOrEqual(small.maxGossipBytes + HEADER_BYTES);
    // A page of all 3,000 (~140 KB) does not fit, and a peer introduces at most
    // NEW_MEMBERS_PER_PEER_ROUND names per round: many exchanges were needed, each one bounded.
    expect(exchanges).toBeGreaterThan(8);

    // Converged: an exchange is a summary and an empty page, whatever the cluster's size.
    const before = frames();
    const synAcksBefore = empty.stats.messagesIn.synack;
    clock.advance(1000);
    const round = big.round(["empty"]);
    for (const batch of round.sends) for (const frame of decodeAll(batch.frames)) expect(frame.type).toBe(MessageType.Syn);
    deliver("big", round);
    expect(frames() - before).toBe(2); // SYN and SYN-ACK, no ACK: nothing differs
    expect(empty.stats.messagesIn.synack).toBe(synAcksBefore);
    expect(big.stats.messagesIn.synack).toBeGreaterThan(0);
  });
});

function decodeAll(bytes: Uint8Array): Frame[] {
  const frames: Frame[] = [];
  new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES }).push(bytes, (frame) => frames.push(frame));
  return frames;
}
