// createNode(): validated options → a running-ready Node over TCP with the system clock. This is
// the module's front door; everything it builds is replaceable in tests (see GossipNode).

import { type NodeOptions, type NodeOptionsInput, OptionsError, parseClusterConfigPatch, parseNodeOptions, CLUSTER_SETTING_KEYS } from "./config/schema.ts";
import type { ConfigAgreement } from "./node/config-agreement.ts";
import { DnsSeeds, splitSeeds } from "./node/dns-seeds.ts";
import { systemClock } from "./clock.ts";
import { MessageType } from "./codec/index.ts";
import { assertNodeNetwork } from "./config/merge.ts";
import { eventTypeOfGo, type EventHandler, type GO_EVENT_NUMBERS, type GoEventNumber, type GossipEventType } from "./events.ts";
import type { FlowControlStatus } from "./gossip/flow-control.ts";
import { silentLogger, type Logger } from "./log.ts";
import { createRandom, randomSeed } from "./random.ts";
import { gossipSettingsOf, membershipSettingsOf, stateLimitsOf } from "./settings.ts";
import type { Value } from "./state/index.ts";
import type { ForceLeaveOptions } from "./node/force-leave.ts";
import type { NodeSnapshots, SnapshotSource } from "./node/snapshots.ts";
import { TcpTransport, type TcpTransportStats } from "./transport/tcp.ts";
import { Keyring, type RingKey, keyringText } from "./transport/keyring.ts";
import { KeyringOps } from "./node/keyring-ops.ts";
import type { AppliedResult } from "./node/applied.ts";
import type { BroadcastOptions } from "./node/user-events.ts";
import type { QueryHandler, QueryOptions } from "./node/queries.ts";
import type { QueryResult } from "./node/query-run.ts";
import { type ClusterConfigDocument, type EntryInfo, GossipNode, type MemberInfo, type NodeStats, type SetOptions, type StoredEntry } from "./node.ts";

/** How long waitApplied() waits when not told. */
export const DEFAULT_APPLIED_TIMEOUT_MS = 10_000;

export interface WaitAppliedOptions {
  /** Give up after this long (ms, default 10 s): the result then lists the members missing. */
  timeoutMs?: number;
}

export interface CreateNodeExtras {
  /** Where log lines go; silent by default (the CLI passes a consola logger). */
  logger?: Logger;
  /**
   * The file the encryption keyring came from (the CLI passes --encrypt-key-file): keyring changes
   * (node.keys) are written back to it atomically, mode 0600, so a restart keeps them. Without
   * it a change holds until the process exits.
   */
  keyringFile?: string;
}

/** The encryption keyring across the cluster (node/keyring-ops.ts); each call reports which members applied it. */
export type NodeKeys = Pick<KeyringOps, "list" | "install" | "use" | "remove">;

