// Failure-detection benchmark (T3 of the anchors): 100 simulated whole nodes (src/sim, seeded,
// virtual clock, 1 s gossip interval, 1–10 ms latency, default membership settings unless said).
//
//   bun scripts/bench/detector.ts                  full run (≈ 20 CPU-minutes, 2 jobs at a time)
//   bun scripts/bench/detector.ts --quick          short run, for checking the script works
//   bun scripts/bench/detector.ts --crashes 40 --minutes 60 --threshold-crashes 20 --jobs 2
//   bun scripts/bench/detector.ts --sweep          only the sweep the defaults were chosen by
//
// 1. Crash detection: crashes one node at a time (a different one each time, at a random phase
//    against the rounds) and times "dead on every live node" from the crash; after each the node
//    restarts with a new generation and the cluster settles for 30 s. At no loss and at 10% loss.
// 2. The hostile hour: 10% message loss and one node whose event loop stalls 2 s every 30 s,
//    nobody crashing, with the local-health guard on and off. Every "dead" record is false. Then
//    the same with 6 s stalls, longer than the pause allowance, where the guard has work to do.
// 3. Thresholds 4, 6, 8, 10 and 12: crash detection p99 against false deaths in the hostile hour.
// 4. --sweep, run on its own: acceptable pause, suspect timeout and monitors per node around the
//    defaults, each with 20 crashes and 30 minutes of the hostile profile. It replaces only its
//    subsection; the other runs keep the sweep subsection already in the document.
// Prints markdown and writes it to docs/BENCHMARKS.md under "## Failure detection" (replacing that
// section only). Each measurement is a job in a child process, so they run side by side.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { machineLine } from "./report.ts";
import { defaultMembershipSettings, type MembershipSettings } from "../../src/membership/membership.ts";
import { PhiAccrualDetector } from "../../src/membership/phi.ts";
import { type HostileOutcome, hostileProfile, measureCrash, runHostile, startMembershipCluster } from "../../src/sim/failure-detection.ts";
import { percentile } from "../../src/sim/measure.ts";
import { nodeName } from "../../src/sim/simulated-cluster.ts";
import { progressLine } from "../progress-line.ts";

const NODES = 100;
const THRESHOLDS = [4, 6, 8, 10, 12];
const SECTION = "## Failure detection";
const repoRoot = join(import.meta.dir, "..", "..");
const DOCS = join(repoRoot, "docs", "BENCHMARKS.md");

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    crashes: { type: "string" },
    "threshold-crashes": { type: "string" },
    minutes: { type: "string" },
    jobs: { type: "string" },
    job: { type: "string" },
    sweep: { type: "boolean", default: false },
  },
});

// ---- jobs (each runs in its own process) ----

/** Settings a sweep varies around the defaults. */
interface Variant {
  acceptablePauseMs?: number;
  suspectTimeoutMs?: number;
  monitorsPerNode?: number;
}

type Job =
  | { kind: "crashes"; threshold: number; lossRate: number; count: number; seed: number; variant?: Variant }
  | { kind: "hostile"; threshold: number; guard: boolean; minutes: number; stallMs: number; seed: number; variant?: Variant };

interface CrashFigures {
  /** Crash → dead on every live node, per crash (ms); -1 when some node had not within 30 s. */
  deadOnAll: number[];
  firstSuspect: number[];
  falseDead: number;
}

function settingsFor(threshold: number, guard = true, variant: Variant = {}): MembershipSettings {
  const { acceptablePauseMs = defaultMembershipSettings.phi.acceptablePauseMs, ...membership } = variant;
  return { ...defaultMembershipSettings, ...membership, phi: { ...defaultMembershipSettings.phi, threshold, acceptablePauseMs }, localHealthGuard: guard };
}

async function runCrashes(job: Extract<Job, { kind: "crashes" }>): Promise<CrashFigures> {
  const cluster = await startMembershipCluster({ nodes: NODES, seed: job.seed, membership: settingsFor(job.threshold, true, job.variant) });
  cluster.network.options.lossRate = job.lossRate;
  const figures: CrashFigures = { deadOnAll: [], firstSuspect: [], falseDead: 0 };
  for (let i = 0; i < job.count; i++) {
    cluster.runFor(Math.floor(cluster.random.next() * 1000));
    // Stepping by 37 (prime to 99) visits every node but node-0, the seed, before any repeats.
    const victim = nodeName(1 + ((i * 37) % (NODES - 1)));
    const trial = measureCrash(cluster, victim, 30_000);
    figures.deadOnAll.push(trial.deadOnAllMs);
    figures.firstSuspect.push(trial.firstSuspectMs);
    figures.falseDead += trial.falseDead;
    cluster.addNode(victim);
    await cluster.started();
    cluster.runFor(30_000);
  }
  return figures;
}

