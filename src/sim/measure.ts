// Measurements over a SimulatedCluster: propagation rounds, traffic and duplicate factor. Shared
// by scripts/simulate.ts, the benchmarks and the tests, so they all measure the same way.

import { encodeValue } from "../state/index.ts";
import type { SimulatedCluster } from "./simulated-cluster.ts";

export interface PropagationTrial {
  /** Gossip intervals until 99% (rounded up) of running nodes held the write; -1 if never. */
  roundsTo99: number;
  /** Gossip intervals until every running node held the write; -1 if never. */
  roundsTo100: number;
}

/** One write on a random running node; counts intervals until it reached 99% and 100%. */
export function measurePropagation(cluster: SimulatedCluster, trial: number, maxRounds: number): PropagationTrial {
  const running = cluster.running();
  const writer = running[cluster.random.int(running.length)]!;
  const key = `trial-${trial}`;
  writer.state.set("bench", key, encodeValue(trial));
  writer.engine.pushLocal("bench", key);
  const needed99 = Math.ceil(running.length * 0.99);
  const result: PropagationTrial = { roundsTo99: -1, roundsTo100: -1 };
  for (let round = 1; round <= maxRounds; round++) {
    cluster.runFor(cluster.intervalMs);
    let holding = 0;
    for (const node of running) if (node.state.get(writer.name, "bench", key)) holding++;
    if (result.roundsTo99 < 0 && holding >= needed99) result.roundsTo99 = round;
    if (holding === running.length) {
      result.roundsTo100 = round;
      break;
    }
  }
  return result;
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
    totals.entriesReceived += node.engine.stats.entriesReceived;
    totals.entriesApplied += node.engine.stats.entriesApplied;
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
