// N nodes over the in-memory network with a virtual clock: the deterministic cluster the
// simulator, the property tests and the benchmarks run. Every node is a GossipNode, the class
// createNode() builds: only the transport and the clock are simulated. Each runs on its own
// NodeClock, so a node's event loop can stall or crash while the others go on. Membership
// (failure detection, probes, leave, local-health guard) can be switched off for
// pure-reconciliation experiments; nodes start asynchronously, so await started() before running.

import type { Frame } from "../codec/index.ts";
import type { NodeEvent } from "../events.ts";
import type { GossipSettings } from "../gossip/engine.ts";
import type { OverloadReport } from "../gossip/flow-control.ts";
import { type Logger, silentLogger } from "../log.ts";
import { defaultMembershipSettings, type MembershipSettings } from "../membership/membership.ts";
import { GossipNode, type NodeSettings } from "../node.ts";
import { startRecords } from "../node/reserved-entries.ts";
import { createRandom, type Random } from "../random.ts";
import { type ChangeRecord, type ClusterState, defaultStateLimits, type StateLimits } from "../state/index.ts";
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
  /** Run the nodes with membership (failure detection) with these settings; absent: without. */
  membership?: Partial<MembershipSettings>;
  /** Where the nodes log; silent by default. */
  logger?: Logger;
  /**
   * Start with every node knowing every other (generation, its start entries, heartbeat 0), as
   * after a join, instead of joining from the seeds. The nodes share that membership
   * copy-on-write, so 10,000 nodes take 10,000 records instead of 10^8. Without membership only.
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
  /** The node: the same class createNode() builds. */
  node: GossipNode;
  /** node.state: the node's state layer, for measurements. */
  state: ClusterState;
  /** This node's view of the shared clock: stall() and crash() act on it. */
  clock: NodeClock;
  running: boolean;
  /** Changes this node handled, when the cluster records them (recordChanges). */
  changes: ChangeRecord[];
  /** Flow control's overload reports (its once-per-period gossip-overload events). */
  overloads: OverloadReport[];
  /** Node events raised (with membership). */
  events: NodeEvent[];
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
  private readonly membership: MembershipSettings | null;
  private readonly seedNames: string[];
  private generationCounter = 1;
  /** The membership the first nodes start from with `converged`, until they restart. */
  private readonly snapshot: MemberSnapshot | null = null;
  /** Keep change records per node (tests); benchmarks turn this off to save memory. */
  recordChanges = true;
  /**
   * Sees every change a node handles as it happens: entries merged from peers, expiries, and
   * its own writes (version 0 while flow control holds one back, then again when published).
   */
  onChanges: ((node: SimNode, changes: readonly ChangeRecord[]) => void) | null = null;
  /** Sees every frame a node receives, before the node does (tests decode them on their own). */
  onFrame: ((to: string, from: string, frame: Frame) => void) | null = null;
  /** Nodes start asynchronously (their transport's start is async); see started(). */
  private starting: Promise<void>[] = [];

  constructor(readonly options: SimulationOptions) {
    this.random = createRandom(options.seed);
    this.network = new MemoryNetwork(this.clock, this.random, options.network);
    this.settings = { ...defaultSimGossip, ...options.gossip };
    this.membership = options.membership ? { ...defaultMembershipSettings, ...options.membership } : null;
    this.seedNames = Array.from({ length: options.seeds ?? 1 }, (_, i) => nodeName(i));
    if (options.converged) {
      if (options.membership) throw new Error("a converged start needs nodes without membership (no membership option)");
      // Generations as addNode() hands them out below, one per node in order.
      const first = this.generationCounter;
      const nodes = Array.from({ length: options.nodes }, (_, i) => ({ name: nodeName(i), generation: first + i, address: addressOf(nodeName(i)), config: {} }));
      this.snapshot = new MemberSnapshot(startRecords(nodes, this.clock, this.stateSettings()));
    }
    for (let i = 0; i < options.nodes; i++) this.addNode(nodeName(i));
  }

  /** Creates and starts a node (or restarts one with a new generation); await started() before running. */
  addNode(name: string, options: AddNodeOptions = {}): SimNode {
    const previous = this.byName.get(name);
    // A restart replaces the process: the old incarnation must not keep gossiping its old
    // generation under the same name (its timer would otherwise keep firing). One that is frozen
    // with its leave pending (leave()) is killed too, as an operator would before starting anew.
    if (previous?.running || previous?.clock.isStalled) this.crash(name);
    const node = this.createNode(name, options);
    if (previous) this.nodes[this.nodes.indexOf(previous)] = node;
    else this.nodes.push(node);
    this.byName.set(name, node);
    return node;
  }

  private createNode(name: string, options: AddNodeOptions): SimNode {
    const generation = options.generation ?? this.generationCounter++;
    const clock = new NodeClock(this.clock);
    clock.skewMs = options.skewMs ?? 0;
    // The handshake announces the node's own generation, as TCP does.
    const transport = stallable(this.network.transport(name, options.seeds ?? this.seedNames, { generation }), clock, (from, frame) => this.onFrame?.(name, from, frame));
    // A restarted node knows only its seeds again: the snapshot is for the first incarnations.
    const startMembers = this.snapshot?.records[this.snapshot.slots.get(name) ?? -1]?.generation === generation ? this.snapshot : undefined;
    const settings: NodeSettings = {
      name,
      generation,
      clusterName: "simulation",
      gossip: this.settings,
      membership: this.membership,
      ...this.stateSettings(),
      ...(startMembers ? { startMembers } : {}),
    };
    const sim: SimNode = { name, node: null as unknown as GossipNode, state: null as unknown as ClusterState, clock, running: true, changes: [], overloads: [], events: [] };
    const observeChanges = (changes: readonly ChangeRecord[]): void => {
      if (this.recordChanges) sim.changes.push(...changes);
      this.onChanges?.(sim, changes);
    };
    sim.node = new GossipNode(
      settings,
      { transport, clock, random: this.random, logger: this.options.logger ?? silentLogger, advertisedAddress: () => addressOf(name), observeChanges },
      {},
      () => ({ gossip: this.settings, membership: this.membership ?? defaultMembershipSettings }),
    );
    sim.state = sim.node.state;
    sim.node.on("gossip-overload", (event) => {
      if (event.flow) sim.overloads.push(event.flow);
    });
    if (this.membership) {
      for (const type of ["node-joined", "node-suspect", "node-alive", "node-dead", "node-left", "node-removed"] as const) {
        sim.node.on(type, (event) => void sim.events.push(event));
      }
    }
    this.starting.push(sim.node.start());
    return sim;
  }

  private stateSettings(): Pick<NodeSettings, "tombstoneGraceMs" | "limits"> {
    return {
      tombstoneGraceMs: this.options.tombstoneGraceMs ?? 3_600_000,
      limits: { ...defaultStateLimits, maxGossipBytes: this.settings.maxGossipBytes, ...this.options.limits },
    };
  }

  /** Resolves once every node added so far has started. */
  async started(): Promise<void> {
    const pending = this.starting;
    this.starting = [];
    await Promise.all(pending);
  }

  /** Stops a node abruptly: it neither sends nor receives any more, and its timers never fire. */
  crash(name: string): void {
    const node = this.node(name);
    node.running = false;
    node.clock.stall(Number.POSITIVE_INFINITY);
    this.network.attach(name, null);
  }

  /** Stops a node gracefully: it announces that it leaves (with membership, a LEAVE too). */
  async leave(name: string): Promise<void> {
    const node = this.node(name);
    node.running = false;
    // A frozen process handles its SIGTERM when it resumes, after the input queued meanwhile.
    if (node.clock.isStalled) node.clock.run(() => void node.node.stop());
    else await node.node.stop();
  }

  /** Blocks a node's event loop for durationMs. */
  stall(name: string, durationMs: number): void {
    this.node(name).clock.stall(durationMs);
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
    this.assertStarted();
    this.clock.advance(ms);
  }

  /** Runs round by round until `done` holds or maxRounds pass; returns the rounds run, or -1. */
  runUntil(done: () => boolean, maxRounds: number): number {
    this.assertStarted();
    for (let round = 1; round <= maxRounds; round++) {
      this.clock.advance(this.settings.gossipIntervalMs);
      if (done()) return round;
    }
    return -1;
  }

  running(): SimNode[] {
    return this.nodes.filter((node) => node.running);
  }

  /** Time would run while a node has not started its rounds: a test or script forgot started(). */
  private assertStarted(): void {
    if (this.starting.length > 0) throw new Error("nodes were added but not started: await cluster.started() before running the clock");
  }
}

/**
 * Delays a stalled node's incoming frames until its stall ends, as a blocked event loop would;
 * `seen` sees each frame as the node gets it.
 */
function stallable(transport: Transport, clock: NodeClock, seen: (from: string, frame: Frame) => void): Transport {
  return {
    start: (host) =>
      transport.start({
        ...host,
        onFrame: (from, frame) =>
          clock.run(() => {
            seen(from, frame);
            host.onFrame(from, frame);
          }),
      }),
    send: (peer, frames) => transport.send(peer, frames),
    stop: () => transport.stop(),
    renewGeneration: (generation) => transport.renewGeneration(generation),
  };
}

export function nodeName(index: number): string {
  return `node-${index}`;
}

function addressOf(name: string): string {
  return `memory:${name}`;
}
