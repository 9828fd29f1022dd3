// The deterministic cluster simulator: N GossipNodes (the class createNode builds), without
// membership, over the in-memory network with a virtual clock. Prints, per scenario, rounds until a write reaches 99% and 100% of nodes (p50/p99 over
// trials), traffic per node per second at idle and under writes, and the duplicate factor.
//   bun run simulate -- --nodes 1000 --loss 0.1 --seed 7 --trials 20 --fanout 1 --push 0
//   bun run simulate -- --nodes 10000 --converged --per-round 8 --trials 24 --idle-rounds 2
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { SimulatedCluster } from "../src/sim/simulated-cluster.ts";
import { measureConcurrentPropagation, measurePropagation, percentile, type PropagationTrial, trafficRates, trafficTotals } from "../src/sim/measure.ts";
import { progressLine } from "./progress-line.ts";

const usage = `usage: bun run simulate -- [options]
  --nodes N          cluster size (default 100)
  --loss P           message loss rate 0..0.9 (default 0)
  --seed S           random seed (default 7)
  --trials T         writes measured (default 20)
  --fanout F         peers per round (default 1)
  --push K           push fanout for fresh writes, 0 = off (default 0)
  --interval MS      gossip interval (default 1000)
  --budget BYTES     gossip message budget (default 1048576)
  --flow-control on|off  flow control, as in production (default on)
  --converged        start with every node knowing every other (shared copy-on-write)
                     instead of joining from one seed
  --per-round K      start K writes per interval, on distinct nodes, instead of one at a time
  --idle-rounds R    intervals of idle traffic measured before the writes (default 10)
  --max-rss-gib G    collect garbage when past 3/4 G GiB resident, stop with exit code 3
                     past G GiB (default 16)
  --progress         print each interval's wall time and memory to stderr (on a terminal, a
                     live progress line is shown anyway, and erased before the report)
  --json             print the report as JSON`;

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        nodes: { type: "string", default: "100" },
        loss: { type: "string", default: "0" },
        seed: { type: "string", default: "7" },
        trials: { type: "string", default: "20" },
        fanout: { type: "string", default: "1" },
        push: { type: "string", default: "0" },
        interval: { type: "string", default: "1000" },
        budget: { type: "string", default: "1048576" },
        "flow-control": { type: "string", default: "on" },
        converged: { type: "boolean", default: false },
        "per-round": { type: "string", default: "0" },
        "idle-rounds": { type: "string", default: "10" },
        "max-rss-gib": { type: "string", default: "16" },
        progress: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
})();
if (values.help) {
  console.log(usage);
  process.exit(0);
}

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
const perRound = numberFlag("per-round", 0, nodes);
const idleRounds = numberFlag("idle-rounds", 1, 1000);
const maxRssBytes = numberFlag("max-rss-gib", 0.1, 1024) * 2 ** 30;
if (values["flow-control"] !== "on" && values["flow-control"] !== "off") {
  console.error(`--flow-control must be on or off, got ${values["flow-control"]}`);
  process.exit(2);
}
const flowControl = values["flow-control"] === "on";
if (perRound > 0 && trials > nodes) {
  console.error(`--trials ${trials} with --per-round needs as many nodes (each write has its own origin), got --nodes ${nodes}`);
  process.exit(2);
}

export interface SimulationReport {
  nodes: number;
  loss: number;
  seed: number;
  fanout: number;
  pushFanout: number;
  flowControl: boolean;
  converged: boolean;
  /** Intervals until every node knew every other; 0 with a converged start. */
  joinRounds: number;
  propagation: { trials: number; perRound: number; p50To99: number; p99To99: number; p50To100: number; p99To100: number; maxTo100: number; failed: number };
  idle: { bytesPerNodePerSecond: number; messagesPerNodePerSecond: number };
  writes: { bytesPerNodePerSecond: number; messagesPerNodePerSecond: number; duplicateFactor: number; budgetOverflows: number };
  intervalsRun: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  loadAverage: string;
}

const loadAverage = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const started = performance.now();
const cluster = new SimulatedCluster({
  nodes,
  seed,
  network: { lossRate: loss, minLatencyMs: 1, maxLatencyMs: 10 },
  gossip: { fanout, pushFanout, gossipIntervalMs: interval, maxGossipBytes: budget, flowControl },
  converged: values.converged,
});
cluster.recordChanges = false;
await cluster.started();

// On a terminal, a live line says which phase runs and how far it got (see progress-line.ts).
const progress = progressLine("simulate");
let phase = "joining";

