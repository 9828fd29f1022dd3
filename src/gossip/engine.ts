// The gossip round engine, an I/O-free core: it holds no timers and calls nothing back. Each round
// (the node's ticker calls round()) it bumps this node's heartbeat, expires and collects old
// entries, and starts an exchange with the peers the node chose (codec/summary.ts, state/summary.ts):
//   SYN (my summary: 64 bucket hashes)
//   → SYN-ACK (a page: your digest entries in the buckets that differ)
//   → ACK (a page: mine in those buckets, and the deltas you lack)
//   → ACK (the deltas I lack; only when the previous ACK carried a page, so it ends here).
// Two nodes in agreement exchange a summary and an empty page: the cost grows with what differs,
// never with the cluster. Exchanges are stateless: each message is handled on its own when it
// arrives, so a lost message costs one exchange and never leaves anything waiting.
// Fresh local writes are also pushed at once to a few peers, and a node forwards a pushed entry
// once when it was new to it; the rounds still guarantee delivery.
// With flow control on (flow-control.ts), local writes are paced to an allowed rate, SYN and
// SYN-ACK travel with a FLOW frame carrying this node's rates, and delta selection reserves part
// of the budget for the changes that have waited longest.
// Every call returns an EngineOutcome (outcome.ts): the frames to send and to whom, the changes,
// heartbeats and members seen, and any overload. The node sends, feeds membership and raises events.
// Over 500 lines: every message handler here writes on the one shared writer and counts in the
// same stats and flow control; what needs neither lives beside it (push-tree.ts, newcomer-push.ts,
// outcome.ts, version-arrivals.ts, flow-control.ts).

import {
  BodyReader,
  DecodeError,
  type EncodeError,
  type Frame,
  type Page,
  FrameWriter,
  MessageType,
  nodeNameProblem,
  type NodeDelta,
  readDeltas,
  readFlowInfo,
  readPage,
  readSummary,
  writeDeltas,
  writeFlowInfo,
  writePage,
  writeSummary,
} from "../codec/index.ts";
import type { Clock } from "../clock.ts";
import type { Random } from "../random.ts";
import {
  type ChangeRecord,
  type ClusterState,
  type EncodedValue,
  type EntrySnapshot,
  type NodeState,
  type SelectionFairness,
  type SelectionOptions,
  type SelectionResult,
  applyDigest,
  versionHeldOf,
  bucketOf,
  differingRanges,
  inRanges,
  lackedBy,
  entryId,
  isKnownValueType,
  leavesHole,
  mergeDeltas,
  pageOf,
  selectDeltas,
  summarize,
} from "../state/index.ts";
import type { SendResult } from "../transport/transport.ts";
import { toWire } from "../state/delta-selection.ts";
import { type GossipSettings, type GossipStats, newGossipStats, typeLabels } from "./engine-settings.ts";
import { FlowControl, type FlowControlStatus, type FlowCounters, type HeldWrite } from "./flow-control.ts";
import { type EngineOutcome, type OutgoingBatch, OutcomeBuilder, type WriteOutcome, WriteOutcomeBuilder } from "./outcome.ts";
import { firstOwnEntries, newcomerPush } from "./newcomer-push.ts";
import { type PushMembers, childrenIn } from "./push-tree.ts";
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
 * message instead of one each (a page or a delta set can take the whole maxGossipBytes).
 */
const sharedWriter = new FrameWriter(4096);

export type { GossipSettings, GossipStats } from "./engine-settings.ts";

/** The page of the exchange's last ACK: no ranges, no entries (three bytes). */
const NO_PAGE: Page = { ranges: [], entries: [] };
const EMPTY_PAGE_BYTES = 3;

export class GossipEngine {
  readonly stats: GossipStats = newGossipStats();
  /** Paces this node's writes; always present, inert while the flowControl setting is off. */
  private readonly flow: FlowControl;
  private readonly writer: FrameWriter;
  private nextCorrelationId = 1;
  private readonly shuffle: <T>(items: T[]) => T[];
  /** Where in a difference larger than one page a page starts (see pageOf). */
  private readonly pageStart: () => number;
  private readonly arrivals: VersionArrivals;
  private readonly fairness: SelectionFairness;
  private readonly learnVersions = (node: NodeState, maxVersion: number): void => this.arrivals.learn(node, node.generation, maxVersion);
  private readonly skipsWhole = (name: string, generation: number, fromVersion: number): boolean => leavesHole(this.state, name, generation, fromVersion);
  private current: GossipSettings;