export interface Node {
  readonly name: string;
  readonly generation: number;
  /** The validated options with defaults applied. */
  readonly options: NodeOptions;
  /** "host:port" other nodes dial (available after start()). */
  readonly address: string;
  start(): Promise<void>;
  /**
   * Dials each "host:port" once and resolves with how many answered (a peer already connected
   * there counts); gossip then learns the rest of their cluster. Throws on a malformed address.
   */
  join(addresses: readonly string[]): Promise<number>;
  /**
   * Marks a failed or dead member left on every node (a versioned fact that survives partitions);
   * `prune` also removes it at once. Throws ForceLeaveError for an unknown member, this node, or
   * a live member unless `force` is given.
   */
  forceLeave(name: string, options?: ForceLeaveOptions): void;
  /** Graceful leave: announced to the cluster, queued frames flushed, sockets closed. */
  stop(): Promise<void>;
  set(group: string, key: string, value: Value, options?: SetOptions): number;
  delete(group: string, key: string): boolean;
  /**
   * Resolves once every live member holds `version` of this node's state (omitted or 0: every
   * write made so far, cluster config changes included), or at the timeout with `applied: false`
   * and the members `missing`. Never rejects once started.
   */
  waitApplied(version?: number, options?: WaitAppliedOptions): Promise<AppliedResult>;
  /** Sends a user event to every live node (once each, this one included); returns its Lamport time. */
  broadcast(name: string, payload?: Uint8Array | string, options?: BroadcastOptions): number;
  /**
   * Asks the live nodes that match the filters (this one included) and collects their acks and
   * answers: iterate the result for them as they come, ending with a summary (who was asked, who
   * acked, answered, failed, and who did not answer by the timeout), or await `result.summary`.
   * Throws RangeError for a bad name, payload or option, or past the rate limits.
   */
  query(name: string, payload?: Uint8Array | string, options?: QueryOptions): QueryResult;
  /** Answers queries of this name (one handler per name; `"*"` answers every query without one of its own); returns a function that removes it. */
  onQuery(name: string, handler: QueryHandler): () => void;
  get(node: string, group: string, key: string): Value | undefined;
  getEntry(node: string, group: string, key: string): EntryInfo | undefined;
  entries(node: string): EntryInfo[];
  nodes(): string[];
  members(): MemberInfo[];
  /** Flow control now: allowed and desired update rates, writes held back and for how long. */
  flowControl(): FlowControlStatus;
  on<T extends GossipEventType>(type: T | "*", handler: EventHandler<NoInfer<T>>): () => void;
  /**
   * Same as on(), for code written against the Go SDK's names: onEvent(EventType.NewDeltaAdded, …),
   * or its numbers: onEvent(1, …). Go events with no equivalent here throw UnsupportedEventError.
   */
  onEvent<T extends GossipEventType>(type: T, handler: EventHandler<NoInfer<T>>): () => void;
  onEvent<N extends GoEventNumber>(type: N, handler: EventHandler<(typeof GO_EVENT_NUMBERS)[N]>): () => void;
  clusterConfig(): ClusterConfigDocument;
  /** Whether every live member holds the same cluster config as this node, and who does not. */
  configAgreement(): ConfigAgreement;
  updateClusterConfig(patch: Record<string, unknown>): ClusterConfigDocument;
  /** True from start() until stop(). */
  readonly running: boolean;
  /** Counters and gauges, read-only: gossip traffic, flow control, overloads, event-loop health, TCP. */
  stats(): NodeStats & { transport: TcpTransportStats };
  /** The stored state, read-only and values undecoded (the admin API shows undecodable ones with an error). */
  inspect(): StateView;
  /**
   * Key rotation without a split: list, install, use and remove keys on every member. Throws
   * KeyringChangeError on a node without encryption or for a change it refuses (its primary
   * removed), RangeError for a key that is not one.
   */
  readonly keys: NodeKeys;
}

/** The stored state of a node, read-only: what tools such as the admin API read. */
export interface StateView {
  /** Whether a node is known here (this one included). */
  knows(node: string): boolean;
  /** A node's live entries as stored, reserved ones excluded. */
  entries(node: string): Iterable<StoredEntry>;
  /** One live entry as stored; undefined when the node or the entry is not known here. */
  entry(node: string, group: string, key: string): StoredEntry | undefined;
  /**
   * A value that changes whenever a node's stored entries may have (output derived from them can
   * be kept while it stays the same; expiry excepted); undefined for this node, whose writes held
   * back by flow control change without it, and for nodes not known here.
   */
  stamp(node: string): string | undefined;
}

