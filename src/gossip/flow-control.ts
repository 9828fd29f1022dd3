// Flow control for this node's writes (van Renesse et al., "Efficient Reconciliation and Flow
// Control for Anti-Entropy Protocols", LADIS 2008). Anti-entropy can carry only so many updates
// per round; past that, every replica falls further behind and staleness grows without bound.
// So each node publishes its writes at an allowed rate (AIMD, see aimd.ts): writes above it wait
// here, one per key and newest value wins (reads on this node see them at once), and go out in
// arrival order as the rate allows. The rate drops when this node's gossip messages overflow
// their budget (more than a few of them leave out at least half a message's worth of what the
// peer lacks) and rises while they fit; nodes swap rates in FLOW messages so they converge on one
// fair share.
//
// Whether on or off, it watches for sustained overload (messages overflowing round after round,
// or writes waiting for long) and reports it at most once per period, with the figures.

import type { FlowInfo } from "../codec/index.ts";
import type { Clock } from "../clock.ts";
import {
  type ChangeRecord,
  type ClusterState,
  type EncodedValue,
  type EntrySnapshot,
  type PendingWrites,
  type SelectionResult,
  WriteError,
  entryId,
} from "../state/index.ts";
import { AimdRate, defaultAimdSettings } from "./aimd.ts";
import { CoalescingWriteBuffer, type HeldWrite } from "./write-buffer.ts";
export type { HeldWrite } from "./write-buffer.ts";

/** Smoothing of the measured write rate: each round counts for this much of the estimate. */
const DESIRED_RATE_WEIGHT = 0.2;
/** Smoothing of the entries a full message holds: each full message counts for this much. */
const FULL_MESSAGE_WEIGHT = 0.2;
/** A message falls short when it leaves out at least this fraction of a full message's worth. */
const SHORT_MESSAGE_FRACTION = 0.5;
/** Smoothing of per-round measures (share of messages that fall short, messages per round). */
const ROUND_WEIGHT = 0.3;
/**
 * This node's messages overflow when more than this share of them fall short. Now and then a
 * message falls short (a peer that had no exchange for a while, or just joined); only when it
 * becomes the rule do updates come faster than gossip can move them. Counting messages, not
 * versions, keeps one far-behind peer from weighing like many.
 *
 * Just above what a cluster that keeps up shows (2-6% in the benchmark's steady state), because
 * the rates settle where this is crossed. At 15% the benchmark's cluster ran at about 1.25 times
 * its steady load for as long as writes waited, the most stale replica lacked 800 values against
 * 450-500 in steady state, and after the overload the replicas needed more than ten rounds to
 * catch up, even with every waiting write thrown away (docs/BENCHMARKS.md, "Flow control").
 */
const OVERFLOW_SHORT_SHARE = 0.05;
/** The largest desired rate heard of fades by this factor per round, so a burst ends. */
const CEILING_DECAY = 0.9;
/** Waiting writes count as a demand to publish them within this many rounds. */
const BACKLOG_DRAIN_ROUNDS = 10;
/** Unused allowance carried over, in rounds of the allowed rate. */
const BURST_ROUNDS = 2;
/** Rounds looked back on to call this node overloaded. */
export const OVERLOAD_WINDOW_ROUNDS = 10;
/** Overflowing rounds in the window that make an overload. */
const OVERLOAD_OVERFLOW_ROUNDS = 5;
/** A held write waiting this many rounds makes an overload too. */
const OVERLOAD_WAIT_ROUNDS = 5;
/** At most one overload report per this period (like the transport's write-queue warning). */
export const OVERLOAD_REPORT_PERIOD_MS = 10_000;

export interface FlowControlStatus {
  /** Whether writes are paced at all (the `flowControl` option). */
  enabled: boolean;
  /** True while a recent overflow keeps writes to allowedRate; otherwise every write goes out at once. */
  limiting: boolean;
  /** Updates per second this node may publish: its share of the gossip capacity. */
  allowedRate: number;
  /** Updates per second the application writes (smoothed). */
  desiredRate: number;
  /** Writes waiting to be published (one per key). */
  backlogEntries: number;
  /** How long the oldest waiting write has waited, ms (0 with none). */
  oldestUnsentAgeMs: number;
  /** Rounds of the last OVERLOAD_WINDOW_ROUNDS in which this node's messages overflowed. */
  overflowRounds: number;
}