async function runHostileJob(job: Extract<Job, { kind: "hostile" }>): Promise<HostileOutcome> {
  const cluster = await startMembershipCluster({ nodes: NODES, seed: job.seed, membership: settingsFor(job.threshold, job.guard, job.variant) });
  return runHostile(cluster, { ...hostileProfile(nodeName(17), job.minutes), stallMs: job.stallMs });
}

if (args.job) {
  const job = JSON.parse(args.job) as Job;
  const result = job.kind === "crashes" ? await runCrashes(job) : await runHostileJob(job);
  console.log(JSON.stringify(result));
  process.exit(0);
}

// ---- main: schedule the jobs, then report ----

const quick = args.quick;
const CRASHES = Number(args.crashes ?? (quick ? 4 : 40));
const THRESHOLD_CRASHES = Number(args["threshold-crashes"] ?? (quick ? 3 : 20));
const MINUTES = Number(args.minutes ?? (quick ? 2 : 60));
/** The 6 s stall runs are a third as long: they only have to show what the guard does. */
const LONG_STALL_MINUTES = Math.max(1, Math.round(MINUTES / 3));
const LONG_STALL_MS = 6_000;
const SWEEP_CRASHES = quick ? 3 : 20;
const SWEEP_MINUTES = quick ? 2 : 30;
const SWEEP_HEADING = "### How the defaults were chosen";
/** Around the defaults (acceptable pause 2.5 s, suspect timeout 1 s, 3 monitors), one at a time. */
const SWEEP: Variant[] = [
  { acceptablePauseMs: 2000 },
  {},
  { acceptablePauseMs: 3000 },
  { suspectTimeoutMs: 0 },
  { suspectTimeoutMs: 500 },
  { monitorsPerNode: 1 },
  { monitorsPerNode: 5 },
];
const PARALLEL = Number(args.jobs ?? Math.max(1, cpus().length));
const LOAD_AT_START = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const startedAt = performance.now();

async function runJob<T>(job: Job): Promise<T> {
  const child = Bun.spawn([process.execPath, import.meta.path, "--job", JSON.stringify(job)], { stdout: "pipe", stderr: "inherit" });
  const output = await new Response(child.stdout).text();
  if ((await child.exited) !== 0) throw new Error(`job ${JSON.stringify(job)} failed`);
  return JSON.parse(output.trim().split("\n").at(-1)!) as T;
}

/** Runs the thunks at most `limit` at a time, keeping their order in the results. */
async function pooled<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

const defaultThreshold = defaultMembershipSettings.phi.threshold;
const crashJob = (threshold: number, lossRate: number, count: number): Job => ({ kind: "crashes", threshold, lossRate, count, seed: 1 });
const hostileJob = (threshold: number, guard: boolean, stallMs = 2_000): Job => ({
  kind: "hostile",
  threshold,
  guard,
  minutes: stallMs === 2_000 ? MINUTES : LONG_STALL_MINUTES,
  stallMs,
  seed: 2,
});

// The longest jobs first, so the pool does not end on one long job alone.
const mainJobs: Job[] = [
  ...THRESHOLDS.map((threshold) => hostileJob(threshold, true)),
  hostileJob(defaultThreshold, false),
  hostileJob(defaultThreshold, true, LONG_STALL_MS),
  hostileJob(defaultThreshold, false, LONG_STALL_MS),
  crashJob(defaultThreshold, 0, CRASHES),
  crashJob(defaultThreshold, 0.1, THRESHOLD_CRASHES),
  ...THRESHOLDS.filter((threshold) => threshold !== defaultThreshold).map((threshold) => crashJob(threshold, 0, THRESHOLD_CRASHES)),
];
const sweepJobs: Job[] = SWEEP.flatMap((variant): Job[] => [
  { kind: "hostile", threshold: defaultThreshold, guard: true, minutes: SWEEP_MINUTES, stallMs: 2_000, seed: 3, variant },
  { kind: "crashes", threshold: defaultThreshold, lossRate: 0, count: SWEEP_CRASHES, seed: 3, variant },
]);
const jobs = args.sweep ? sweepJobs : mainJobs;
console.log(`${jobs.length} jobs, ${PARALLEL} at a time (N = ${NODES})…`);
const progress = progressLine("bench:detector");
let jobsDone = 0;
progress.follow(() => `${jobsDone} of ${jobs.length} jobs done`);
const results = await pooled(
  jobs.map((job) => async () => {
    const result = await runJob<CrashFigures | HostileOutcome>(job);
    jobsDone++;
    return result;
  }),
  PARALLEL,
);
progress.clear();
const resultOf = (match: (job: Job) => boolean): CrashFigures | HostileOutcome => results[jobs.findIndex(match)]!;
const crashesAt = (threshold: number, lossRate: number) =>
  resultOf((job) => job.kind === "crashes" && job.threshold === threshold && job.lossRate === lossRate) as CrashFigures;
