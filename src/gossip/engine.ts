// The gossip round engine. Every interval it bumps this node's heartbeat, expires and collects
// old entries, and runs a three-way exchange with `fanout` peers:
//   SYN (my digest) → SYN-ACK (your digest + what you lack) → ACK (what you lack).
// Both sides send deltas. Exchanges are stateless: each message is handled on its own when it
// arrives, so a lost message costs one exchange and never leaves anything waiting.
// Fresh local writes are also pushed at once to a few peers, and a node forwards a pushed entry
// once when it was new to it; the rounds still guarantee delivery.
// With flow control on (flow-control.ts), local writes are paced to an allowed rate, SYN and
// SYN-ACK travel with a FLOW frame carrying this node's rates, and delta selection reserves part
// of the budget for the changes that have waited longest.

import {
  BodyReader,
  DecodeError,
  type DigestEntry,
  type Frame,
  FrameWriter,
  MessageType,
  type NodeDelta,
  readDeltas,
  readDigest,
  readFlowInfo,
  writeDeltas,
  writeDigest,
  writeFlowInfo,
} from "../codec/index.ts";
import { RepeatingTimer, type Clock } from "../clock.ts";
import type { Random } from "../random.ts";
import {
  type ChangeRecord,
  type ClusterState,
  type NodeState,
  type SelectionFairness,
  type SelectionOptions,
  type SelectionResult,
  applyDigest,
  entryId,
  isKnownValueType,
  mergeDeltas,
  selectDeltas,
} from "../state/index.ts";
import type { SendResult } from "../transport/transport.ts";
import { toWire } from "../state/delta-selection.ts";
import { FlowControl, type OverloadReport } from "./flow-control.ts";
import { VersionArrivals } from "./version-arrivals.ts";

/**
 * With flow control on, the share of each delta budget that goes to the changes that have waited
 * longest here, before scuttle-depth takes the rest (see selectDeltas).
 */
const OLDEST_FIRST_SHARE = 0.25;

/**
 * One frame writer for every engine in the process. A frame is begun, written and finished (copied
 * out) synchronously, before anything is sent, so engines never interleave on it; and a process
 * hosting many engines (the simulator runs 10,000) keeps one buffer as large as the largest
 * message instead of one each (a SYN-ACK's digest is ~150 KB at 10,000 members).
 */
const sharedWriter = new FrameWriter(4096);

export interface GossipSettings {
  gossipIntervalMs: number;
  /** Peers contacted per round. */
  fanout: number;
  /** Largest SYN-ACK/ACK/PUSH body, digest included. */
  maxGossipBytes: number;
  /** Peers a fresh write is pushed to at once (0 turns pushing off). */
  pushFanout: number;
  maxNameBytes: number;
  maxKeyBytes: number;
  maxValueBytes: number;
  /** Pace local writes to a fair share of the gossip capacity (flow-control.ts); off when absent. */
  flowControl?: boolean;
  /** At most this many entries per SYN-ACK or ACK besides the byte budget; unlimited when absent. */
  maxEntriesPerMessage?: number;
}

export interface GossipHooks {
  send(peer: string, frames: Uint8Array): SendResult;
  /** Chooses up to `count` peers to gossip with this round. */
  choosePeers(count: number): string[];
  /** Chooses up to `count` live peers to push a write of `origin` to, never any of `exclude`. */
  choosePushPeers(count: number, origin: string, exclude: ReadonlySet<string>): string[];
  onChanges(changes: ChangeRecord[]): void;
  onHeartbeat(node: string): void;
  onDiscovered(node: string): void;
  /** A peer sent bytes we could not decode; the caller decides what to do with the connection. */
  onProtocolError(peer: string, error: DecodeError): void;
  /** Called at the start of every round, before the exchange (membership, health checks). */
  onRound?(): void;
  /** This node's gossip is overloaded (reported at most once per OVERLOAD_REPORT_PERIOD_MS). */
  onOverload?(report: OverloadReport): void;
  /** Local writes that flow control held back were published (their events were raised when written). */
  onPublished?(changes: ChangeRecord[]): void;
}

export interface GossipStats {
  rounds: number;
  bytesOut: Record<string, number>;
  bytesIn: Record<string, number>;
  messagesOut: Record<string, number>;
  messagesIn: Record<string, number>;
  entriesReceived: number;
  entriesApplied: number;
  entriesSkipped: number;
  /** Times a peer's write queue was full and it was skipped for the round. */
  overloadSkips: number;
  /** Times the selected deltas did not all fit in the budget. */
  budgetOverflows: number;
  decodeErrors: number;
}

