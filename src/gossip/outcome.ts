// What one step of the gossip engine decided: the engine is an I/O-free core (chitchat's
// process_message is the model), so handling a frame, running a round and accepting a write each
// return one of these, and the node does the I/O: it sends the frames through its transport,
// feeds membership, raises events and logs.

import type { DecodeError, EncodeError } from "../codec/index.ts";
import type { ChangeRecord } from "../state/index.ts";
import type { OverloadReport } from "./flow-control.ts";

/** Encoded frames for some peers, and per frame its label and size (for the traffic counters). */
export interface OutgoingBatch {
  readonly peers: readonly string[];
  readonly frames: Uint8Array;
  readonly parts: readonly (readonly [label: string, bytes: number])[];
}

export interface EngineOutcome {
  /** Frames to send, in order; the node reports each send's result back (GossipEngine.sent). */
  readonly sends: readonly OutgoingBatch[];
  /** Changes applied here: merged from peers, or expired. */
  readonly changes: readonly ChangeRecord[];
  /** Local writes that flow control held back and published now (their events were raised when written). */
  readonly published: readonly ChangeRecord[];
  /** Nodes whose heartbeat advanced in a digest. */
  readonly heartbeats: readonly string[];
  /** Nodes heard of for the first time (or in a new generation). */
  readonly discovered: readonly string[];
  /** This node's gossip is overloaded (reported at most once per OVERLOAD_REPORT_PERIOD_MS). */
  readonly overload: OverloadReport | undefined;
  /** The peer sent bytes that do not decode; the node decides what to do about it. */
  readonly protocolError: DecodeError | undefined;
  /**
   * The highest version of this node's own state (this generation) the frame's sender holds, as
   * its digest says: how the node learns that its writes were applied everywhere, at no extra cost.
   */
  readonly senderHolds: number | undefined;
  /**
   * Members this node holds that the sender's page covers and does not list: the sender does not
   * hold them (it removed them, or never heard of them). Membership decides what that says.
   */
  readonly senderLacks: readonly string[];
  /** Refused input and left-out output, for the node's rate-limited log lines; undefined when none (most frames). */
  readonly refusals: Refusals | undefined;
}

/**
 * What a peer sent that this node would not take, and what it could not send itself; each is also
 * counted in GossipStats. Examples are kept for the log line, a few at most: one digest can name
 * 100,000 bad names.
 */
export interface Refusals {
  /** Entries refused because their node already held maxEntriesPerNode entries here. */
  entriesOverCap: number;
  /** Nodes whose entries were refused (names that passed the node-name rule). */
  overCapNodes: string[];
  /** Names from peers, in digests or deltas, that break the node-name rule. */
  invalidNames: number;
  /** Why, for the first few: each names the name, printably. */
  invalidNameExamples: string[];
  /** Parts of this node's own messages left out because they do not encode. */
  leftOut: number;
  /** The first few EncodeError messages. */
  leftOutExamples: string[];
}

/** Examples kept per kind of refusal, per outcome. */
export const REFUSAL_EXAMPLES = 3;

/** A local set or delete: what it changed, and what else the engine decided. */
export interface WriteOutcome extends EngineOutcome {
  /** The write's change record; its version is 0 while flow control holds the write back. */
  readonly written: ChangeRecord;
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * Collects an outcome. One per engine call, so an outcome stays valid however the node handles
 * it (an event handler may write, which makes another). Lists stay the shared empty one until
 * something is added: most frames change nothing, and the simulator handles millions.
 */
export class OutcomeBuilder implements EngineOutcome {
  sends: readonly OutgoingBatch[] = NONE;
  changes: readonly ChangeRecord[] = NONE;
  published: readonly ChangeRecord[] = NONE;
  heartbeats: readonly string[] = NONE;
  discovered: readonly string[] = NONE;
  overload: OverloadReport | undefined = undefined;
  protocolError: DecodeError | undefined = undefined;
  senderHolds: number | undefined = undefined;
  senderLacks: readonly string[] = NONE;
  refusals: Refusals | undefined = undefined;

  /** The refusals of this outcome, made on first use. */
  refused(): Refusals {
    this.refusals ??= { entriesOverCap: 0, overCapNodes: [], invalidNames: 0, invalidNameExamples: [], leftOut: 0, leftOutExamples: [] };
    return this.refusals;
  }

  /** Names from a peer that break the node-name rule: counted, the first few described. */
  noteInvalidNames<T>(items: readonly T[], describe: (item: T) => string): void {
    if (items.length === 0) return;
    const refusals = this.refused();
    refusals.invalidNames += items.length;
    addExamples(refusals.invalidNameExamples, items, describe);
  }

  /** Parts of a message that did not encode and were left out (writeDeltas, writeDigest). */
  noteLeftOut(errors: readonly EncodeError[]): void {
    if (errors.length === 0) return;
    const refusals = this.refused();
    refusals.leftOut += errors.length;
    addExamples(refusals.leftOutExamples, errors, (error) => error.message);
  }

  /** Entries refused because their node holds maxEntriesPerNode already. */
  noteOverCap(count: number, nodes: readonly string[]): void {
    if (count === 0) return;
    const refusals = this.refused();
    refusals.entriesOverCap += count;
    for (const node of nodes) refusals.overCapNodes.push(node);
  }

  send(batch: OutgoingBatch): void {
    this.sends = append(this.sends, [batch]);
  }

  addChanges(changes: readonly ChangeRecord[]): void {
    this.changes = append(this.changes, changes);
  }

  addPublished(changes: readonly ChangeRecord[]): void {
    this.published = append(this.published, changes);
  }

  addHeartbeats(nodes: readonly string[]): void {
    this.heartbeats = append(this.heartbeats, nodes);
  }

  addDiscovered(nodes: readonly string[]): void {
    this.discovered = append(this.discovered, nodes);
  }
}

/** Adds `more` to `examples` up to REFUSAL_EXAMPLES, converting only those it keeps. */
function addExamples<T>(examples: string[], more: readonly T[], describe: (item: T) => string): void {
  for (let i = 0; i < more.length && examples.length < REFUSAL_EXAMPLES; i++) examples.push(describe(more[i]!));
}

/** `list` with `more` after it; takes `more` itself when `list` is empty (no copy). */
function append<T>(list: readonly T[], more: readonly T[]): readonly T[] {
  if (more.length === 0) return list;
  if (list.length === 0) return more;
  return [...list, ...more];
}

export class WriteOutcomeBuilder extends OutcomeBuilder implements WriteOutcome {
  constructor(readonly written: ChangeRecord) {
    super();
    this.addChanges([written]);
  }
}
