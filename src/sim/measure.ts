// Measurements over a SimulatedCluster: propagation rounds, traffic and duplicate factor. Shared
// by scripts/simulate.ts, the benchmarks and the tests, so they all measure the same way.

import type { SimNode, SimulatedCluster } from "./simulated-cluster.ts";

export interface PropagationTrial {
  /** Gossip intervals until 99% (rounded up) of running nodes held the write; -1 if never. */
  roundsTo99: number;
  /** Gossip intervals until every running node held the write; -1 if never. */
  roundsTo100: number;
}

/** One write on a random running node; counts intervals until it reached 99% and 100%. */
export function measurePropagation(cluster: SimulatedCluster, trial: number, maxRounds: number): PropagationTrial {
  const running = cluster.running();
  const write = startTrial(running[cluster.random.int(running.length)]!, trial);
  const needed99 = Math.ceil(running.length * 0.99);
  const result: PropagationTrial = { roundsTo99: -1, roundsTo100: -1 };
  for (let round = 1; round <= maxRounds; round++) {
    cluster.runFor(cluster.intervalMs);
    const holding = holders(running, write);
    if (result.roundsTo99 < 0 && holding >= needed99) result.roundsTo99 = round;
    if (holding === running.length) {
      result.roundsTo100 = round;
      break;
    }
  }
  return result;
}

export interface ConcurrentTrials {
  trials: number;
  /** Writes started at the start of each interval until `trials` were made. */
  perRound: number;
  /** Intervals a write may take before it counts as never completed. */
  maxRounds: number;
}

/**
 * Many writes in flight at once, each on its own node (never the same origin twice), started
 * `perRound` at a time at successive intervals; each counts intervals from its own start. The
 * writes are separate keys of separate origins, so each spreads on its own as long as the
 * messages carrying them are not cut by the budget (stats().gossip.budgetOverflows stays 0).
 * They share the rounds' random peer choices, though: see docs/BENCHMARKS.md for how their
 * figures compare with one write at a time.
 */
export function measureConcurrentPropagation(cluster: SimulatedCluster, options: ConcurrentTrials): PropagationTrial[] {
  const running = cluster.running();
  if (options.trials > running.length) throw new Error(`${options.trials} concurrent trials need as many nodes, ${running.length} are running`);
  const needed99 = Math.ceil(running.length * 0.99);
  const unused = [...running];
  const active: { write: TrialWrite; started: number; result: PropagationTrial }[] = [];
  const results: PropagationTrial[] = [];
  for (let round = 0; results.length < options.trials || active.length > 0; round++) {
    for (let i = 0; i < options.perRound && results.length < options.trials; i++) {
      const origin = unused.splice(cluster.random.int(unused.length), 1)[0]!;
      const result: PropagationTrial = { roundsTo99: -1, roundsTo100: -1 };
      results.push(result);
      active.push({ write: startTrial(origin, results.length - 1), started: round, result });
    }
    cluster.runFor(cluster.intervalMs);
    for (let i = active.length - 1; i >= 0; i--) {
      const { write, started, result } = active[i]!;
      const rounds = round + 1 - started;
      const holding = holders(running, write);
      if (result.roundsTo99 < 0 && holding >= needed99) result.roundsTo99 = rounds;
      if (holding === running.length) result.roundsTo100 = rounds;
      if (holding === running.length || rounds >= options.maxRounds) active.splice(i, 1);
    }
  }
  return results;
}

interface TrialWrite {
  origin: string;
  key: string;
}

/** Writes trial's key on `origin` through the node's write path (flow control, then a push when pushing is on). */
function startTrial(origin: SimNode, trial: number): TrialWrite {
  const key = `trial-${trial}`;
  origin.node.set("bench", key, trial);
  return { origin: origin.name, key };
}

function holders(nodes: readonly SimNode[], write: TrialWrite): number {
  let holding = 0;
  for (const node of nodes) if (node.state.get(write.origin, "bench", write.key)) holding++;
  return holding;
}

export interface TrafficTotals {
  bytesOut: number;
  messagesOut: number;
  entriesReceived: number;
  entriesApplied: number;
}

export function trafficTotals(cluster: SimulatedCluster): TrafficTotals {
  const totals: TrafficTotals = { bytesOut: 0, messagesOut: 0, entriesReceived: 0, entriesApplied: 0 };
  for (const node of cluster.running()) {
    const link = cluster.network.statsOf(node.name);
    totals.bytesOut += link.bytesOut;
    totals.messagesOut += link.messagesOut;
    const gossip = node.node.stats().gossip;
    totals.entriesReceived += gossip.entriesReceived;
    totals.entriesApplied += gossip.entriesApplied;
  }
  return totals;
}

export interface TrafficRates {
  bytesPerNodePerSecond: number;
  messagesPerNodePerSecond: number;
  /** Entries received per entry applied: 1.0 means no entry arrived twice. */
  duplicateFactor: number;
}

/** Traffic between two totals taken `elapsedMs` apart. */
export function trafficRates(before: TrafficTotals, after: TrafficTotals, nodes: number, elapsedMs: number): TrafficRates {
  const seconds = elapsedMs / 1000;
  const applied = after.entriesApplied - before.entriesApplied;
  return {
    bytesPerNodePerSecond: (after.bytesOut - before.bytesOut) / nodes / seconds,
    messagesPerNodePerSecond: (after.messagesOut - before.messagesOut) / nodes / seconds,
    duplicateFactor: applied === 0 ? 0 : (after.entriesReceived - before.entriesReceived) / applied,
  };
}

export function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[index]!;
}

/** Jain's fairness index of a set of rates: 1 when all are equal, 1/n when one takes everything. */
export function jainIndex(values: readonly number[]): number {
  let sum = 0;
  let squares = 0;
  for (const value of values) {
    sum += value;
    squares += value * value;
  }
  return squares === 0 ? 1 : (sum * sum) / (values.length * squares);
}