const typeLabels: Record<number, string> = {
  [MessageType.Syn]: "syn",
  [MessageType.SynAck]: "synack",
  [MessageType.Ack]: "ack",
  [MessageType.Push]: "push",
  [MessageType.Flow]: "flow",
};

/** An encoded batch of frames and, per frame, its label and size (for the counters). */
interface Batch {
  frames: Uint8Array;
  parts: [label: string, bytes: number][];
}

export class GossipEngine {
  readonly stats: GossipStats = {
    rounds: 0,
    bytesOut: { syn: 0, synack: 0, ack: 0, push: 0, flow: 0 },
    bytesIn: { syn: 0, synack: 0, ack: 0, push: 0, flow: 0 },
    messagesOut: { syn: 0, synack: 0, ack: 0, push: 0, flow: 0 },
    messagesIn: { syn: 0, synack: 0, ack: 0, push: 0, flow: 0 },
    entriesReceived: 0,
    entriesApplied: 0,
    entriesSkipped: 0,
    overloadSkips: 0,
    budgetOverflows: 0,
    decodeErrors: 0,
  };
  /** Paces this node's writes; always present, inert while the flowControl setting is off. */
  readonly flow: FlowControl;
  private readonly timer: RepeatingTimer;
  private readonly writer: FrameWriter;
  private nextCorrelationId = 1;
  private readonly shuffle: <T>(items: T[]) => T[];
  private readonly arrivals: VersionArrivals;
  private readonly fairness: SelectionFairness;
  private readonly learnVersions = (node: NodeState, maxVersion: number): void => this.arrivals.learn(node, node.generation, maxVersion);

  constructor(
    readonly state: ClusterState,
    private readonly clock: Clock,
    private readonly random: Random,
    public settings: GossipSettings,
    private readonly hooks: GossipHooks,
  ) {
    this.timer = new RepeatingTimer(clock, settings.gossipIntervalMs, () => this.round());
    this.writer = sharedWriter;
    this.shuffle = (items) => random.shuffle(items);
    this.flow = new FlowControl(state, clock, settings.gossipIntervalMs, settings.flowControl ?? false);
    this.arrivals = new VersionArrivals(() => clock.now());
    // "Held since" for selection is when this node first knew of the version (a peer's digest
    // may tell before the version arrives): see version-arrivals.ts.
    this.fairness = { oldestFirstShare: OLDEST_FIRST_SHARE, heldSince: (node, version) => this.arrivals.knownSince(node, version) };
  }

  start(): void {
    // A random first delay spreads the rounds of nodes started together.
    this.timer.start(this.random.next() * this.settings.gossipIntervalMs);
  }

  stop(): void {
    this.timer.stop();
  }

  /** Applies new settings live (the interval re-arms the timer). */
  updateSettings(settings: GossipSettings): void {
    const intervalChanged = settings.gossipIntervalMs !== this.settings.gossipIntervalMs;
    this.settings = settings;
    if (intervalChanged) this.timer.setInterval(settings.gossipIntervalMs);
    this.announcePublished(this.flow.configure(settings.flowControl ?? false, settings.gossipIntervalMs));
  }

  round(): void {
    this.stats.rounds++;
    this.state.bumpHeartbeat();
    const expired = this.state.sweep();
    if (expired.length > 0) {
      this.hooks.onChanges(expired);
      for (const change of expired) if (change.local) this.pushLocal(change.group, change.key);
    }
    const flow = this.flow.startRound();
    this.announcePublished(flow.published);
    if (flow.report) this.hooks.onOverload?.(flow.report);
    if (this.arrivals.size > this.state.nodes.size) this.arrivals.retain((name) => this.state.nodes.has(name));
    this.hooks.onRound?.();
    const peers = this.hooks.choosePeers(this.settings.fanout);
    if (peers.length === 0) return;
    const digest = this.state.digest();
    const correlationId = this.correlationId();
    const syn = this.build(() => {
      this.writer.begin(MessageType.Syn, correlationId);
      writeDigest(this.writer, digest);
      return this.finishBatch("syn", correlationId);
    });
    for (const peer of peers) this.send(peer, syn);
  }

