// The seam between the gossip engine and the network. The engine hands over encoded frames for
// a peer by node name; the transport delivers them (TCP in production, in-memory in the
// simulator) and reports incoming frames and peers coming and going.

import type { ConfigSummary, Frame, RememberedIdentity } from "../codec/index.ts";
import type { GenerationGap } from "./admission.ts";

export interface TransportHost {
  /** A whole frame arrived from the named peer. */
  onFrame(from: string, frame: Frame): void;
  /** A connection to a peer completed its handshake (or the peer became reachable). */
  onPeerUp(name: string, address: string): void;
  /** The connection to a peer closed. */
  onPeerDown(name: string): void;
  /** Where a node listens, as learned by gossip; undefined when not known yet. */
  addressOf(name: string): string | undefined;
  /** Whether a peer with no connection may be dialled to send it frames; "dial" when absent. */
  dialPolicy?(name: string): DialPolicy;
  /** A connection was refused (other cluster, bad proof, malformed frames, …). */
  onRefused?(address: string, node: string | undefined, reason: string): void;
  /** A peer's write queue passed its high-water mark (reported at most once per period). */
  onOverload?(peer: string, queuedBytes: number): void;
  /** What is known of `name` (newest generation, held or removed), told to it in the handshake. */
  remembered?(name: string): RememberedIdentity | undefined;
  /** This node's own heartbeat and highest version, to tell an earlier incarnation at the same generation. */
  ownProgress?(): { heartbeat: number; maxVersion: number };
  /** This node's cluster config in brief, for the handshake's agreement check. */
  clusterConfig?(): ConfigSummary | null;
  /** A completed handshake showed a node (this one or the peer) announcing a generation below the one remembered for it. */
  onGenerationGap?(gap: GenerationGap): void;
}

/**
 * "dial": as usual, the first failure is a warning. "quiet": a peer believed dead, contacted on
 * purpose (the occasional dead-peer round, a revival check), whose refusals are expected and
 * logged at debug level. "never": a peer that left; its frames are dropped as unreachable.
 */
export type DialPolicy = "dial" | "quiet" | "never";

export type SendResult =
  | "queued"
  /** The peer's write queue is past its high-water mark: skip it this round. */
  | "overloaded"
  /** No connection and no known address, or the peer was refused. */
  | "unreachable";

export interface Transport {
  start(host: TransportHost): Promise<void>;
  /** Queues one or more whole encoded frames for a peer. */
  send(peer: string, frames: Uint8Array): SendResult;
  /** Flushes queued frames and closes every connection. */
  stop(): Promise<void>;
  /** Announces this generation in every handshake from now on (the node renewed its identity). */
  renewGeneration(generation: number): void;
}