export interface FlowCounters {
  /** Writes that had to wait, counted once per key and wait. */
  heldBack: number;
  /** Writes folded into a waiting write of the same key (their value was never published). */
  coalesced: number;
  /** Waiting writes published by the rate. */
  published: number;
  /** Waiting writes that no longer passed the limits when their turn came (a lowered maxGossipBytes). */
  dropped: number;
  /** Multiplicative rate decreases. */
  rateDecreases: number;
}

/** What a sustained overload looked like when it was reported. */
export type OverloadReport = FlowControlStatus;

/** Why an overload was reported, in words: the log line's and the gossip-overload event's reason. */
export function describeOverload(report: OverloadReport): string {
  const waiting = report.backlogEntries === 0 ? "no writes waiting" : `${report.backlogEntries} writes waiting, the oldest for ${(report.oldestUnsentAgeMs / 1000).toFixed(1)} s`;
  const rate = report.limiting ? `allowed rate ${report.allowedRate.toFixed(2)} updates/s` : "writes not limited";
  return `gossip messages overflowed their budget in ${report.overflowRounds} of the last ${OVERLOAD_WINDOW_ROUNDS} rounds; ${waiting}; ${rate} (desired ${report.desiredRate.toFixed(2)})`;
}

export interface LocalWrite {
  change: ChangeRecord;
  /** False when the write waits: its version is 0 until it is published. */
  published: boolean;
}

export interface RoundOutcome {
  /** Waiting writes published this round, to push like fresh writes. */
  published: ChangeRecord[];
  report?: OverloadReport;
}