  /** Publishes every write flow control holds back, now (the node is stopping). */
  flushWrites(): void {
    this.announcePublished(this.flow.flush());
  }

  /** Writes that waited in flow control went out: tell the owner and push them like fresh writes. */
  private announcePublished(changes: ChangeRecord[]): void {
    if (changes.length === 0) return;
    this.hooks.onPublished?.(changes);
    for (const change of changes) this.pushLocal(change.group, change.key);
  }

  /** Handles a gossip frame; returns false for other message types (not ours). */
  handleFrame(from: string, frame: Frame): boolean {
    const label = typeLabels[frame.type];
    if (label === undefined) return false;
    this.stats.messagesIn[label]!++;
    this.stats.bytesIn[label]! += frame.body.length + 12;
    try {
      const reader = new BodyReader(frame.body);
      switch (frame.type) {
        case MessageType.Syn:
          this.onSyn(from, frame.correlationId, reader);
          break;
        case MessageType.SynAck:
          this.onSynAck(from, frame.correlationId, reader);
          break;
        case MessageType.Ack:
          this.mergeFrom(from, reader, false);
          break;
        case MessageType.Push:
          this.mergeFrom(from, reader, true);
          break;
        case MessageType.Flow:
          this.flow.onPeerInfo(readFlowInfo(reader));
          break;
      }
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.stats.decodeErrors++;
      this.hooks.onProtocolError(from, error);
    }
    return true;
  }

  /** Pushes this node's latest write of (group, key) to a few peers right away. */
  pushLocal(group: string, key: string): void {
    if (this.settings.pushFanout <= 0) return;
    const self = this.state.self;
    const entry = self.entries.get(entryId(group, key));
    if (!entry) return;
    const delta: NodeDelta = {
      node: self.name,
      generation: self.generation,
      fromVersion: entry.version - 1,
      collectedUpTo: self.collectedUpTo,
      maxVersion: self.maxVersion,
      entries: [toWire(entry)],
    };
    this.push([delta], new Set([self.name]));
  }

  private onSyn(from: string, correlationId: number, reader: BodyReader): void {
    const peerDigest = readDigest(reader, this.settings.maxNameBytes);
    reader.expectEnd("syn");
    this.learnFromDigest(peerDigest);
    const synAck = this.build(() => {
      // The digest goes first, so the room left for deltas is what it took (no separate sizing pass).
      this.writer.begin(MessageType.SynAck, correlationId);
      writeDigest(this.writer, this.state.digest());
      const selection = this.select(peerDigest, Math.max(0, this.settings.maxGossipBytes - this.writer.bodyLength));
      writeDeltas(this.writer, selection.deltas);
      return this.finishBatch("synack", correlationId);
    });
    this.send(from, synAck);
  }

  private onSynAck(from: string, correlationId: number, reader: BodyReader): void {
    const peerDigest = readDigest(reader, this.settings.maxNameBytes);
    this.learnFromDigest(peerDigest);
    this.mergeFrom(from, reader, false);
    const selection = this.select(peerDigest, this.settings.maxGossipBytes);
    if (selection.deltas.length === 0) return;
    const ack = this.build(() => {
      this.writer.begin(MessageType.Ack, correlationId);
      writeDeltas(this.writer, selection.deltas);
      return this.finishBatch("ack", correlationId, false);
    });
    this.send(from, ack);
  }

  /** Deltas for a peer within `budget` bytes; an overflow counts, and feeds flow control. */
  private select(peerDigest: readonly DigestEntry[], budget: number): SelectionResult {
    const options: SelectionOptions = {};
    if (this.settings.maxEntriesPerMessage !== undefined) options.maxEntries = this.settings.maxEntriesPerMessage;
    if (this.flow.enabled) options.fairness = this.fairness;
    const selection = selectDeltas(this.state, peerDigest, budget, this.shuffle, options);
    if (selection.truncated > 0) this.stats.budgetOverflows++;
    this.flow.noteSelection(selection);
    return selection;
  }

  /**
   * Writes a batch of frames on the shared writer. If writing throws, whatever it wrote is dropped,
   * so that the writer stays usable for every engine in the process.
   */
  private build<T>(write: () => T): T {
    try {
      return write();
    } catch (error) {
      this.writer.abandon();
      this.writer.finish();
      throw error;
    }
  }