  constructor(
    readonly state: ClusterState,
    clock: Clock,
    random: Random,
    settings: GossipSettings,
    /** The members pushed writes travel among, sorted: a read-only view the node keeps up to date. */
    private readonly pushMembers: PushMembers,
  ) {
    this.current = settings;
    this.writer = sharedWriter;
    this.shuffle = (items) => random.shuffle(items);
    this.pageStart = () => random.next();
    this.flow = new FlowControl(state, clock, settings.gossipIntervalMs, settings.flowControl ?? false);
    this.arrivals = new VersionArrivals(() => clock.now());
    // "Held since" for selection is when this node first knew of the version (a peer's digest
    // may tell before the version arrives): see version-arrivals.ts.
    this.fairness = { oldestFirstShare: OLDEST_FIRST_SHARE, heldSince: (node, version) => this.arrivals.knownSince(node, version) };
  }

  get settings(): GossipSettings {
    return this.current;
  }

  /** Applies new settings live; turning flow control off publishes the writes it held. */
  updateSettings(settings: GossipSettings): EngineOutcome {
    this.current = settings;
    const outcome = new OutcomeBuilder();
    this.announcePublished(this.flow.configure(settings.flowControl ?? false, settings.gossipIntervalMs), outcome);
    return outcome;
  }

  /**
   * A SYN outside the round to each of `peers`: their SYN-ACK tells what they hold of this node
   * and their ACK brings them what they lack (the node asks members it waits on, see node/applied.ts).
   */
  syn(peers: readonly string[]): EngineOutcome {
    const outcome = new OutcomeBuilder();
    if (peers.length > 0) this.sendSyn(peers, outcome);
    return outcome;
  }

  /** One gossip round, with a SYN to each of `peers` (the node chose them: live ones, a contact, now and then a dead one). */
  round(peers: readonly string[]): EngineOutcome {
    const outcome = new OutcomeBuilder();
    this.stats.rounds++;
    this.state.bumpHeartbeat();
    const expired = this.state.sweep();
    if (expired.length > 0) {
      outcome.addChanges(expired);
      for (const change of expired) if (change.local) this.pushLocal(change.group, change.key, outcome);
    }
    const flow = this.flow.startRound();
    this.announcePublished(flow.published, outcome);
    outcome.overload = flow.report;
    if (this.arrivals.size > this.state.nodes.size) this.arrivals.retain((name) => this.state.nodes.has(name));
    if (peers.length > 0) this.sendSyn(peers, outcome);
    return outcome;
  }

  private sendSyn(peers: readonly string[], outcome: OutcomeBuilder): void {
    const summary = summarize(this.state);
    const correlationId = this.correlationId();
    outcome.send(this.build(() => {
      this.writer.begin(MessageType.Syn, correlationId);
      writeSummary(this.writer, summary);
      return this.finishBatch(peers, "syn", correlationId);
    }));
  }

  /**
   * A local set: paced by flow control (held back, version 0, when the rate does not allow it
   * now), pushed to a few peers when published. Throws WriteError, with nothing changed.
   */
  write(group: string, key: string, value: EncodedValue, ttlMs?: number): WriteOutcome {
    const write = this.flow.write(group, key, value, ttlMs);
    return this.written(write.change, write.published);
  }

  /** A local delete; null when there is nothing live to delete (held-back writes included). */
  delete(group: string, key: string): WriteOutcome | null {
    const write = this.flow.delete(group, key);
    return write && this.written(write.change, write.published);
  }

  /** Pushes this node's latest write of (group, key), made straight in the state (reserved entries), to a few peers. */
  announce(group: string, key: string): EngineOutcome {
    const outcome = new OutcomeBuilder();
    this.pushLocal(group, key, outcome);
    return outcome;
  }

  /** Publishes every write flow control holds back, now (the node is stopping). */
  flushWrites(): EngineOutcome {
    const outcome = new OutcomeBuilder();
    this.announcePublished(this.flow.flush(), outcome);
    return outcome;
  }

