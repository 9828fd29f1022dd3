// The types of a node's settings, dependencies and views, apart from node.ts so that it stays
// one job: wiring and I/O.

import type { Frame } from "../codec/index.ts";
import type { Clock } from "../clock.ts";
import type { GossipSettings, GossipStats } from "../gossip/engine.ts";
import type { FlowCounters } from "../gossip/flow-control.ts";
import type { Logger } from "../log.ts";
import type { MemberStatus, MembershipSettings } from "../membership/membership.ts";
import type { Random } from "../random.ts";
import type { ChangeRecord, EntrySnapshot, StateLimits, Value, ValueType, ValueTypeName } from "../state/index.ts";
import type { MemberSnapshot } from "../state/member-table.ts";
import type { Transport } from "../transport/transport.ts";

export interface NodeSettings {
  name: string;
  generation: number;
  clusterName: string;
  gossip: GossipSettings;
  /**
   * Failure detection and the node lifecycle; null runs the node without them, for the
   * simulator's pure-reconciliation experiments: every known node is a peer, none is ever
   * suspected, no node events are raised and a stop announces no leave.
   */
  membership: MembershipSettings | null;
  tombstoneGraceMs: number;
  limits: StateLimits;
  /**
   * Members known from the start, shared copy-on-write with other nodes (the simulator's
   * converged start; see ClusterStateOptions.members). Build it with startRecords() so that the
   * records hold what each node writes when it starts.
   */
  startMembers?: MemberSnapshot;
}

export interface NodeDeps {
  transport: Transport;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** The address other nodes dial, published in this node's reserved entries once listening. */
  advertisedAddress(): string;
  /**
   * Sees every change record the node handles, as it handles it, without the cost of events
   * (no value decoding): the simulator's measurements. A write flow control holds back shows up
   * with version 0 when written, then with its version when published.
   */
  observeChanges?(changes: readonly ChangeRecord[]): void;
  /**
   * Frames of types the node does not handle itself (the keyring's, node/keyring-ops.ts); returns
   * whether it handled the frame. May throw DecodeError for a malformed body.
   */
  handleFrame?(from: string, frame: Frame): boolean;
}

/** Counters and gauges of a node, for metrics and tests. */
export interface NodeStats {
  gossip: Readonly<GossipStats>;
  flow: Readonly<FlowCounters>;
  /** gossip-overload events raised, by cause. */
  overloadEvents: Readonly<Record<"write-queue" | "flow-control", number>>;
  /** The local-health guard's view of this process's event loop. */
  health: { lagMs: number; maxLagMs: number; stallCount: number };
  /** Probe requests this node waits on or relays (0 without membership). */
  probesPending: number;
}

/** An entry as stored, value bytes undecoded: a peer may send bytes that do not decode as their type. */
export interface StoredEntry extends Readonly<EntrySnapshot> {
  readonly group: string;
  readonly key: string;
  /** Wall-clock ms at which the entry expires, when written with a TTL. */
  readonly expiresAt?: number;
}

export interface MemberInfo {
  name: string;
  address: string | undefined;
  state: MemberStatus;
  phi: number;
  generation: number;
  heartbeat: number;
  heartbeatAgeMs: number;
  maxVersion: number;
}

export interface EntryInfo {
  group: string;
  key: string;
  value: Value;
  type: ValueTypeName;
  version: number;
}

export interface SetOptions {
  /** Milliseconds until the entry expires on every node. */
  ttl?: number;
  /** Value type; inferred from the JavaScript value when absent. */
  type?: ValueType;
}

/** Cluster-wide settings document, gossiped as a versioned reserved entry. */
export interface ClusterConfigDocument {
  version: number;
  /** Node that made this version; breaks ties between concurrent changes. */
  origin: string;
  settings: Record<string, unknown>;
}

export type ClusterConfigApplier = (settings: Record<string, unknown>) => { gossip: GossipSettings; membership: MembershipSettings };