  /**
   * Ends the frame being written and, for SYN and SYN-ACK with flow control on, adds a FLOW frame
   * with this node's rates (same correlation id): the rates travel in the same write.
   */
  private finishBatch(label: string, correlationId: number, withRates = true): Batch {
    this.writer.end();
    const parts: Batch["parts"] = [[label, this.writer.length]];
    if (withRates && this.flow.enabled) {
      const before = this.writer.length;
      this.writer.begin(MessageType.Flow, correlationId);
      writeFlowInfo(this.writer, this.flow.localInfo());
      this.writer.end();
      parts.push(["flow", this.writer.length - before]);
    }
    return { frames: this.writer.finish(), parts };
  }

  private learnFromDigest(digest: Parameters<typeof applyDigest>[1]): void {
    // The versions the peer holds are known from now on, for the oldest-waiting-first share.
    const outcome = applyDigest(this.state, digest, this.flow.enabled ? this.learnVersions : undefined);
    for (const node of outcome.discovered) this.hooks.onDiscovered(node);
    for (const node of outcome.heartbeats) this.hooks.onHeartbeat(node);
    if (outcome.changes.length > 0) this.hooks.onChanges(outcome.changes);
  }

  private mergeFrom(from: string, reader: BodyReader, pushed: boolean): void {
    const decoded = readDeltas(reader, {
      maxNameBytes: this.settings.maxNameBytes,
      maxKeyBytes: this.settings.maxKeyBytes,
      maxValueBytes: this.settings.maxValueBytes,
      isKnownValueType,
    });
    reader.expectEnd("deltas");
    let received = decoded.skipped.length;
    for (const delta of decoded.deltas) received += delta.entries.length;
    const outcome = mergeDeltas(this.state, decoded.deltas);
    if (this.flow.enabled) {
      // Stamp the versions that just arrived, for the oldest-waiting-first share.
      for (const delta of decoded.deltas) {
        const node = this.state.nodes.get(delta.node);
        if (node) this.arrivals.observe(node);
      }
    }
    this.stats.entriesReceived += received;
    this.stats.entriesApplied += outcome.applied;
    this.stats.entriesSkipped += outcome.skipped + decoded.skipped.length;
    for (const node of outcome.discovered) this.hooks.onDiscovered(node);
    if (outcome.changes.length > 0) this.hooks.onChanges(outcome.changes);
    if (pushed && outcome.applied > 0) this.forwardPush(from, decoded.deltas);
  }

  /** Forwards the pushed entries that were new here, once, to peers other than the sender. */
  private forwardPush(from: string, deltas: NodeDelta[]): void {
    const fresh: NodeDelta[] = [];
    for (const delta of deltas) {
      const node = this.state.nodes.get(delta.node);
      if (!node || node.generation !== delta.generation) continue;
      const entries = delta.entries.filter((entry) => node.entries.get(entryId(entry.group, entry.key))?.version === entry.version);
      if (entries.length > 0) fresh.push({ ...delta, entries });
    }
    // One push per origin: each origin's writes travel down that origin's push tree.
    for (const delta of fresh) this.push([delta], new Set([from, this.state.selfName, delta.node]));
  }

  private push(deltas: NodeDelta[], exclude: ReadonlySet<string>): void {
    const peers = this.hooks.choosePushPeers(this.settings.pushFanout, deltas[0]!.node, exclude);
    if (peers.length === 0) return;
    const batch = this.build(() => {
      this.writer.begin(MessageType.Push);
      writeDeltas(this.writer, deltas);
      if (this.writer.bodyLength > this.settings.maxGossipBytes) {
        this.writer.abandon(); // too big to push; the rounds will carry it
        return null;
      }
      return this.finishBatch("push", 0, false);
    });
    if (batch) for (const peer of peers) this.send(peer, batch);
  }

  private send(peer: string, batch: Batch): void {
    const result = this.hooks.send(peer, batch.frames);
    if (result === "overloaded") {
      this.stats.overloadSkips++;
      return;
    }
    if (result !== "queued") return;
    for (const [label, bytes] of batch.parts) {
      this.stats.messagesOut[label]!++;
      this.stats.bytesOut[label]! += bytes;
    }
  }

  private correlationId(): number {
    const id = this.nextCorrelationId;
    this.nextCorrelationId = id >= 0xffffffff ? 1 : id + 1;
    return id;
  }
}