export function createNode(input: NodeOptionsInput = {}, extras: CreateNodeExtras = {}): Node {
  const options = parseNodeOptions(input);
  const logger = extras.logger ?? silentLogger;
  // With a data directory the generation is a counter that survives restarts and clock steps.
  const snapshots = options.dataDir === undefined ? null : openSnapshots(options.dataDir, options.restoreEntries, logger, options.generation);
  const generation = snapshots?.generation ?? options.generation ?? Date.now();
  const random = createRandom(randomSeed());
  const [host, port] = splitAddress(options.address);
  const keyring = options.encryptKeys ? Keyring.parse(options.encryptKeys) : null;
  // With DNS servers given, seed names are theirs to resolve (node/dns-seeds.ts), not the system's.
  const seedNames = splitSeeds(options.seeds);
  const dialledSeeds = options.dnsServers ? seedNames.literals : options.seeds;
  const transport = new TcpTransport({
    nodeName: options.name,
    generation,
    clusterName: options.clusterName,
    listen: { host, port },
    ...(options.advertise ? { advertiseAddress: options.advertise } : {}),
    seeds: dialledSeeds,
    remembered: snapshots?.rememberedAddresses(options.name) ?? [],
    retryLogIntervalMs: options.retryLogIntervalMs,
    maxFrameBytes: options.maxFrameBytes,
    maxConnections: options.maxConnections,
    ...(options.secret ? { secret: options.secret } : {}),
    ...(keyring ? { keyring } : {}),
    ...(options.encryptPlainWindow === "off" ? {} : { plainWindow: options.encryptPlainWindow }),
    ...(options.tls ? { tls: options.tls } : {}),
    logger,
    clock: systemClock,
    random,
  });
  const clusterSettings: Record<string, unknown> = {};
  for (const key of CLUSTER_SETTING_KEYS) if (options[key] !== undefined) clusterSettings[key] = options[key];
  const node = new GossipNode(
    {
      name: options.name,
      generation,
      clusterName: options.clusterName,
      gossip: gossipSettingsOf(options),
      membership: membershipSettingsOf(options),
      tombstoneGraceMs: options.tombstoneGraceMs,
      limits: stateLimitsOf(options),
    },
    {
      transport, clock: systemClock, random, logger, advertisedAddress: () => transport.advertisedAddress,
      handleFrame: (from, frame) => {
        if (frame.type !== MessageType.KeyringRequest && frame.type !== MessageType.KeyringReply) return false;
        keyringOps.receive(from, frame);
        return true;
      },
    },
    clusterSettings,
    (settings) => {
      const patch = parseClusterConfigPatch(settings, options);
      if (patch.clusterName !== undefined && patch.clusterName !== options.clusterName) {
        // An OptionsError like every other refused setting, so callers handle one error type.
        throw new OptionsError([{ path: "clusterName", value: patch.clusterName, expected: options.clusterName, problem: `cannot change at run time (this cluster is ${options.clusterName})` }]);
      }
      const merged: NodeOptions = { ...options, ...patch };
      return { gossip: gossipSettingsOf(merged), membership: membershipSettingsOf(merged) };
    },
  );
  const keyringOps = new KeyringOps({
    selfName: options.name,
    keyring,
    clock: systemClock,
    logger,
    members: () => node.members().filter((member) => member.name !== options.name && (member.state === "alive" || member.state === "suspect")).map((member) => member.name),
    send: (peer, frame) => transport.sendSealed(peer, frame),
    sealedFrom: (peer) => transport.isSealed(peer),
    persist: keyringWriter(extras.keyringFile, logger),
    removed: () => {
      const closed = transport.closeSealedUnderRemovedKeys();
      if (closed > 0) logger.info(`keyring: closed ${closed} connection(s) sealed under a removed key; they are dialled again under a key still held`);
    },
  });
  const dnsSeeds = new DnsSeeds({
    seeds: seedNames.names,
    servers: options.dnsServers ?? [],
    refreshIntervalMs: options.dnsRefreshIntervalMs,
    retryLogIntervalMs: options.retryLogIntervalMs,
    join: (addresses) => transport.join(addresses),
    logger,
  });
  const stateView: StateView = {
    knows: (name) => node.knows(name),
    entries: (name) => node.storedEntries(name),
    entry: (name, group, key) => node.storedEntry(name, group, key),
    stamp: (name) => node.entriesStamp(name),
  };
  const snapshotSource: SnapshotSource = {
    name: options.name,
    generation: () => node.settings.generation,
    members: () => node.members(),
    storedEntries: (name) => node.storedEntries(name),
    set: (group, key, value, setOptions) => node.set(group, key, value, setOptions),
  };
  return {
    name: options.name,
    // Renewed above the one the cluster remembers when this one turned out lower (node/generation-renewal.ts).
    get generation() {
      return node.settings.generation;
    },
    options,
    get address() {
      return transport.advertisedAddress;
    },
    start: async () => {
      await assertNodeNetwork(options);
      snapshots?.beforeStart(snapshotSource);
      await node.start();
      snapshots?.started(snapshotSource);
      dnsSeeds.start();
    },
    stop: async () => {
      if (node.isRunning) snapshots?.stopping(snapshotSource);
      keyringOps.cancelAll();
      dnsSeeds.stop();
      await node.stop();
    },
    join: (addresses) => transport.join(addresses),
    forceLeave: (name, leaveOptions) => node.forceLeave(name, leaveOptions),
    set: (group, key, value, setOptions) => node.set(group, key, value, setOptions),
    delete: (group, key) => node.delete(group, key),
    broadcast: (name, payload, broadcastOptions) => node.broadcast(name, payload ?? new Uint8Array(0), broadcastOptions),
    query: (name, payload, queryOptions) => {
      if (!node.isRunning) throw new Error(`cannot send query ${JSON.stringify(name)}: node ${options.name} is not running`);
      return node.bus.queries.query(name, payload ?? new Uint8Array(0), queryOptions);
    },
    onQuery: (name, handler) => node.bus.queries.onQuery(name, handler),
    waitApplied: (version, waitOptions) => node.waitApplied(version ?? 0, waitOptions?.timeoutMs ?? DEFAULT_APPLIED_TIMEOUT_MS),
    get: (name, group, key) => node.get(name, group, key),
    getEntry: (name, group, key) => node.getEntry(name, group, key),
    entries: (name) => node.entries(name),
    nodes: () => node.nodes(),
    members: () => node.members(),
    flowControl: () => node.flowControl(),
    on: (type, handler) => node.on(type, handler),
    onEvent: (type: GossipEventType | GoEventNumber, handler: EventHandler<GossipEventType>) => node.on(eventTypeOfGo(type), handler),
    clusterConfig: () => node.clusterConfig(),
    configAgreement: () => node.configAgreement(),
    updateClusterConfig: (patch) => {
      // Throws OptionsError naming the field. The parsed patch is what is gossiped: keys given as
      // undefined count as not given, as in createNode(), instead of blanking the setting.
      const parsed = parseClusterConfigPatch(patch, options);
      return node.updateClusterConfig(parsed);
    },
    get running() {
      return node.isRunning;
    },
    stats: () => ({ ...node.stats(), transport: transport.stats }),
    inspect: () => stateView,
    keys: {
      list: (keyOptions) => keyringOps.list(keyOptions),
      install: (key, keyOptions) => keyringOps.install(key, keyOptions),
      use: (key, keyOptions) => keyringOps.use(key, keyOptions),
      remove: (key, keyOptions) => keyringOps.remove(key, keyOptions),
    },
  };
}