// The memory guard, ten times an interval: past 3/4 of the limit a full collection runs first (at
// 10,000 nodes the garbage of 150 KB digests by the thousand and the allocator's unreturned pages
// are most of the resident memory, not live state); past the limit the run stops. Progress, when
// asked, once an interval.
const GUARD_CHECKS_PER_INTERVAL = 10;
let checks = 0;
let lastTick = performance.now();
const guard = (): void => {
  checks++;
  if (process.memoryUsage.rss() > maxRssBytes * 0.75) Bun.gc(true);
  const rss = process.memoryUsage.rss();
  if (rss > maxRssBytes) {
    console.error(`resident memory ${(rss / 2 ** 30).toFixed(2)} GiB passed --max-rss-gib ${values["max-rss-gib"]}: stopping`);
    process.exit(3);
  }
  if (checks % GUARD_CHECKS_PER_INTERVAL === 0) progress.update(`${phase}, interval ${checks / GUARD_CHECKS_PER_INTERVAL}, rss ${(rss / 2 ** 20).toFixed(0)} MiB`);
  if (values.progress && checks % GUARD_CHECKS_PER_INTERVAL === 0) {
    progress.clear();
    const now = performance.now();
    console.error(`interval ${checks / GUARD_CHECKS_PER_INTERVAL}: ${((now - lastTick) / 1000).toFixed(1)} s, rss ${(rss / 2 ** 30).toFixed(2)} GiB`);
    lastTick = now;
  }
  cluster.clock.setTimer(interval / GUARD_CHECKS_PER_INTERVAL, guard);
};
cluster.clock.setTimer(interval / GUARD_CHECKS_PER_INTERVAL, guard);

const joinRounds = values.converged ? 0 : cluster.runUntil(() => cluster.nodes.every((node) => node.state.nodes.size === nodes), 200);

// Idle traffic: heartbeats and digests only.
phase = "idle traffic";
const idleWindowMs = idleRounds * interval;
const idleBefore = trafficTotals(cluster);
cluster.runFor(idleWindowMs);
const idle = trafficRates(idleBefore, trafficTotals(cluster), nodes, idleWindowMs);

// Propagation trials; traffic over the trials is "under writes".
const maxRounds = 20 + 4 * Math.ceil(Math.log2(nodes));
const writeBefore = trafficTotals(cluster);
const overflowsBefore = budgetOverflows();
const writeStart = cluster.clock.now();
let results: PropagationTrial[];
phase = perRound > 0 ? `${trials} writes, ${perRound} per interval` : "writes";
if (perRound > 0) results = measureConcurrentPropagation(cluster, { trials, perRound, maxRounds });
else {
  results = Array.from({ length: trials }, (_, trial) => {
    phase = `write ${trial + 1} of ${trials}`;
    return measurePropagation(cluster, trial, maxRounds);
  });
}
progress.clear();
const writes = trafficRates(writeBefore, trafficTotals(cluster), nodes, cluster.clock.now() - writeStart);
const completed = results.filter((result) => result.roundsTo100 >= 0);
const to99 = completed.map((result) => result.roundsTo99);
const to100 = completed.map((result) => result.roundsTo100);
const failed = results.length - completed.length;

function budgetOverflows(): number {
  let total = 0;
  for (const { node } of cluster.nodes) total += node.stats().gossip.budgetOverflows;
  return total;
}

const cpu = process.cpuUsage();
const report: SimulationReport = {
  nodes,
  loss,
  seed,
  fanout,
  pushFanout,
  flowControl,
  converged: values.converged,
  joinRounds,
  propagation: {
    trials,
    perRound,
    p50To99: percentile(to99, 0.5),
    p99To99: percentile(to99, 0.99),
    p50To100: percentile(to100, 0.5),
    p99To100: percentile(to100, 0.99),
    maxTo100: Math.max(...to100),
    failed,
  },
  idle: { bytesPerNodePerSecond: idle.bytesPerNodePerSecond, messagesPerNodePerSecond: idle.messagesPerNodePerSecond },
  writes: { ...writes, budgetOverflows: budgetOverflows() - overflowsBefore },
  intervalsRun: Math.round(cluster.clock.now() / interval),
  wallSeconds: (performance.now() - started) / 1000,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  peakRssMiB: process.resourceUsage().maxRSS / 1024,
  loadAverage,
};

if (values.json) console.log(JSON.stringify(report));
else {
  const p = report.propagation;
  const how = perRound > 0 ? `${perRound} started per interval` : "one at a time";
  console.log(`nodes=${nodes} loss=${loss} seed=${seed} fanout=${fanout} push=${pushFanout} interval=${interval}ms flow control ${flowControl ? "on" : "off"}`);
  console.log(values.converged ? `start: converged (every node knows all ${nodes})` : `join: every node knew all ${nodes} after ${joinRounds} rounds`);
  console.log(`propagation over ${trials} writes (${how}): to 99% p50 ${p.p50To99} p99 ${p.p99To99} rounds; to 100% p50 ${p.p50To100} p99 ${p.p99To100} max ${p.maxTo100} rounds; ${failed} never completed`);
  console.log(`idle: ${(report.idle.bytesPerNodePerSecond / 1024).toFixed(2)} KiB/s and ${report.idle.messagesPerNodePerSecond.toFixed(2)} messages/s sent per node`);
  console.log(`under writes: ${(writes.bytesPerNodePerSecond / 1024).toFixed(2)} KiB/s, ${writes.messagesPerNodePerSecond.toFixed(2)} messages/s per node, duplicate factor ${writes.duplicateFactor.toFixed(3)}, budget overflows ${report.writes.budgetOverflows}`);
  console.log(`${report.intervalsRun} intervals in ${report.wallSeconds.toFixed(1)} s wall, ${report.cpuSeconds.toFixed(1)} s CPU; peak RSS ${report.peakRssMiB.toFixed(0)} MiB; load average at start ${loadAverage}`);
}
if (failed > 0) process.exit(1);
