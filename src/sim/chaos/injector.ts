// Applies a scenario's fault episodes to a simulated cluster of whole nodes: each episode becomes
// a start action and, when it lasts, end actions. Episodes that cannot apply when their time comes
// (a crash of a node that is already down, a leave that would leave fewer than half the nodes
// running) are skipped, deterministically. Every change is recorded in the HealthHistory.

import type { MemoryNetworkOptions } from "../../transport/memory.ts";
import { nodeName, type SimNode, type SimulatedCluster } from "../simulated-cluster.ts";
import type { HealthHistory } from "./health.ts";
import { type Episode, type Scenario, seedCount } from "./scenario.ts";

export const baseNetwork: MemoryNetworkOptions = { lossRate: 0, minLatencyMs: 1, maxLatencyMs: 10, duplicateRate: 0 };

export interface Action {
  atMs: number;
  episode: Episode;
  run(): Promise<void> | void;
}

type Condition = { kind: "loss" | "duplicate" | "reorder" | "delay"; value: number };

export class FaultInjector {
  /** Directed links cut, with how many episodes cut each ("from\u0000to" -> count). */
  private readonly cutCounts = new Map<string, number>();
  private readonly conditions = new Set<Condition>();
  /** Each node's wall-clock skew, kept across its restarts (it belongs to the machine). */
  private readonly skews = new Map<string, number>();
  /** Each node's seeds: the connections TCP keeps dialling (see spawn). */
  private readonly seeds = new Map<string, readonly string[]>();
  /** Episodes that did not apply at their start: their end actions do nothing either. */
  private readonly skipped = new Set<Episode>();
  /** Time of the last action that changed something. */
  lastFaultMs = 0;
  readonly applied: string[] = [];

  constructor(
    private readonly cluster: SimulatedCluster,
    private readonly history: HealthHistory,
    private readonly scenario: Scenario,
    /** Called for every node incarnation started (the initial ones are started by the caller). */
    private readonly onNode: (node: SimNode) => void,
  ) {}

  /** Every action of the scenario, in time order (stable for ties). */
  actions(): Action[] {
    const actions: Action[] = [];
    for (const episode of this.scenario.episodes) {
      const at = (atMs: number, run: () => Promise<void> | void): void => void actions.push({ atMs, episode, run: () => (this.skipped.has(episode) ? undefined : run()) });
      const end = episode.atMs + episode.durationMs;
      switch (episode.kind) {
        case "partition":
        case "long-partition":
        case "asymmetric":
        case "one-way": {
          const links = cutLinks(episode);
          at(episode.atMs, () => this.cut(links));
          at(end, () => this.uncut(links));
          break;
        }
        case "heal-steps": {
          const islands = episode.groups;
          at(episode.atMs, () => this.cut(cutLinks(episode)));
          const pairs: [number, number][] = [];
          for (let a = 0; a < islands.length; a++) for (let b = a + 1; b < islands.length; b++) pairs.push([a, b]);
          // The first pair heals half-way through, the last at the end.
          pairs.forEach(([a, b], step) => {
            const healAt = episode.atMs + episode.durationMs / 2 + (pairs.length === 1 ? episode.durationMs / 2 : (step * episode.durationMs) / 2 / (pairs.length - 1));
            at(Math.round(healAt), () => this.uncut(between(islands[a]!, islands[b]!)));
          });
          break;
        }
        case "crash":
        case "long-crash":
          at(episode.atMs, () => this.crash(episode));
          if (episode.durationMs > 0) at(end, () => this.spawn(episode.nodes[0]!, {}));
          break;
        case "restart":
        case "restart-lower":
          at(episode.atMs, () => this.restart(episode));
          break;
        case "freeze":
        case "long-freeze":
          at(episode.atMs, () => this.freeze(episode));
          // The fault lasts until the node resumes: convergence is measured from then (a node
          // resumed from a long freeze rightly convicts no one for its stall's length).
          at(end, () => this.note(`${episode.nodes[0]} resumes`));
          break;
        case "loss":
        case "duplicate":
        case "reorder":
        case "delay": {
          const condition: Condition = { kind: episode.kind, value: episode.value };
          let degraded: { end: number } | undefined;
          at(episode.atMs, () => {
            this.conditions.add(condition);
            if (condition.kind === "loss" || condition.kind === "delay") degraded = this.history.degrade(this.now());
            this.applyConditions();
          });
          at(end, () => {
            this.conditions.delete(condition);
            if (degraded) degraded.end = this.now();
            this.applyConditions();
          });
          break;
        }
        case "skew":
          at(episode.atMs, () => this.skew(episode));
          break;
        case "join":
          at(episode.atMs, () => this.join(episode));
          break;
        case "leave":
          at(episode.atMs, () => this.leave(episode));
          if (episode.durationMs > 0) at(end, () => this.spawn(episode.nodes[0]!, {}));
          break;
      }
    }
    return actions.sort((a, b) => a.atMs - b.atMs);
  }

