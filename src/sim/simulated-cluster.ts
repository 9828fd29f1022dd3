// N gossip engines over the in-memory network with a virtual clock: the deterministic cluster
// the simulator, the property tests and the benchmarks run. Each node is the real state and
// engine code; only the transport and the clock are simulated. With `membership` set, each node
// is a whole GossipNode (failure detector, probes, leave, local-health guard) on its own
// NodeClock, so a node's event loop can stall or crash while the others go on.

import type { DecodeError } from "../codec/index.ts";
import type { NodeEvent } from "../events.ts";
import { GossipEngine, type GossipSettings } from "../gossip/engine.ts";
import type { LocalWrite, OverloadReport } from "../gossip/flow-control.ts";
import { pushTreeChildren } from "../gossip/push-tree.ts";
import { type Logger, silentLogger } from "../log.ts";
import { defaultMembershipSettings, type MembershipSettings } from "../membership/membership.ts";
import { GossipNode } from "../node.ts";
import { createRandom, type Random } from "../random.ts";
import { ClusterState, type ChangeRecord, defaultStateLimits, type EncodedValue, NodeState, type StateLimits } from "../state/index.ts";
import { MemberSnapshot } from "../state/member-table.ts";
import { MemoryNetwork, type MemoryNetworkOptions } from "../transport/memory.ts";
import type { Transport } from "../transport/transport.ts";
import { VirtualClock } from "../transport/virtual-clock.ts";
import { NodeClock } from "./node-clock.ts";

export interface SimulationOptions {
  nodes: number;
  seed: number;
  network: MemoryNetworkOptions;
  gossip: Partial<GossipSettings>;
  limits?: Partial<StateLimits>;
  tombstoneGraceMs?: number;
  /** How many of the first nodes act as seeds for everyone (default 1). */
  seeds?: number;
  /** Run whole GossipNodes with membership (failure detection) instead of bare engines. */
  membership?: Partial<MembershipSettings>;
  /** Where whole GossipNodes log (membership mode); silent by default. */
  logger?: Logger;
  /**
   * Start with every node knowing every other (generation, no entries, heartbeat 0), as after a
   * join, instead of joining from the seeds. The nodes share that membership copy-on-write, so
   * 10,000 nodes take 10,000 records instead of 10^8. Bare engines only.
   */
  converged?: boolean;
}

export const defaultSimGossip: GossipSettings = {
  gossipIntervalMs: 1000,
  fanout: 1,
  maxGossipBytes: 1024 * 1024,
  pushFanout: 0,
  // As in production (the flowControl option's default): the benchmarks measure what ships.
  flowControl: true,
  maxNameBytes: 64,
  maxKeyBytes: 256,
  maxValueBytes: 65536,
};

export interface SimNode {
  name: string;
  state: ClusterState;
  engine: GossipEngine;
  /** Peers this node heard of from the transport (seeds). */
  contacts: Set<string>;
  running: boolean;
  changes: ChangeRecord[];
  protocolErrors: DecodeError[];
  /** Overloads the engine reported (flow control's once-per-period reports). */
  overloads: OverloadReport[];
  /** Membership mode only: the whole node, its clock, and the node events it raised. */
  full?: { node: GossipNode; clock: NodeClock; events: NodeEvent[] };
}

/** How a node (re)starts: all optional, the defaults being what the cluster's options say. */
export interface AddNodeOptions {
  /** Generation of the new incarnation (membership mode); default the next one of the cluster's counter. A lower one stands for a restart after the clock stepped back. */
  generation?: number;
  /** The nodes it joins through (membership mode); default the cluster's seeds. */
  seeds?: readonly string[];
  /** Its wall clock's offset from the shared one (membership mode). */
  skewMs?: number;
}

export class SimulatedCluster {
  readonly clock = new VirtualClock();
  readonly random: Random;
  readonly network: MemoryNetwork;
  readonly nodes: SimNode[] = [];
  readonly byName = new Map<string, SimNode>();
  private readonly settings: GossipSettings;
  private readonly seedNames: string[];
  private generationCounter = 1;
  /** The membership the first nodes start from with `converged`, until they restart. */
  private readonly snapshot: MemberSnapshot | null = null;
  /** Keep change records per node (tests); benchmarks turn this off to save memory. */
  recordChanges = true;
  /**
   * Sees every change applied on a bare engine node as it happens: entries merged from peers, and
   * (local: true) writes that flow control held back, when they are published.
   */
  onChanges: ((node: SimNode, changes: ChangeRecord[]) => void) | null = null;
  /** Whole nodes start asynchronously (their transport's start is async); see started(). */
  private starting: Promise<void>[] = [];