const hostileAt = (threshold: number, guard: boolean, stallMs = 2_000) =>
  resultOf((job) => job.kind === "hostile" && job.threshold === threshold && job.guard === guard && job.stallMs === stallMs) as HostileOutcome;
const sweepAt = (variant: Variant, kind: Job["kind"]) => resultOf((job) => job.kind === kind && job.variant === variant);

// ---- report ----

const seconds = (ms: number): string => (ms < 0 || !Number.isFinite(ms) ? "> 30 s" : `${(ms / 1000).toFixed(2)} s`);
/** A crash some node never convicted within 30 s counts as the slowest. */
const detected = (figures: CrashFigures): number[] => figures.deadOnAll.map((ms) => (ms < 0 ? Number.POSITIVE_INFINITY : ms));
const perHour = (count: number, minutes = MINUTES): string => (minutes === 60 ? String(count) : `${count} (${((count * 60) / minutes).toFixed(1)}/h)`);

function crashRow(label: string, figures: CrashFigures): string {
  const times = detected(figures);
  const missed = figures.deadOnAll.filter((ms) => ms < 0).length;
  return `| ${label} | ${times.length} | ${seconds(percentile(figures.firstSuspect, 0.5))} | ${seconds(percentile(times, 0.5))} | ${seconds(percentile(times, 0.99))} | ${seconds(Math.max(...times))} | ${missed} | ${figures.falseDead} |`;
}

function hostileRow(label: string, outcome: HostileOutcome, minutes = MINUTES): string {
  return `| ${label} | ${perHour(outcome.falseDead, minutes)} | ${perHour(outcome.falseSuspect, minutes)} | ${outcome.deadAboutStaller} / ${outcome.suspectAboutStaller} | ${outcome.deadByStaller} / ${outcome.suspectByStaller} |`;
}

function longStallRow(label: string, outcome: HostileOutcome): string {
  return `| ${label} | ${outcome.deadAboutStaller} | ${outcome.falseDead - outcome.deadAboutStaller} | ${outcome.deadByStaller} / ${outcome.suspectByStaller} |`;
}

const command = `bun run bench:detector${process.argv.slice(2).length > 0 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
const runLine = (): string =>
  `Command: \`${command}\` (that is, \`bun scripts/bench/detector.ts\`), ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ` +
  `${((performance.now() - startedAt) / 60_000).toFixed(0)} min of wall time.`;

function sweepSection(): string {
  const phiDefaults = defaultMembershipSettings.phi;
  const rows = SWEEP.map((variant) => {
    const crashes = sweepAt(variant, "crashes") as CrashFigures;
    const hostile = sweepAt(variant, "hostile") as HostileOutcome;
    const times = detected(crashes);
    const isDefault = Object.keys(variant).length === 0;
    return (
      `| ${variant.acceptablePauseMs ?? phiDefaults.acceptablePauseMs} ms | ${variant.suspectTimeoutMs ?? defaultMembershipSettings.suspectTimeoutMs} ms | ` +
      `${variant.monitorsPerNode ?? defaultMembershipSettings.monitorsPerNode}${isDefault ? " (defaults)" : ""} | ${seconds(percentile(times, 0.5))} | ${seconds(percentile(times, 0.99))} | ` +
      `${perHour(hostile.falseDead, SWEEP_MINUTES)} | ${perHour(hostile.falseSuspect, SWEEP_MINUTES)} | ${hostile.suspectAboutStaller} |`
    );
  });
  return [
    SWEEP_HEADING,
    "",
    runLine(),
    `Machine: ${machineLine()}; load average at the start ${LOAD_AT_START}.`,
    "",
    `One setting at a time around the defaults, each row ${SWEEP_CRASHES} crashes at no loss and ${SWEEP_MINUTES} simulated minutes ` +
      `of the hostile profile (10% loss, a node stalling 2 s every 30 s), threshold ${defaultThreshold}. "Staller suspected": suspect ` +
      "records about the stalling node, which the acceptable pause is there to prevent.",
    "",
    "| Acceptable pause | Suspect timeout | Monitors per node | Dead everywhere p50 | p99 | False dead | False suspicions | Staller suspected |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
  ].join("\n");
}

