// N gossip engines over the in-memory network with a virtual clock: the deterministic cluster
// the simulator, the property tests and the benchmarks run. Each node is the real state and
// engine code; only the transport and the clock are simulated.

import type { DecodeError } from "../codec/index.ts";
import { GossipEngine, type GossipSettings } from "../gossip/engine.ts";
import { createRandom, type Random } from "../random.ts";
import { ClusterState, type ChangeRecord, defaultStateLimits, type StateLimits } from "../state/index.ts";
import { MemoryNetwork, type MemoryNetworkOptions } from "../transport/memory.ts";
import { VirtualClock } from "../transport/virtual-clock.ts";

export interface SimulationOptions {
  nodes: number;
  seed: number;
  network: MemoryNetworkOptions;
  gossip: Partial<GossipSettings>;
  limits?: Partial<StateLimits>;
  tombstoneGraceMs?: number;
  /** How many of the first nodes act as seeds for everyone (default 1). */
  seeds?: number;
}

export const defaultSimGossip: GossipSettings = {
  gossipIntervalMs: 1000,
  fanout: 1,
  maxGossipBytes: 1024 * 1024,
  pushFanout: 0,
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
  /** Keep change records per node (tests); benchmarks turn this off to save memory. */
  recordChanges = true;

  constructor(readonly options: SimulationOptions) {
    this.random = createRandom(options.seed);
    this.network = new MemoryNetwork(this.clock, this.random, options.network);
    this.settings = { ...defaultSimGossip, ...options.gossip };
    this.seedNames = Array.from({ length: options.seeds ?? 1 }, (_, i) => nodeName(i));
    for (let i = 0; i < options.nodes; i++) this.addNode(nodeName(i));
  }

  /** Creates and starts a node (or restarts one with a new generation). */
  addNode(name: string): SimNode {
    const running = this.byName.get(name);
    if (running?.running) {
      // A restart replaces the process: the old incarnation must not keep gossiping its old
      // generation under the same name (its timer would otherwise keep firing).
      running.running = false;
      running.engine.stop();
    }
    const state = new ClusterState(name, this.generationCounter++, this.clock, {
      tombstoneGraceMs: this.options.tombstoneGraceMs ?? 3_600_000,
      limits: { ...defaultStateLimits, maxGossipBytes: this.settings.maxGossipBytes, ...this.options.limits },
    });
    const transport = this.network.transport(name, this.seedNames);
    const random = this.random;
    const node: SimNode = { name, state, engine: null as unknown as GossipEngine, contacts: new Set(), running: true, changes: [], protocolErrors: [] };
    node.engine = new GossipEngine(state, this.clock, random, this.settings, {
      send: (peer, frames) => transport.send(peer, frames),
      choosePeers: (count) => pickPeers(random, state, node.contacts, count, new Set([name])),
      choosePushPeers: (count, exclude) => pickPeers(random, state, node.contacts, count, exclude),
      onChanges: (changes) => {
        if (this.recordChanges) node.changes.push(...changes);
      },
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
    const previous = this.byName.get(name);
    if (previous) this.nodes[this.nodes.indexOf(previous)] = node;
    else this.nodes.push(node);
    this.byName.set(name, node);
    return node;
  }

  /** Stops a node abruptly: it neither sends nor receives any more. */
  crash(name: string): void {
    const node = this.node(name);
    node.running = false;
    node.engine.stop();
    this.network.attach(name, null);
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
}

export function nodeName(index: number): string {
  return `node-${index}`;
}

/** Names of known nodes, rebuilt only when the membership count changes (it rarely does). */
const nameCache = new WeakMap<ClusterState, { size: number; contacts: number; names: string[] }>();

/** Random peers among the known nodes and contacts, never one in `exclude`. */
function pickPeers(random: Random, state: ClusterState, contacts: Set<string>, count: number, exclude: ReadonlySet<string>): string[] {
  const known = state.nodes;
  let cached = nameCache.get(state);
  if (!cached || cached.size !== known.size || cached.contacts !== contacts.size) {
    const names = Array.from(known.keys());
    for (const contact of contacts) if (!known.has(contact)) names.push(contact);
    cached = { size: known.size, contacts: contacts.size, names };
    nameCache.set(state, cached);
  }
  const names = cached.names;
  const total = names.length;
  const chosen = new Set<string>();
  // Rejection sampling: cheap when count is small next to the cluster, bounded either way.
  for (let attempt = 0; attempt < count * 8 && chosen.size < count && chosen.size < total; attempt++) {
    const name = names[random.int(names.length)]!;
    if (!exclude.has(name)) chosen.add(name);
  }
  return [...chosen];
}