  private now(): number {
    return this.cluster.clock.now();
  }

  private isRunning(name: string): boolean {
    return this.cluster.byName.get(name)?.running === true;
  }

  /** The seeds of the nodes the cluster started with (SimulatedCluster's `seeds` option). */
  private get initialSeeds(): readonly string[] {
    return Array.from({ length: seedCount(this.scenario.options.nodes) }, (_, i) => nodeName(i));
  }

  /**
   * Crashes and leaves stop at half the initial cluster running, and spare the only seed of a
   * joiner that has not reached anyone yet: stopping it cuts the joiner off for good, which no
   * protocol can repair (nobody else knows of it, and it knows of nobody else).
   */
  private mayStop(name: string): boolean {
    return this.isRunning(name) && this.cluster.running().length - 1 >= Math.ceil(this.scenario.options.nodes / 2) && !this.isOnlySeedOfALoneJoiner(name);
  }

  private isOnlySeedOfALoneJoiner(name: string): boolean {
    return this.cluster.running().some((node) => {
      const seeds = this.seeds.get(node.name);
      return seeds?.length === 1 && seeds[0] === name && node.state.nodes.size === 1;
    });
  }

  private skip(episode: Episode): void {
    this.skipped.add(episode);
    this.applied.push(`skipped #${episode.index} ${episode.kind} (not applicable now)`);
  }

  private note(what: string): void {
    this.lastFaultMs = this.now();
    this.applied.push(`t=${(this.now() / 1000).toFixed(3)}s ${what}`);
  }

  private cut(links: [string, string][]): void {
    for (const [from, to] of links) {
      const key = `${from}\u0000${to}`;
      this.cutCounts.set(key, (this.cutCounts.get(key) ?? 0) + 1);
    }
    this.syncCuts();
  }

  private uncut(links: [string, string][]): void {
    for (const [from, to] of links) {
      const key = `${from}\u0000${to}`;
      const count = (this.cutCounts.get(key) ?? 0) - 1;
      if (count > 0) this.cutCounts.set(key, count);
      else this.cutCounts.delete(key);
    }
    this.syncCuts();
  }

  /** The network's blocked links become exactly those cut by some episode in force. */
  private syncCuts(): void {
    const network = this.cluster.network;
    network.heal();
    const now = this.now();
    for (const key of this.cutCounts.keys()) {
      const [from, to] = key.split("\u0000") as [string, string];
      network.blockOneWay([from], [to]);
    }
    this.history.syncCuts(this.cutCounts.keys(), now);
    this.note(`links cut: ${this.cutCounts.size}`);
  }

  private applyConditions(): void {
    const options = { ...baseNetwork };
    for (const { kind, value } of this.conditions) {
      if (kind === "loss") options.lossRate = Math.max(options.lossRate, value);
      else if (kind === "duplicate") options.duplicateRate = Math.max(options.duplicateRate ?? 0, value);
      else if (kind === "reorder") options.maxLatencyMs = Math.max(options.maxLatencyMs, value);
      else {
        options.minLatencyMs = Math.max(options.minLatencyMs, value / 5);
        options.maxLatencyMs = Math.max(options.maxLatencyMs, value);
      }
    }
    this.cluster.network.options = options;
    this.note(`network ${JSON.stringify(options)}`);
  }