/** Silence after regular 1 s PONGs at which phi reaches the threshold (σ at its floor). */
function crossingAtFloor(): number {
  const detector = new PhiAccrualDetector(defaultMembershipSettings.phi, 0);
  for (let at = 1000; at <= 100_000; at += 1000) detector.heartbeat(at);
  return detector.crossingAt(defaultMembershipSettings.phi.threshold) - 100_000;
}

function mainSection(): string {
  const main = crashesAt(defaultThreshold, 0);
  const longGuarded = hostileAt(defaultThreshold, true, LONG_STALL_MS);
  const longUnguarded = hostileAt(defaultThreshold, false, LONG_STALL_MS);
  const mainP99 = percentile(detected(main), 0.99);
  const guarded = hostileAt(defaultThreshold, true);
  const unguarded = hostileAt(defaultThreshold, false);
  const phi = defaultMembershipSettings.phi;

  return [
    SECTION,
    "",
    runLine(),
    `Machine: ${machineLine()}; load average at the start ${LOAD_AT_START}. The figures are simulated time, so the load does not change them.`,
    "",
    `What it measures: ${NODES} whole nodes (membership, probes, local-health guard), each the \`GossipNode\` that \`createNode()\` builds, in the simulator (\`src/sim\`): seeded, ` +
      "virtual clock, 1 s gossip interval, fanout 1, 1–10 ms latency. Defaults: phi threshold " +
      `${phi.threshold}, acceptable pause ${phi.acceptablePauseMs} ms, min σ ${phi.minStdDeviationMs} ms, ` +
      `${defaultMembershipSettings.monitorsPerNode} direct monitors per node, ${defaultMembershipSettings.probeFanout} indirect probes, ` +
      `probe timeout ${defaultMembershipSettings.probeTimeoutMs} ms, suspect timeout ${defaultMembershipSettings.suspectTimeoutMs} ms. ` +
      "A crash is timed from the crash until the last live node recorded it dead (from the nodes' own event times); " +
      "each crash hits a different node at a random phase against the rounds, which then restarts with a new generation " +
      "and the cluster settles for 30 s.",
    "",
    "### Crash detection",
    "",
    "| Run | Crashes | First suspicion p50 | Dead everywhere p50 | p99 | max | Missed (> 30 s) | False dead |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    crashRow("no loss", main),
    crashRow("10% loss", crashesAt(defaultThreshold, 0.1)),
    "",
    `With fewer than 100 crashes, p99 by nearest rank is the slowest crash (the same as max).`,
    "",
    `### The hostile hour (${MINUTES} simulated minutes)`,
    "",
    `10% message loss on every message, \`${nodeName(17)}\` stalling its event loop 2 s every 30 s, nobody crashing: every dead ` +
      "record is false. Counted over all nodes' records.",
    "",
    "| Local-health guard | False dead | False suspicions | About the staller (dead / suspect) | By the staller (dead / suspect) |",
    "|---|---:|---:|---:|---:|",
    hostileRow("on (default)", guarded),
    hostileRow("off", unguarded),
    "",
    `The same profile with ${LONG_STALL_MS / 1000} s stalls (${LONG_STALL_MINUTES} simulated minutes), longer than the pause allowance: ` +
      "the staller is rightly convicted by others now and then, and without the guard it would see every peer silent " +
      "for 6 s after each stall.",
    "",
    "| Local-health guard | Dead records about the staller (correct) | False dead about others | By the staller (dead / suspect) |",
    "|---|---:|---:|---:|",
    longStallRow("on (default)", hostileAt(defaultThreshold, true, LONG_STALL_MS)),
    longStallRow("off", hostileAt(defaultThreshold, false, LONG_STALL_MS)),
    "",
    "### Thresholds",
    "",
    `Crash detection at no loss (${THRESHOLD_CRASHES} crashes; ${CRASHES} for the default) against false deaths in the hostile run above.`,
    "",
    "| Phi threshold | Dead everywhere p99 | False dead | False suspicions |",
    "|---:|---:|---:|---:|",
    ...THRESHOLDS.map((threshold) => {
      const crashes = crashesAt(threshold, 0);
      const hostile = hostileAt(threshold, true);
      return `| ${threshold}${threshold === defaultThreshold ? " (default)" : ""} | ${seconds(percentile(detected(crashes), 0.99))} | ${perHour(hostile.falseDead)} | ${perHour(hostile.falseSuspect)} |`;
    }),
    "",
    `**Against the bars:** a crash is dead on all live nodes within ${seconds(mainP99)} at p99 ` +
      `(bar 6 s; Akka ≈ 5.5 s, chitchat < 10 s, memberlist ≈ 9–13 s, Cassandra ≈ 18 s); the hostile hour gave ` +
      `${guarded.falseDead} false dead verdicts with the guard on and ${unguarded.falseDead} with it off ` +
      `(false suspicions ${guarded.falseSuspect} and ${unguarded.falseSuspect}; by the staller ${guarded.suspectByStaller} and ${unguarded.suspectByStaller}).`,
    "",
    "Reading the tables:",
    "",
    "- Where the time goes: each node sends a heartbeat every round to the 3 ring neighbours that monitor it (a monitor pings only when one is missing), so a crash is suspected by its monitors " +
      `≈ ${seconds(crossingAtFloor())} after its last heartbeat (never later than the crash), confirmed by a second failed probe ` +
      `round ${defaultMembershipSettings.suspectTimeoutMs} ms later, and announced to every node, which checks for itself with ` +
      "one probe round (milliseconds for a crashed process, whose connections are refused) and convicts.",
    `- With 2 s stalls the guard has nothing to prevent: such a stall leaves at most 3 s of silence, less than the ` +
      "acceptable pause lets through, so neither the staller nor its peers come near a verdict, and the rare suspicion that " +
      "loss causes is answered by a probe round. With 6 s stalls it does its work: without it the staller suspected others " +
      `${longUnguarded.suspectByStaller} times, with it ${longGuarded.suspectByStaller}; each time the probe rounds stopped the ` +
      "suspicion before a verdict, so false deaths stay at 0 both ways. T3's \"≥ 50× fewer false positives than without the " +
      "guard\" can therefore only be read on suspicions here.",
    `- Not met from T3: \"first suspected within 2 s (p50)\" (${seconds(percentile(main.firstSuspect, 0.5))}). A 2 s stall leaves ` +
      "3 s without a PONG, so suspecting sooner would suspect the staller at every stall.",
    "- At 10% loss a ping or its PONG is lost every fifth round, the monitors' windows learn the wider spread and wait longer " +
      "before suspecting; that, not the verdict's spread, is the slower detection.",
    "- The threshold matters little at no loss: the acceptable pause, not the spread, dominates the silence phi tolerates; it " +
      "trades false suspicions (probe rounds) against a few hundred milliseconds.",
    "",
  ].join("\n");
}