  constructor(readonly options: SimulationOptions) {
    this.random = createRandom(options.seed);
    this.network = new MemoryNetwork(this.clock, this.random, options.network);
    this.settings = { ...defaultSimGossip, ...options.gossip };
    this.seedNames = Array.from({ length: options.seeds ?? 1 }, (_, i) => nodeName(i));
    if (options.converged) {
      if (options.membership) throw new Error("a converged start needs bare engines (no membership option)");
      // Generations as addNode() hands them out below, one per node in order.
      const first = this.generationCounter;
      this.snapshot = new MemberSnapshot(Array.from({ length: options.nodes }, (_, i) => new NodeState(nodeName(i), first + i)));
    }
    for (let i = 0; i < options.nodes; i++) this.addNode(nodeName(i));
  }

  /** Creates and starts a node (or restarts one with a new generation). */
  addNode(name: string, options: AddNodeOptions = {}): SimNode {
    const running = this.byName.get(name);
    if (running?.running) {
      // A restart replaces the process: the old incarnation must not keep gossiping its old
      // generation under the same name (its timer would otherwise keep firing).
      this.crash(name);
    }
    const node = this.options.membership ? this.createFullNode(name, options) : this.createEngineNode(name);
    const previous = this.byName.get(name);
    if (previous) this.nodes[this.nodes.indexOf(previous)] = node;
    else this.nodes.push(node);
    this.byName.set(name, node);
    return node;
  }

  private createFullNode(name: string, options: AddNodeOptions): SimNode {
    const clock = new NodeClock(this.clock);
    clock.skewMs = options.skewMs ?? 0;
    const transport = stallable(this.network.transport(name, options.seeds ?? this.seedNames), clock);
    const gossipNode = new GossipNode(
      {
        name,
        generation: options.generation ?? this.generationCounter++,
        clusterName: "simulation",
        gossip: this.settings,
        membership: { ...defaultMembershipSettings, ...this.options.membership },
        tombstoneGraceMs: this.options.tombstoneGraceMs ?? 3_600_000,
        limits: { ...defaultStateLimits, maxGossipBytes: this.settings.maxGossipBytes, ...this.options.limits },
      },
      { transport, clock, random: this.random, logger: this.options.logger ?? silentLogger, advertisedAddress: () => `memory:${name}` },
      {},
      () => ({ gossip: this.settings, membership: { ...defaultMembershipSettings, ...this.options.membership } }),
    );
    const events: NodeEvent[] = [];
    for (const type of ["node-joined", "node-suspect", "node-alive", "node-dead", "node-left", "node-removed"] as const) {
      gossipNode.on(type, (event) => void events.push(event));
    }
    this.starting.push(gossipNode.start());
    return { name, state: gossipNode.state, engine: gossipNode.engine, contacts: new Set(), running: true, changes: [], protocolErrors: [], overloads: [], full: { node: gossipNode, clock, events } };
  }

  private createEngineNode(name: string): SimNode {
    const generation = this.generationCounter++;
    // A restarted node knows only its seeds again: the snapshot is for the first incarnations.
    const members = this.snapshot?.records[this.snapshot.slots.get(name) ?? -1]?.generation === generation ? this.snapshot : undefined;
    const state = new ClusterState(name, generation, this.clock, {
      tombstoneGraceMs: this.options.tombstoneGraceMs ?? 3_600_000,
      limits: { ...defaultStateLimits, maxGossipBytes: this.settings.maxGossipBytes, ...this.options.limits },
      members,
    });
    const transport = this.network.transport(name, this.seedNames);
    const random = this.random;
    const node: SimNode = { name, state, engine: null as unknown as GossipEngine, contacts: new Set(), running: true, changes: [], protocolErrors: [], overloads: [] };
    node.engine = new GossipEngine(state, this.clock, random, this.settings, {
      send: (peer, frames) => transport.send(peer, frames),
      choosePeers: (count) => pickPeers(random, state, node.contacts, count, new Set([name])),
      choosePushPeers: (count, origin, exclude) => pushTreeChildren(state.nodes.keys(), origin, name, count).filter((peer) => !exclude.has(peer)),
      onChanges: (changes) => {
        if (this.recordChanges) node.changes.push(...changes);
        this.onChanges?.(node, changes);
      },
      onPublished: (changes) => this.onChanges?.(node, changes),
      onOverload: (report) => void node.overloads.push(report),
      onHeartbeat: () => {},
      onDiscovered: () => {},
      onProtocolError: (_peer, error) => node.protocolErrors.push(error),
    });
    void transport.start({
      onFrame: (from, frame) => {
        if (node.running) node.engine.handleFrame(from, frame);
      },
      onPeerUp: (peer) => node.contacts.add(peer),
      onPeerDown: () => {},
      addressOf: () => undefined,
    });
    node.engine.start();
    return node;
  }