/** Writes a changed keyring back to its file; without one, a change lasts until the process exits (said once). */
function keyringWriter(file: string | undefined, logger: Logger): (keys: readonly RingKey[]) => void {
  let warned = false;
  return (keys) => {
    if (file === undefined) {
      if (!warned) logger.warn("keyring changed in memory only: the keyring did not come from a key file (--encrypt-key-file), so a restart goes back to the configured keys");
      warned = true;
      return;
    }
    // Required here: node:fs stays off the start-up path of nodes that never change their keyring.
    const { writeFileAtomically } = require("./node/atomic-file.ts") as typeof import("./node/atomic-file.ts");
    writeFileAtomically(file, new TextEncoder().encode(keyringText(keys)));
  };
}

/**
 * The data directory's snapshots. Loaded only when a node has a data directory: the file code
 * brings node:fs and node:path, which a node without one never needs before it listens (start-up
 * time, test/cli-startup.test.ts). Synchronous because the generation must be known before the
 * node is built.
 */
function openSnapshots(dir: string, restoreEntries: boolean, logger: Logger, generation: number | undefined): NodeSnapshots {
  const { NodeSnapshots: Snapshots } = require("./node/snapshots.ts") as typeof import("./node/snapshots.ts");
  return new Snapshots(dir, restoreEntries, logger, generation, Date.now());
}

/** "host:port" (IPv6 in brackets) → [host, port]; the schema already checked the form. */
function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return [host, Number(address.slice(colon + 1))];
}