  /**
   * A connection that completed the handshake under `name` (it dialled us, or we dialled it) is
   * first-hand word of it, as a frame from it would be: a probationary name becomes a member.
   */
  metFirstHand(name: string): EngineOutcome {
    const outcome = new OutcomeBuilder();
    this.promote(name, outcome);
    return outcome;
  }

  /** A probationary name becomes a member; its entries, held unseen on probation, are reported now. */
  private promote(name: string, outcome: OutcomeBuilder): void {
    const shown = this.state.promote(name);
    if (!shown) return;
    outcome.addDiscovered([name]);
    outcome.addChanges(shown);
  }

  /**
   * Handles a gossip frame; null for other message types (not ours). Bytes that do not decode
   * end up in `protocolError`, never thrown.
   */
  handleFrame(from: string, frame: Frame): EngineOutcome | null {
    const label = typeLabels[frame.type];
    if (label === undefined) return null;
    const outcome = new OutcomeBuilder();
    this.stats.messagesIn[label]!++;
    this.stats.bytesIn[label]! += frame.body.length + 12;
    // A frame from the peer itself is first-hand word of it (the transport names the sender it
    // admitted). Its own digest entry no longer vouches for it reliably, since a page lists it
    // only where our summaries differ.
    if (from !== "") this.promote(from, outcome);
    try {
      const reader = new BodyReader(frame.body);
      switch (frame.type) {
        case MessageType.Syn:
          this.onSyn(from, frame.correlationId, reader, outcome);
          break;
        case MessageType.SynAck:
          this.onSynAck(from, frame.correlationId, reader, outcome);
          break;
        case MessageType.Ack:
          this.onAck(from, frame.correlationId, reader, outcome);
          break;
        case MessageType.Push:
          this.mergeFrom(from, reader, true, outcome);
          break;
        case MessageType.Flow:
          this.flow.onPeerInfo(readFlowInfo(reader));
          break;
      }
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.stats.decodeErrors++;
      outcome.protocolError = error;
    }
    return outcome;
  }

