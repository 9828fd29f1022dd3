// The state-based invariants, checked on the running nodes of a simulated cluster:
// I1 convergence (after the faults), I4 bounded memory (throughout), I5 events = state (at the end).
// I2 and I3 are checked as events happen (observer.ts).

import type { SimNode, SimulatedCluster } from "../simulated-cluster.ts";
import type { NodeObserver } from "./observer.ts";
import { keysPerNode } from "./workload.ts";

/** Convergence bound (I1), in rounds after the last fault ended; see docs/BENCHMARKS.md "Chaos". */
export const convergenceBoundRounds = 40;

/** Reserved entries a node may hold of itself: address, status, config. */
const reservedKeys = 3;

export interface MemoryBounds {
  /** Every name that ever ran in the scenario. */
  names: number;
}

/** I1: why the running nodes have not converged yet, or null when they have. */
export function divergence(cluster: SimulatedCluster): string | null {
  const running = cluster.running();
  const own = new Map(running.map((node) => [node.name, fingerprint(node, node.name)]));
  const config = configText(running[0]);
  for (const observer of running) {
    const members = new Map(observer.node.members().map((member) => [member.name, member]));
    for (const subject of running) {
      const member = members.get(subject.name);
      const generation = subject.node.settings.generation;
      if (!member || member.state !== "alive" || member.generation !== generation) {
        return `${observer.name} lists ${subject.name} as ${member ? `${member.state} at generation ${member.generation}` : "absent"}, not alive at generation ${generation}`;
      }
      if (subject !== observer && fingerprint(observer, subject.name) !== own.get(subject.name)) {
        return `${observer.name}'s entries of ${subject.name} differ from ${subject.name}'s own: ${diff(observer, subject)}`;
      }
    }
    const stopped = [...members.values()].find((member) => member.state === "alive" && !cluster.byName.get(member.name)?.running);
    if (stopped) return `${observer.name} lists ${stopped.name}, which is not running, as alive`;
    const adopted = configText(observer);
    if (adopted !== config) return `${observer.name} runs cluster config ${adopted}, ${running[0]!.name} runs ${config}`;
  }
  return null;
}

/** The cluster config a node runs; version 0 is every node's own start-up document, whatever its origin. */
function configText(node: SimNode | undefined): string {
  const config = node?.node.clusterConfig();
  return JSON.stringify(config && config.version === 0 ? { version: 0, settings: config.settings } : config);
}

function entryTexts(node: SimNode, owner: string): string[] {
  const texts: string[] = [];
  for (const entry of node.state.liveEntries(owner)) texts.push(`${entry.group}/${entry.key}@${entry.version}=${Buffer.from(entry.value).toString("hex")}`);
  return texts.sort();
}

function fingerprint(node: SimNode, owner: string): string {
  return entryTexts(node, owner).join(" ");
}

function diff(observer: SimNode, subject: SimNode): string {
  const held = new Set(entryTexts(observer, subject.name));
  const truth = new Set(entryTexts(subject, subject.name));
  const missing = [...truth].filter((text) => !held.has(text)).slice(0, 3);
  const extra = [...held].filter((text) => !truth.has(text)).slice(0, 3);
  return `missing ${missing.join(", ") || "none"}; extra ${extra.join(", ") || "none"}`;
}

/**
 * I4: the first bound a running node breaks, or null. Bounds (N = names that ever ran):
 * members known ≤ N; removed nodes remembered ≤ N; per member, entries and tombstones ≤
 * keysPerNode + 3 reserved + N verdict facts, and as many set aside while a restarted member's state is replaced;
 * writes held by flow control ≤ keysPerNode; probe requests pending ≤ 4N; timers pending on the
 * virtual clock (heartbeats, probes, messages in flight for every node) ≤ 300 N.
 */
export function memoryExcess(cluster: SimulatedCluster, bounds: MemoryBounds): string | null {
  const n = bounds.names;
  if (cluster.clock.pendingTimers > 300 * n) return `${cluster.clock.pendingTimers} timers pending on the virtual clock, bound ${300 * n}`;
  for (const simNode of cluster.running()) {
    const node = simNode.node;
    const name = simNode.name;
    if (node.state.nodes.size > n) return `${name} knows ${node.state.nodes.size} members, bound ${n}`;
    if (node.state.removed.size > n) return `${name} remembers ${node.state.removed.size} removed nodes, bound ${n}`;
    if (node.stats().probesPending > 4 * n) return `${name} has ${node.stats().probesPending} probe requests pending, bound ${4 * n}`;
    // Besides its own reserved keys, a member may hold a published verdict about every name (node/gone-facts.ts).
    const perMember = keysPerNode + reservedKeys + n;
    for (const member of node.state.nodes.values()) {
      if (member.entries.size > perMember) return `${name} holds ${member.entries.size} entries and tombstones of ${member.name}, bound ${perMember}`;
      if ((member.replaced?.size ?? 0) > perMember) return `${name} sets aside ${member.replaced!.size} entries of ${member.name}, bound ${perMember}`;
    }
    const held = node.flowControl().backlogEntries;
    if (held > keysPerNode) return `${name} holds back ${held} writes, bound ${keysPerNode}`;
  }
  return null;
}

/** I5: where replaying a node's events disagrees with its state, or null. */
export function replayMismatch(observer: NodeObserver): string | null {
  const node = observer.node.node;
  const name = observer.node.name;
  const owners = new Set([...node.nodes(), ...observer.entries.keys()]);
  for (const owner of owners) {
    const state = new Map(node.entries(owner).map((entry) => [`${entry.group}\u0000${entry.key}`, entry]));
    const replayed = observer.entries.get(owner) ?? new Map();
    for (const [key, entry] of state) {
      const event = replayed.get(key);
      const label = `${owner}'s ${key.replace("\u0000", "/")}`;
      if (!event) return `${name} holds ${label} = ${String(entry.value)} v${entry.version}, but its events never added it (or deleted it)`;
      // A local write held back by flow control raised its event with version 0.
      if (event.value !== String(entry.value) || (event.version !== 0 && event.version !== entry.version)) {
        return `${name} holds ${label} = ${String(entry.value)} v${entry.version}, its events say ${event.value} v${event.version}`;
      }
    }
    for (const key of replayed.keys()) if (!state.has(key)) return `${name}'s events say it holds ${owner}'s ${key.replace("\u0000", "/")}, its state does not`;
  }
  // The membership's verdicts (node.status) at the generations the state holds.
  const generations = new Map(node.members().map((member) => [member.name, member.generation]));
  for (const [subject, told] of observer.members) {
    const status = node.status(subject);
    if (status === undefined) return `${name}'s events say ${subject} is ${told.status}, its membership does not know it`;
    const generation = generations.get(subject);
    if (status !== told.status || generation !== told.generation) {
      return `${name}'s events say ${subject} is ${told.status} at generation ${told.generation}, its membership says ${status} at ${generation}`;
    }
  }
  for (const [subject, generation] of generations) {
    const status = subject === name ? undefined : node.status(subject);
    if (status === undefined || observer.members.has(subject)) continue;
    if (!unannounced(observer, { name: subject, status, generation })) return `${name}'s membership knows ${subject}, its events never told of it`;
  }
  return null;
}

/**
 * Members the membership holds without a record, by design (membership.ts): a node first heard of
 * as already left (only its removal is reported), and one readmitted after its removal as dead,
 * held dead at that generation until it answers (it then joins again).
 */
function unannounced(observer: NodeObserver, member: { name: string; status: string; generation: number }): boolean {
  return member.status === "left" || (member.status === "dead" && observer.removed.get(member.name) === member.generation);
}
