// The deterministic cluster simulator: N real engines over the in-memory network with a virtual
// clock. Prints, per scenario, rounds until a write reaches 99% and 100% of nodes (p50/p99 over
// trials), traffic per node per second at idle and under writes, and the duplicate factor.
//   bun run simulate -- --nodes 1000 --loss 0.1 --seed 7 --trials 20 --fanout 1 --push 0
import { parseArgs } from "node:util";
import { SimulatedCluster } from "../src/sim/simulated-cluster.ts";
import { measurePropagation, percentile, trafficRates, trafficTotals } from "../src/sim/measure.ts";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "100" },
    loss: { type: "string", default: "0" },
    seed: { type: "string", default: "7" },
    trials: { type: "string", default: "20" },
    fanout: { type: "string", default: "1" },
    push: { type: "string", default: "0" },
    interval: { type: "string", default: "1000" },
    budget: { type: "string", default: "1048576" },
    json: { type: "boolean", default: false },
  },
  strict: true,
});

function numberFlag(name: keyof typeof values, min: number, max: number): number {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value < min || value > max) {
    console.error(`--${name} must be a number from ${min} to ${max}, got ${values[name]}`);
    process.exit(2);
  }
  return value;
}

const nodes = numberFlag("nodes", 2, 100_000);
const loss = numberFlag("loss", 0, 0.9);
const seed = numberFlag("seed", 0, 2 ** 32 - 1);
const trials = numberFlag("trials", 1, 10_000);
const fanout = numberFlag("fanout", 1, 16);
const pushFanout = numberFlag("push", 0, 16);
const interval = numberFlag("interval", 100, 60_000);
const budget = numberFlag("budget", 1024, 16 * 1024 * 1024);

export interface SimulationReport {
  nodes: number;
  loss: number;
  seed: number;
  fanout: number;
  pushFanout: number;
  joinRounds: number;
  propagation: { trials: number; p50To99: number; p99To99: number; p50To100: number; p99To100: number; maxTo100: number; failed: number };
  idle: { bytesPerNodePerSecond: number; messagesPerNodePerSecond: number };
  writes: { bytesPerNodePerSecond: number; messagesPerNodePerSecond: number; duplicateFactor: number };
  wallSeconds: number;
}

const started = performance.now();
const cluster = new SimulatedCluster({
  nodes,
  seed,
  network: { lossRate: loss, minLatencyMs: 1, maxLatencyMs: 10 },
  gossip: { fanout, pushFanout, gossipIntervalMs: interval, maxGossipBytes: budget },
});
cluster.recordChanges = false;
const joinRounds = cluster.runUntil(() => cluster.nodes.every((node) => node.state.nodes.size === nodes), 200);

// Idle traffic: heartbeats and digests only.
const idleWindowMs = 10 * interval;
const idleBefore = trafficTotals(cluster);
cluster.runFor(idleWindowMs);
const idle = trafficRates(idleBefore, trafficTotals(cluster), nodes, idleWindowMs);

// Propagation trials, one write at a time; traffic over the trials is "under writes".
const maxRounds = 20 + 4 * Math.ceil(Math.log2(nodes));
const writeBefore = trafficTotals(cluster);
const writeStart = cluster.clock.now();
const to99: number[] = [];
const to100: number[] = [];
let failed = 0;
for (let trial = 0; trial < trials; trial++) {
  const result = measurePropagation(cluster, trial, maxRounds);
  if (result.roundsTo100 < 0) failed++;
  else {
    to99.push(result.roundsTo99);
    to100.push(result.roundsTo100);
  }
}
const writes = trafficRates(writeBefore, trafficTotals(cluster), nodes, cluster.clock.now() - writeStart);

const report: SimulationReport = {
  nodes,
  loss,
  seed,
  fanout,
  pushFanout,
  joinRounds,
  propagation: {
    trials,
    p50To99: percentile(to99, 0.5),
    p99To99: percentile(to99, 0.99),
    p50To100: percentile(to100, 0.5),
    p99To100: percentile(to100, 0.99),
    maxTo100: Math.max(...to100),
    failed,
  },
  idle: { bytesPerNodePerSecond: idle.bytesPerNodePerSecond, messagesPerNodePerSecond: idle.messagesPerNodePerSecond },
  writes,
  wallSeconds: (performance.now() - started) / 1000,
};

if (values.json) console.log(JSON.stringify(report));
else {
  const p = report.propagation;
  console.log(`nodes=${nodes} loss=${loss} seed=${seed} fanout=${fanout} push=${pushFanout} interval=${interval}ms`);
  console.log(`join: every node knew all ${nodes} after ${joinRounds} rounds`);
  console.log(`propagation over ${trials} writes: to 99% p50 ${p.p50To99} p99 ${p.p99To99} rounds; to 100% p50 ${p.p50To100} p99 ${p.p99To100} max ${p.maxTo100} rounds; ${failed} never completed`);
  console.log(`idle: ${(report.idle.bytesPerNodePerSecond / 1024).toFixed(2)} KiB/s and ${report.idle.messagesPerNodePerSecond.toFixed(2)} messages/s sent per node`);
  console.log(`under writes: ${(writes.bytesPerNodePerSecond / 1024).toFixed(2)} KiB/s, ${writes.messagesPerNodePerSecond.toFixed(2)} messages/s per node, duplicate factor ${writes.duplicateFactor.toFixed(3)}`);
  console.log(`wall time ${report.wallSeconds.toFixed(1)} s`);
}
if (failed > 0) process.exit(1);