// ---- docs/BENCHMARKS.md ----

// The document's "## Failure detection" section holds the main tables, then the sweep
// subsection; each kind of run replaces its own part and keeps the other.
const current = existsSync(DOCS) ? readFileSync(DOCS, "utf8") : "# Benchmarks\n";
const sectionStart = current.indexOf(`\n${SECTION}\n`);
const sectionEnd = sectionStart < 0 ? -1 : current.indexOf("\n## ", sectionStart + 1);
const oldSection = sectionStart < 0 ? "" : current.slice(sectionStart + 1, sectionEnd < 0 ? undefined : sectionEnd + 1);
const sweepStart = oldSection.indexOf(`\n${SWEEP_HEADING}\n`);
const oldMain = sweepStart < 0 ? oldSection : oldSection.slice(0, sweepStart + 1);
const oldSweep = sweepStart < 0 ? "" : oldSection.slice(sweepStart + 1);

const newPart = args.sweep ? sweepSection() : mainSection();
console.log(`\n${newPart}`);
const mainPart = args.sweep ? oldMain.trimEnd() || SECTION : newPart.trimEnd();
const sweepPart = (args.sweep ? newPart : oldSweep).trimEnd();
const section = sweepPart ? `${mainPart}\n\n${sweepPart}\n` : `${mainPart}\n`;
const next =
  sectionStart < 0
    ? `${current.trimEnd()}\n\n${section}`
    : `${current.slice(0, sectionStart + 1)}${section}${sectionEnd < 0 ? "" : `\n${current.slice(sectionEnd + 1)}`}`;
writeFileSync(DOCS, next);
console.log(`written to ${DOCS}`);