  /** Counts a send of `batch` the node made: only frames the transport queued count as sent. */
  sent(batch: OutgoingBatch, result: SendResult): void {
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

  /** This node's own entry as its writes left it, one flow control holds back included. */
  ownEntry(group: string, key: string): EntrySnapshot | undefined {
    return this.flow.visible(group, key);
  }

  /** Whether flow control holds back a write of (group, key). */
  isHeld(group: string, key: string): boolean {
    return this.flow.held(group, key) !== undefined;
  }

  /** Every write flow control holds back, oldest first. */
  heldWrites(): IterableIterator<HeldWrite> {
    return this.flow.heldWrites();
  }

  /** Flow control now: allowed and desired update rates, writes held back and for how long. */
  flowStatus(): FlowControlStatus {
    return this.flow.status();
  }

  get flowCounters(): Readonly<FlowCounters> {
    return this.flow.counters;
  }

  private written(change: ChangeRecord, published: boolean): WriteOutcome {
    const outcome = new WriteOutcomeBuilder(change);
    if (published) this.pushLocal(change.group, change.key, outcome);
    return outcome;
  }

  /** Writes that waited in flow control went out: report them and push them like fresh writes. */
  private announcePublished(changes: ChangeRecord[], outcome: OutcomeBuilder): void {
    if (changes.length === 0) return;
    outcome.addPublished(changes);
    for (const change of changes) this.pushLocal(change.group, change.key, outcome);
  }

  /** Pushes this node's latest write of (group, key) to a few peers right away. */
  private pushLocal(group: string, key: string, outcome: OutcomeBuilder): void {
    if (this.current.pushFanout <= 0) return;
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
    this.push(delta, new Set([self.name]), outcome);
  }

  private onSyn(from: string, correlationId: number, reader: BodyReader, outcome: OutcomeBuilder): void {
    const peerSummary = readSummary(reader);
    reader.expectEnd("syn");
    const mine = summarize(this.state);
    // The peer's bucket of this node agrees with ours: it holds our max version (the bucket hash
    // covers it), which is all a wait for "applied everywhere" needs (node/applied.ts).
    const selfBucket = bucketOf(this.state.self.nameHash);
    if (mine[selfBucket] === peerSummary[selfBucket]) outcome.senderHolds = this.state.self.maxVersion;
    const page = pageOf(this.state, differingRanges(mine, peerSummary), this.current.maxGossipBytes, this.pageStart());
    outcome.send(this.build(() => {
      this.writer.begin(MessageType.SynAck, correlationId);
      this.leftOut(writePage(this.writer, page), outcome);
      return this.finishBatch([from], "synack", correlationId);
    }));
  }

  private onSynAck(from: string, correlationId: number, reader: BodyReader, outcome: OutcomeBuilder): void {
    const peerPage = readPage(reader, this.current.maxNameBytes);
    reader.expectEnd("synack");
    if (peerPage.ranges.length === 0) {
      // The summaries agree (or nothing fit): nothing to add. An empty page with no ranges comes
      // only from agreeing summaries when the page had room for anything at all.
      outcome.senderHolds = this.state.self.maxVersion;
      return;
    }
    this.learnFromDigest(from, peerPage, outcome);
    // Half the budget at most for our page, so that deltas always have room beside it.
    const page = pageOf(this.state, peerPage.ranges, Math.floor(this.current.maxGossipBytes / 2), this.pageStart());
    outcome.send(this.build(() => {
      this.writer.begin(MessageType.Ack, correlationId);
      this.leftOut(writePage(this.writer, page), outcome);
      const selection = this.select(peerPage, Math.max(0, this.current.maxGossipBytes - this.writer.bodyLength));
      this.leftOut(writeDeltas(this.writer, selection.deltas), outcome);
      return this.finishBatch([from], "ack", correlationId, false);
    }));
  }

  /** An ACK: the peer's page (the exchange's third message) or none (the fourth), and deltas. */
  private onAck(from: string, correlationId: number, reader: BodyReader, outcome: OutcomeBuilder): void {
    const peerPage = readPage(reader, this.current.maxNameBytes);
    this.learnFromDigest(from, peerPage, outcome);
    this.mergeFrom(from, reader, false, outcome);
    if (peerPage.ranges.length === 0) return;
    const selection = this.select(peerPage, this.current.maxGossipBytes - EMPTY_PAGE_BYTES);
    if (selection.deltas.length === 0) return;
    outcome.send(this.build(() => {
      this.writer.begin(MessageType.Ack, correlationId);
      writePage(this.writer, NO_PAGE);
      this.leftOut(writeDeltas(this.writer, selection.deltas), outcome);
      return this.finishBatch([from], "ack", correlationId, false);
    }));
  }

  /** Deltas for a peer within `budget` bytes; an overflow counts, and feeds flow control. */
  private select(peerPage: Page, budget: number): SelectionResult {
    const options: SelectionOptions = { scope: peerPage.ranges };
    if (this.current.maxEntriesPerMessage !== undefined) options.maxEntries = this.current.maxEntriesPerMessage;
    if (this.flow.enabled) options.fairness = this.fairness;
    const selection = selectDeltas(this.state, peerPage.entries, budget, this.shuffle, options);
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
  private finishBatch(peers: readonly string[], label: string, correlationId: number, withRates = true): OutgoingBatch {
    this.writer.end();
    const parts: [string, number][] = [[label, this.writer.length]];
    if (withRates && this.flow.enabled) {
      const before = this.writer.length;
      this.writer.begin(MessageType.Flow, correlationId);
      writeFlowInfo(this.writer, this.flow.localInfo());
      this.writer.end();
      parts.push(["flow", this.writer.length - before]);
    }
    return { peers, frames: this.writer.finish(), parts };
  }

  /** Learns from a peer's page: heartbeats and nodes in it, and the version of this node the peer holds when the page covers it. */
  private learnFromDigest(from: string, page: Page, outcome: OutcomeBuilder): void {
    if (inRanges(this.state.self.nameHash, page.ranges)) outcome.senderHolds = versionHeldOf(page.entries, this.state.self);
    outcome.senderLacks = lackedBy(this.state, from, page);
    // The versions the peer holds are known from now on, for the oldest-waiting-first share.
    const learnt = applyDigest(this.state, page.entries, this.flow.enabled ? this.learnVersions : undefined, from);
    outcome.addDiscovered(learnt.discovered);
    outcome.addHeartbeats(learnt.heartbeats);
    outcome.addChanges(learnt.changes);
    this.stats.invalidNodeNames += learnt.invalidNames.length;
    outcome.noteInvalidNames(learnt.invalidNames, (name) => nodeNameProblem(name) ?? name);
  }

  /** Counts and reports the parts of a message that did not encode (writeDeltas and writeDigest leave them out). */
  private leftOut(errors: readonly EncodeError[], outcome: OutcomeBuilder): void {
    this.stats.entriesLeftOut += errors.length;
    outcome.noteLeftOut(errors);
  }

  private mergeFrom(from: string, reader: BodyReader, pushed: boolean, outcome: OutcomeBuilder): void {
    const decoded = readDeltas(reader, {
      maxNameBytes: this.current.maxNameBytes,
      maxKeyBytes: this.current.maxKeyBytes,
      maxValueBytes: this.current.maxValueBytes,
      isKnownValueType,
      skipsWhole: this.skipsWhole,
    });
    reader.expectEnd("deltas");
    let received = decoded.skipped.length + decoded.unread;
    for (const delta of decoded.deltas) received += delta.entries.length;
    const newcomer = pushed ? undefined : firstOwnEntries(this.state, decoded.deltas, from);
    const merged = mergeDeltas(this.state, decoded.deltas, from);
    if (this.flow.enabled) {
      // Stamp the versions that just arrived, for the oldest-waiting-first share.
      for (const delta of decoded.deltas) {
        const node = this.state.nodes.get(delta.node);
        if (node) this.arrivals.observe(node);
      }
    }
    this.stats.entriesReceived += received;
    this.stats.entriesApplied += merged.applied;
    this.stats.entriesSkipped += merged.skipped + decoded.skipped.length + decoded.unread;
    outcome.addDiscovered(merged.discovered);
    outcome.addChanges(merged.changes);
    const badNames = decoded.skipped.filter((error) => error.field === "delta.node");
    this.stats.entriesRefused += merged.refused;
    this.stats.invalidNodeNames += badNames.length;
    outcome.noteOverCap(merged.refused, merged.refusedNodes);
    outcome.noteInvalidNames(badNames, (error) => error.reason);
    if (pushed && merged.applied > 0) this.forwardPush(from, decoded.deltas, outcome);
    if (newcomer) this.announceNewcomer(newcomer, outcome);
  }

  /** A node met first-hand brought its first entries: they are pushed at once (newcomer-push.ts). */
  private announceNewcomer(delta: NodeDelta, outcome: OutcomeBuilder): void {
    const push = newcomerPush(this.state, delta, this.pushMembers.get(), this.current.pushFanout);
    if (push) this.pushTo(push.peers, push.delta, outcome);
  }

  /** Forwards the pushed entries that were new here, once, to peers other than the sender. */
  private forwardPush(from: string, deltas: NodeDelta[], outcome: OutcomeBuilder): void {
    const fresh: NodeDelta[] = [];
    for (const delta of deltas) {
      const node = this.state.nodes.get(delta.node);
      if (!node || node.generation !== delta.generation) continue;
      const entries = delta.entries.filter((entry) => node.entries.get(entryId(entry.group, entry.key))?.version === entry.version);
      if (entries.length > 0) fresh.push({ ...delta, entries });
    }
    // One push per origin: each origin's writes travel down that origin's push tree.
    for (const delta of fresh) this.push(delta, new Set([from, this.state.selfName, delta.node]), outcome);
  }

  /** Pushes one origin's delta to this node's children in that origin's push tree, never to any of `exclude`. */
  private push(delta: NodeDelta, exclude: ReadonlySet<string>, outcome: OutcomeBuilder): void {
    this.pushTo(childrenIn(this.pushMembers.get(), delta.node, this.state.selfName, this.current.pushFanout).filter((peer) => !exclude.has(peer)), delta, outcome);
  }

  private pushTo(peers: readonly string[], delta: NodeDelta, outcome: OutcomeBuilder): void {
    if (peers.length === 0) return;
    const batch = this.build(() => {
      this.writer.begin(MessageType.Push);
      const leftOut = writeDeltas(this.writer, [delta]);
      if (this.writer.bodyLength > this.current.maxGossipBytes) {
        this.writer.abandon(); // too big to push; the rounds will carry it
        return null;
      }
      this.leftOut(leftOut, outcome);
      return this.finishBatch(peers, "push", 0, false);
    });
    if (batch) outcome.send(batch);
  }

  private correlationId(): number {
    const id = this.nextCorrelationId;
    this.nextCorrelationId = id >= 0xffffffff ? 1 : id + 1;
    return id;
  }
}