  /** Resolves once every node added so far has started (needed in membership mode). */
  async started(): Promise<void> {
    const pending = this.starting;
    this.starting = [];
    await Promise.all(pending);
  }

  /** Stops a node abruptly: it neither sends nor receives any more. */
  crash(name: string): void {
    const node = this.node(name);
    node.running = false;
    node.engine.stop();
    node.full?.clock.stall(Number.POSITIVE_INFINITY);
    this.network.attach(name, null);
  }

  /** Stops a node gracefully (membership mode): it announces that it leaves. */
  async leave(name: string): Promise<void> {
    const node = this.node(name);
    if (!node.full) throw new Error("leave() needs a cluster with membership");
    node.running = false;
    await node.full.node.stop();
  }

  /** Blocks a node's event loop for durationMs (membership mode). */
  stall(name: string, durationMs: number): void {
    const node = this.node(name);
    if (!node.full) throw new Error("stall() needs a cluster with membership");
    node.full.clock.stall(durationMs);
  }

  node(name: string): SimNode {
    const node = this.byName.get(name);
    if (!node) throw new Error(`no simulated node ${name}`);
    return node;
  }

  get intervalMs(): number {
    return this.settings.gossipIntervalMs;
  }

  runFor(ms: number): void {
    this.clock.advance(ms);
  }

  /** Runs round by round until `done` holds or maxRounds pass; returns the rounds run, or -1. */
  runUntil(done: () => boolean, maxRounds: number): number {
    for (let round = 1; round <= maxRounds; round++) {
      this.clock.advance(this.settings.gossipIntervalMs);
      if (done()) return round;
    }
    return -1;
  }

  running(): SimNode[] {
    return this.nodes.filter((node) => node.running);
  }

  /** A local set on a bare engine node through its write path: paced by flow control when on, pushed when published. */
  write(name: string, group: string, key: string, value: EncodedValue): LocalWrite {
    const node = this.node(name);
    const write = node.engine.flow.write(group, key, value);
    if (write.published) node.engine.pushLocal(group, key);
    return write;
  }
}

/** Delays a stalled node's incoming frames until its stall ends, as a blocked event loop would. */
function stallable(transport: Transport, clock: NodeClock): Transport {
  return {
    start: (host) =>
      transport.start({ ...host, onFrame: (from, frame) => clock.run(() => host.onFrame(from, frame)) }),
    send: (peer, frames) => transport.send(peer, frames),
    stop: () => transport.stop(),
  };
}

export function nodeName(index: number): string {
  return `node-${index}`;
}

/** Random peers among the known nodes and contacts, never one in `exclude`. */
function pickPeers(random: Random, state: ClusterState, contacts: Set<string>, count: number, exclude: ReadonlySet<string>): string[] {
  // The table's name list is cached (and shared with a converged start's snapshot); contacts not
  // known yet, only at the start of a join, cost a copy.
  let names = state.nodes.names();
  for (const contact of contacts) {
    if (!state.nodes.has(contact)) {
      names = [...names, ...[...contacts].filter((name) => !state.nodes.has(name))];
      break;
    }
  }
  const total = names.length;
  const chosen = new Set<string>();
  // Rejection sampling: cheap when count is small next to the cluster, bounded either way.
  for (let attempt = 0; attempt < count * 8 && chosen.size < count && chosen.size < total; attempt++) {
    const name = names[random.int(names.length)]!;
    if (!exclude.has(name)) chosen.add(name);
  }
  return [...chosen];
}