  private crash(episode: Episode): void {
    const name = episode.nodes[0]!;
    if (!this.mayStop(name)) return this.skip(episode);
    this.cluster.crash(name);
    this.history.stopped(name);
    this.note(`crash ${name}`);
  }

  private async leave(episode: Episode): Promise<void> {
    const name = episode.nodes[0]!;
    if (!this.mayStop(name)) return this.skip(episode);
    this.history.stopped(name);
    this.note(`leave ${name}`);
    await this.cluster.leave(name);
  }

  private async restart(episode: Episode): Promise<void> {
    const name = episode.nodes[0]!;
    if (!this.isRunning(name)) return this.skip(episode);
    const generation = this.cluster.node(name).node.settings.generation;
    await this.spawn(name, episode.kind === "restart-lower" ? { generation: Math.max(1, generation - episode.value) } : {});
  }

  private freeze(episode: Episode): void {
    const name = episode.nodes[0]!;
    if (!this.isRunning(name)) return this.skip(episode);
    this.cluster.stall(name, episode.durationMs);
    this.history.freeze(name, this.now(), episode.durationMs);
    this.note(`freeze ${name} for ${episode.durationMs} ms`);
  }

  private skew(episode: Episode): void {
    const name = episode.nodes[0]!;
    this.skews.set(name, episode.value);
    const node = this.cluster.byName.get(name);
    if (node) node.clock.skewMs = episode.value;
    this.note(`skew ${name} ${episode.value} ms`);
  }

  private async join(episode: Episode): Promise<void> {
    const [name, seed] = episode.nodes as [string, string];
    const via = this.isRunning(seed) ? seed : this.cluster.running()[0]?.name;
    if (this.cluster.byName.has(name) || via === undefined) return this.skip(episode);
    await this.spawn(name, { seeds: [via] });
  }

  /** Starts a (new incarnation of a) node: a restart when it runs, a return when it is down. */
  private async spawn(name: string, options: { generation?: number; seeds?: string[] }): Promise<void> {
    const node = this.cluster.addNode(name, { ...options, skewMs: this.skews.get(name) ?? 0 });
    this.history.started(name, this.now());
    this.onNode(node);
    // Over TCP a seed is dialled until it answers, from both ends: the new process dials its
    // seeds, and every running node that has it as a seed redials it (the simulator's transport
    // only reports the new node's own seeds to it).
    if (options.seeds) this.seeds.set(name, options.seeds);
    const seedsOf = (other: string): readonly string[] => this.seeds.get(other) ?? this.initialSeeds;
    for (const other of this.cluster.running()) {
      if (other.name !== name && (seedsOf(other.name).includes(name) || seedsOf(name).includes(other.name))) this.cluster.network.connect(name, other.name);
    }
    this.note(`start ${name} generation ${node.node.settings.generation}${options.seeds ? ` via ${options.seeds.join(",")}` : ""}`);
    await this.cluster.started();
  }
}

function between(a: readonly string[], b: readonly string[]): [string, string][] {
  const links: [string, string][] = [];
  for (const x of a) for (const y of b) links.push([x, y], [y, x]);
  return links;
}

/** The directed links an episode cuts. */
function cutLinks(episode: Episode): [string, string][] {
  const [first, second] = episode.groups as [string[], string[]];
  if (episode.kind === "one-way") return first.flatMap((from) => second.map((to): [string, string] => [from, to]));
  if (episode.kind === "asymmetric") return between(first, second);
  const links: [string, string][] = [];
  episode.groups.forEach((island, i) => {
    for (const other of episode.groups.slice(i + 1)) links.push(...between(island, other));
  });
  return links;
}
