// The gossip engine's settings and counters (engine.ts).

import { MessageType } from "../codec/index.ts";

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
  /** Entries refused because their node already held maxEntriesPerNode entries (remote nodes too). */
  entriesRefused: number;
  /** Node names from peers (in digests or deltas) that break the node-name rule. */
  invalidNodeNames: number;
  /** Parts of this node's own messages left out because they do not encode. */
  entriesLeftOut: number;
}

export const typeLabels: Record<number, string> = {
  [MessageType.Syn]: "syn",
  [MessageType.SynAck]: "synack",
  [MessageType.Ack]: "ack",
  [MessageType.Push]: "push",
  [MessageType.Flow]: "flow",
};

export function newGossipStats(): GossipStats {
  const perType = (): Record<string, number> => ({ syn: 0, synack: 0, ack: 0, push: 0, flow: 0 });
  return {
    rounds: 0,
    bytesOut: perType(),
    bytesIn: perType(),
    messagesOut: perType(),
    messagesIn: perType(),
    entriesReceived: 0,
    entriesApplied: 0,
    entriesSkipped: 0,
    overloadSkips: 0,
    budgetOverflows: 0,
    decodeErrors: 0,
    entriesRefused: 0,
    invalidNodeNames: 0,
    entriesLeftOut: 0,
  };
}