export class FlowControl {
  readonly counters: FlowCounters = { heldBack: 0, coalesced: 0, published: 0, dropped: 0, rateDecreases: 0 };
  private readonly buffer = new CoalescingWriteBuffer();
  private readonly aimd: AimdRate;
  private readonly overflowHistory: boolean[] = [];
  /** Entries a message holds when the budget stops it (learnt from truncated selections). */
  private fullMessageEntries = 0;
  private selectionsThisRound = 0;
  private shortThisRound = 0;
  /** Smoothed: the share of this node's messages that fell short, and its messages per round. */
  private shortShare = 0;
  private messagesPerRound = 0;
  private writesThisRound = 0;
  private desired = 0;
  private ceiling = 0;
  private tokens = 0;
  private lastRoundAt: number;
  private lastReportAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly state: ClusterState,
    private readonly clock: Clock,
    private intervalMs: number,
    private on: boolean,
  ) {
    this.aimd = new AimdRate(defaultAimdSettings);
    this.lastRoundAt = clock.now();
  }

  get enabled(): boolean {
    return this.on;
  }

  /** Applies live settings; turning flow control off publishes every waiting write at once. */
  configure(enabled: boolean, intervalMs: number): ChangeRecord[] {
    this.intervalMs = intervalMs;
    this.on = enabled;
    return enabled ? [] : this.flush();
  }

  /** A local set: published now when the rate allows and nothing waits, otherwise held. Throws WriteError. */
  write(group: string, key: string, value: EncodedValue, ttlMs?: number): LocalWrite {
    if (!this.on) {
      const change = this.state.set(group, key, value, ttlMs);
      this.writesThisRound++;
      return { change, published: true };
    }
    const held = this.buffer.get(group, key);
    const previous = this.visible(group, key);
    this.state.checkSet(group, key, value, ttlMs, this.pendingFor(previous !== undefined));
    this.writesThisRound++;
    if (this.mayPublishNow()) return { change: this.state.set(group, key, value, ttlMs), published: true };
    const expiresAt = ttlMs === undefined ? undefined : Math.round(this.clock.wallNow() + ttlMs);
    this.hold(group, key, value, expiresAt, held);
    const current: EntrySnapshot = { value: value.bytes, valueType: value.type, version: 0 };
    const change: ChangeRecord = { kind: previous ? "updated" : "added", node: this.state.selfName, group, key, current, local: true };
    if (previous) change.previous = previous;
    return { change, published: false };
  }

  /** A local delete; null when there is nothing live to delete (here, waiting writes included). */
  delete(group: string, key: string): LocalWrite | null {
    if (!this.on) {
      const change = this.state.delete(group, key);
      if (change) this.writesThisRound++;
      return change && { change, published: true };
    }
    const previous = this.visible(group, key);
    if (!previous) return null;
    this.writesThisRound++;
    const change: ChangeRecord = { kind: "deleted", node: this.state.selfName, group, key, current: previous, previous, local: true };
    const held = this.buffer.get(group, key);
    if (held && this.state.get(this.state.selfName, group, key) === undefined) {
      // The key was never published: forgetting the waiting write deletes it everywhere.
      this.buffer.drop(group, key);
      return { change, published: false };
    }
    if (this.mayPublishNow()) return { change: this.state.delete(group, key)!, published: true };
    this.hold(group, key, null, undefined, held);
    return { change, published: false };
  }

  /** The waiting write of a key, for reads: this node sees its own writes at once. */
  held(group: string, key: string): HeldWrite | undefined {
    return this.buffer.get(group, key);
  }

  /** Every waiting write, oldest first. */
  heldWrites(): IterableIterator<HeldWrite> {
    return this.buffer.values();
  }

  /** The value this node's own reads see for a key: a waiting write first (version 0), then the state. */
  visible(group: string, key: string): EntrySnapshot | undefined {
    const held = this.buffer.get(group, key);
    if (held) {
      if (held.value === null || (held.expiresAt !== undefined && held.expiresAt <= this.clock.wallNow())) return undefined;
      return { value: held.value.bytes, valueType: held.value.type, version: 0 };
    }
    const entry = this.state.get(this.state.selfName, group, key);
    return entry && { value: entry.value, valueType: entry.valueType, version: entry.version };
  }

  /** A delta selection this node made: whether it fell well short of what the peer lacked. */
  noteSelection(selection: SelectionResult): void {
    this.selectionsThisRound++;
    if (selection.truncated === 0) return;
    let carried = 0;
    for (const delta of selection.deltas) carried += delta.entries.length;
    this.fullMessageEntries = this.fullMessageEntries === 0 ? carried : this.fullMessageEntries + FULL_MESSAGE_WEIGHT * (carried - this.fullMessageEntries);
    if (selection.leftOut >= SHORT_MESSAGE_FRACTION * Math.max(1, carried, this.fullMessageEntries)) this.shortThisRound++;
  }

  /** The start of a gossip round: adapts the rate, publishes what it allows, checks for overload. */
  startRound(): RoundOutcome {
    const now = this.clock.now();
    const seconds = Math.max(now - this.lastRoundAt, 1) / 1000;
    this.lastRoundAt = now;
    if (this.selectionsThisRound > 0) {
      this.shortShare += ROUND_WEIGHT * (this.shortThisRound / this.selectionsThisRound - this.shortShare);
    }
    this.messagesPerRound += ROUND_WEIGHT * (this.selectionsThisRound - this.messagesPerRound);
    this.selectionsThisRound = 0;
    this.shortThisRound = 0;
    const overflowed = this.shortShare > OVERFLOW_SHORT_SHARE;
    this.overflowHistory.push(overflowed);
    if (this.overflowHistory.length > OVERLOAD_WINDOW_ROUNDS) this.overflowHistory.shift();
    // Per configured interval, not per elapsed time: the first round comes after a random
    // fraction of one, and writes made before it would read as a huge rate.
    this.desired += DESIRED_RATE_WEIGHT * ((this.writesThisRound * 1000) / this.intervalMs - this.desired);
    this.writesThisRound = 0;

    const published: ChangeRecord[] = [];
    if (this.on) {
      this.ceiling = Math.max(this.demand(), this.ceiling * CEILING_DECAY);
      const decreasesBefore = this.aimd.decreases;
      // Every update must reach every other node: what this node's messages can carry per
      // second, spread over the others, is about one node's sustainable share (unknown until a
      // full message showed what one holds).
      const capacityShare =
        this.fullMessageEntries > 0
          ? (this.messagesPerRound * this.fullMessageEntries * 1000) / this.intervalMs / Math.max(1, this.state.nodes.size - 1)
          : Number.POSITIVE_INFINITY;
      this.aimd.endRound(overflowed, this.ceiling, this.buffer.size > 0, capacityShare);
      this.counters.rateDecreases += this.aimd.decreases - decreasesBefore;
      const burst = Math.max(1, this.aimd.rate * seconds * BURST_ROUNDS);
      this.tokens = this.aimd.limiting ? Math.min(burst, this.tokens + this.aimd.rate * seconds) : burst;
      while (this.buffer.size > 0 && (!this.aimd.limiting || this.tokens >= 1)) {
        this.tokens--;
        const change = this.publish(this.buffer.shift()!);
        if (change) published.push(change);
      }
    }
    const status = this.status();
    const overloaded = status.overflowRounds >= OVERLOAD_OVERFLOW_ROUNDS || status.oldestUnsentAgeMs >= OVERLOAD_WAIT_ROUNDS * this.intervalMs;
    if (!overloaded || now - this.lastReportAt < OVERLOAD_REPORT_PERIOD_MS) return { published };
    this.lastReportAt = now;
    return { published, report: status };
  }

  /** This node's rates for a FLOW message. */
  localInfo(): FlowInfo {
    return { allowedRate: this.aimd.rate, desiredRate: this.demand(), ceilingRate: this.ceiling, roundsSinceOverflow: this.aimd.roundsSinceOverflow };
  }

  /** A peer's rates: its demand raises the ceiling, and the two rates move toward each other. */
  onPeerInfo(info: FlowInfo): void {
    if (!this.on) return;
    // The peer's ceiling is second hand: it fades per hop too, or two nodes would keep handing
    // each other a burst long gone.
    this.ceiling = Math.max(this.ceiling, info.ceilingRate * CEILING_DECAY, info.desiredRate);
    this.aimd.blend(info.allowedRate, info.roundsSinceOverflow, this.ceiling);
  }

  /** Publishes every waiting write now, whatever the rate (flow control turned off, or the node stops). */
  flush(): ChangeRecord[] {
    const published: ChangeRecord[] = [];
    while (this.buffer.size > 0) {
      const change = this.publish(this.buffer.shift()!);
      if (change) published.push(change);
    }
    return published;
  }

  status(): FlowControlStatus {
    const oldest = this.buffer.oldest();
    return {
      enabled: this.on,
      limiting: this.on && this.aimd.limiting,
      allowedRate: this.on ? this.aimd.rate : Number.POSITIVE_INFINITY,
      desiredRate: this.desired,
      backlogEntries: this.buffer.size,
      oldestUnsentAgeMs: oldest ? this.clock.now() - oldest.firstWrittenAt : 0,
      overflowRounds: this.overflowHistory.filter(Boolean).length,
    };
  }

  /**
   * The rate this node wants: its application's writes, or, when more is waiting than that rate
   * would publish in BACKLOG_DRAIN_ROUNDS, enough to publish the waiting writes in that time.
   */
  private demand(): number {
    return Math.max(this.desired, (this.buffer.size * 1000) / (BACKLOG_DRAIN_ROUNDS * this.intervalMs));
  }

  private mayPublishNow(): boolean {
    if (this.buffer.size > 0) return false; // first come, first published
    if (!this.aimd.limiting) return true;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  private hold(group: string, key: string, value: EncodedValue | null, expiresAt: number | undefined, held: HeldWrite | undefined): void {
    if (this.buffer.put(group, key, value, expiresAt, this.clock.now())) this.counters.coalesced++;
    else if (!held) this.counters.heldBack++;
  }

  /**
   * What the waiting writes add up to, for the limits: the key's liveness as reads see it, the
   * live entries once they are published, and the versions they take first. Counting the live
   * entries means a pass over the waiting writes; it is made only near the limit, since below it
   * an upper bound decides the same.
   */
  private pendingFor(keyLive: boolean): PendingWrites {
    const liveNow = this.state.self.liveUserEntries;
    const upperBound = liveNow + this.buffer.size;
    let liveEntries = upperBound;
    if (upperBound >= this.state.options.limits.maxEntriesPerNode) {
      liveEntries = liveNow;
      for (const held of this.buffer.values()) {
        const wasLive = this.state.self.entries.get(entryId(held.group, held.key))?.deleted === false;
        liveEntries += Number(held.value !== null) - Number(wasLive);
      }
    }
    return { keyLive, liveEntries, versionsBefore: this.buffer.size };
  }

  private publish(write: HeldWrite): ChangeRecord | null {
    try {
      const change =
        write.value === null
          ? this.state.delete(write.group, write.key)
          : this.state.set(write.group, write.key, write.value, write.expiresAt === undefined ? undefined : Math.max(1, write.expiresAt - this.clock.wallNow()));
      if (change) this.counters.published++;
      return change;
    } catch (error) {
      if (!(error instanceof WriteError)) throw error;
      this.counters.dropped++;
      return null;
    }
  }
}
