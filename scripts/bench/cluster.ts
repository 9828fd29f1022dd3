// Cluster-of-processes benchmark: N nodes (default 20) started from the compiled binary on
// 127.0.0.1 at a 200 ms gossip interval, over plain TCP, with keyring encryption (--encrypt-key-file)
// and over mutual TLS, side by side in one run, plus a fourth plain-TCP run with pushing of fresh writes turned off
// (GOFERBROKE_PUSH_FANOUT=0), which shows what the gossip rounds alone deliver. It measures
//   - propagation: 50 writes, each made on one node through PUT /v1/keys; the time until every
//     other node raised its entry-added event, timestamped on arrival from each node's
//     /v1/events stream (no polling). Bar: p99 within (ceil(log2 N) + 2) gossip intervals.
//   - idle cost per node: CPU over a 20 s window with no writes (utime + stime from
//     /proc/<pid>/stat, as % of one core) and resident memory (VmRSS from /proc/<pid>/status).
// prints a markdown table with the encrypt/plain and mTLS/plain ratio of each figure (bar: encrypt
// idle CPU at most 1.3× plain), and writes it into
// docs/BENCHMARKS.md under "## Cluster of processes" (replacing that section only).
//
//   bun scripts/bench/cluster.ts                      20 nodes, 50 writes, 20 s idle window
//   bun scripts/bench/cluster.ts --nodes 10 --writes 20 --idle-seconds 5 --no-docs   a quick check
//   bun scripts/bench/cluster.ts --build              rebuild dist/goferbroke first
//   bun scripts/bench/cluster.ts --no-rounds-only     skip the push-off run
//   bun scripts/bench/cluster.ts --binary PATH        run another executable (e.g. an older build, to compare)
//
// The binary is dist/goferbroke; it is built (`bun run build -- --host-only`) when missing.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { machineLine, writeBenchmarkSection } from "./report.ts";
import { progressLine } from "../progress-line.ts";
import { CertificateAuthorities, SKIP_REASON, opensslPath, tlsFlags } from "../../test/support/certificates.ts";
import { killAll, openEventStream, putKey, repoRoot, startCluster, type NodeProcess } from "../../test/support/node-processes.ts";

const { values: args } = parseArgs({
  options: {
    nodes: { type: "string", default: "20" },
    writes: { type: "string", default: "50" },
    "idle-seconds": { type: "string", default: "20" },
    interval: { type: "string", default: "200" },
    build: { type: "boolean", default: false },
    binary: { type: "string" },
    "no-rounds-only": { type: "boolean", default: false },
    "no-docs": { type: "boolean", default: false },
  },
  strict: true,
});

const NODES = positiveInteger("nodes", args.nodes);
const WRITES = positiveInteger("writes", args.writes);
const IDLE_MS = positiveInteger("idle-seconds", args["idle-seconds"]) * 1000;
const INTERVAL_MS = positiveInteger("interval", args.interval);
const BAR_INTERVALS = Math.ceil(Math.log2(NODES)) + 2;
/** A write not seen everywhere within this long is counted as missing (and fails the bar). */
const WRITE_TIMEOUT_MS = Math.max(10_000, 10 * BAR_INTERVALS * INTERVAL_MS);
/** Quiet time after start-up (joins, first full-state exchanges) before anything is measured. */
const SETTLE_MS = 3_000;
/**
 * Every node runs as the README recommends deploying one: Bun's allocator keeps the memory it
 * freed instead of returning it to the OS ~13 times a second (and faulting it in again), which
 * halves an idle node's CPU for a few MiB of RSS (docs/BENCHMARKS.md, "Versus Serf").
 */
const NODE_ENV = { MIMALLOC_PURGE_DELAY: "-1" };
const BINARY = args.binary ?? join(repoRoot, "dist", "goferbroke");
if (args.binary !== undefined && (args.build || !existsSync(args.binary))) {
  throw new Error(args.build ? "--binary and --build exclude each other" : `--binary: no file ${args.binary}`);
}
const DOCS = join(repoRoot, "docs", "BENCHMARKS.md");
const SECTION = "## Cluster of processes";
const PLAIN = "plain TCP";
const ENCRYPT = "encrypt";
const MTLS = "mTLS";
/** Secured runs shown beside plain TCP with their ratio to it. */
const COMPARED = [ENCRYPT, MTLS];
/** Encryption may cost an idle node at most this much more CPU than plain TCP (issue #21). */
const ENCRYPT_CPU_BAR = 1.3;
const ROUNDS_ONLY = "plain TCP, push off (rounds only)";

function positiveInteger(name: string, raw: string | undefined): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got ${raw}`);
  return value;
}

// ---- the binary ----

async function ensureBinary(): Promise<void> {
  if (existsSync(BINARY) && !args.build) return;
  console.log(`building ${BINARY} (bun run build -- --host-only)`);
  const child = Bun.spawn([process.execPath, join(repoRoot, "scripts", "build.ts"), "--host-only"], { stdout: "inherit", stderr: "inherit" });
  if ((await child.exited) !== 0) throw new Error("building the binary failed");
}

// ---- /proc sampling ----

/** Clock ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
function clockTicksPerSecond(): number {
  const result = Bun.spawnSync(["getconf", "CLK_TCK"], { stderr: "ignore" });
  const ticks = Number(result.stdout.toString().trim());
  return result.exitCode === 0 && ticks > 0 ? ticks : 100;
}

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime and stime are fields 14 and 15
}

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

interface IdleFigures {
  cpuPercent: number[];
  rssBytes: number[];
}

/** CPU of each node over an idle window (% of one core), and its RSS at the end of it. */
async function measureIdle(nodes: readonly NodeProcess[]): Promise<IdleFigures> {
  const ticksPerSecond = clockTicksPerSecond();
  const before = nodes.map((node) => cpuTicks(node.process.pid));
  const started = performance.now();
  await Bun.sleep(IDLE_MS);
  const seconds = (performance.now() - started) / 1000;
  const after = nodes.map((node) => cpuTicks(node.process.pid));
  return {
    cpuPercent: after.map((ticks, i) => ((ticks - before[i]!) / ticksPerSecond / seconds) * 100),
    rssBytes: nodes.map((node) => rssBytes(node.process.pid)),
  };
}

// ---- propagation ----

interface PropagationFigures {
  /** Per write: time from the PUT until the last other node raised entry-added. */
  visibleAllMs: number[];
  /** Writes some node never reported within WRITE_TIMEOUT_MS. */
  missing: number;
}

/**
 * Makes WRITES writes, rotating over the nodes, one at a time: each waits until it is visible
 * everywhere (or times out), then a random pause below one interval, so writes land at every phase
 * of the gossip rounds rather than in step with them.
 */
async function measurePropagation(nodes: readonly NodeProcess[], onWrite: (written: number) => void): Promise<PropagationFigures> {
  /** "writer/key" → arrival time per node that raised entry-added for it. */
  const arrivals = new Map<string, Map<string, number>>();
  let onArrival: () => void = () => {};
  const streams = nodes.map((node) =>
    openEventStream(node, (event, at) => {
      if (event.type !== "entry-added" || event.group !== "bench") return;
      const id = `${String(event.node)}/${String(event.key)}`;
      const seen = arrivals.get(id) ?? new Map<string, number>();
      if (!seen.has(node.name)) seen.set(node.name, at);
      arrivals.set(id, seen);
      onArrival();
    }),
  );
  try {
    await Promise.all(streams.map((stream) => stream.ready));
    const visibleAllMs: number[] = [];
    let missing = 0;
    for (let w = 0; w < WRITES; w++) {
      const writer = nodes[w % nodes.length]!;
      const key = `w${w}`;
      const id = `${writer.name}/${key}`;
      const others = nodes.filter((node) => node !== writer);
      const everywhere = () => others.every((node) => arrivals.get(id)?.has(node.name));
      const done = new Promise<void>((resolve) => (onArrival = () => everywhere() && resolve()));
      onWrite(w + 1);
      const writtenAt = performance.now();
      await putKey(writer, "bench", key, `value ${w} from ${writer.name}`);
      const inTime = await Promise.race([done.then(() => true), Bun.sleep(WRITE_TIMEOUT_MS).then(() => everywhere())]);
      if (!inTime) {
        missing++;
        const lacking = others.filter((node) => !arrivals.get(id)?.has(node.name)).map((node) => node.name);
        progress.clear();
        console.warn(`write ${id} not seen by ${lacking.join(", ")} within ${WRITE_TIMEOUT_MS} ms`);
      } else {
        const seen = arrivals.get(id)!;
        visibleAllMs.push(Math.max(...others.map((node) => seen.get(node.name)!)) - writtenAt);
      }
      await Bun.sleep(Math.random() * INTERVAL_MS);
    }
    return { visibleAllMs, missing };
  } finally {
    for (const stream of streams) stream.close();
  }
}

// ---- one configuration ----

interface RunFigures {
  label: string;
  propagation: PropagationFigures;
  idle: IdleFigures;
  startMs: number;
}

// On a terminal, a live line follows the current step (progress-line.ts); log lines clear it first.
const progress = progressLine("bench:cluster");
let step = "";
const log = (line: string) => {
  progress.clear();
  console.log(line);
  progress.follow(() => step);
};

async function runCluster(label: string, flags: (name: string) => string[], env: Record<string, string> = {}): Promise<RunFigures> {
  const names = Array.from({ length: NODES }, (_, i) => `node-${String(i + 1).padStart(2, "0")}`);
  step = `${label}: starting ${NODES} nodes`;
  log(`\n${label}: starting ${NODES} nodes from ${BINARY} at a ${INTERVAL_MS} ms interval`);
  const started = performance.now();
  try {
    // Inside the try: a start that fails half-way (a port taken meanwhile) leaves no node behind.
    const nodes = await startCluster({ names, gossipIntervalMs: INTERVAL_MS, flags, env: { ...NODE_ENV, ...env }, command: [BINARY], timeoutMs: 60_000 });
    const startMs = performance.now() - started;
    step = `${label}: settling`;
    log(`${label}: all ${NODES} nodes see each other alive after ${Math.round(startMs)} ms; settling ${SETTLE_MS} ms`);
    await Bun.sleep(SETTLE_MS);
    step = `${label}: idle window`;
    log(`${label}: idle window of ${IDLE_MS / 1000} s`);
    const idle = await measureIdle(nodes);
    step = `${label}: writes`;
    log(`${label}: ${WRITES} writes`);
    const propagation = await measurePropagation(nodes, (done) => (step = `${label}: write ${done} of ${WRITES}`));
    return { label, propagation, idle, startMs };
  } finally {
    progress.clear();
    await killAll();
  }
}

// ---- figures ----

/** Nearest-rank percentile. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const mean = (list: readonly number[]) => list.reduce((sum, x) => sum + x, 0) / list.length;

interface Row {
  figure: string;
  /** Per configuration: the value and its text. */
  cells: { value: number; text: string }[];
}

function rows(runs: readonly RunFigures[]): Row[] {
  const ms = (value: number) => ({ value, text: `${Math.round(value)} ms (${(value / INTERVAL_MS).toFixed(1)} intervals)` });
  const latency = (p: number | "max") => (run: RunFigures) => {
    const sorted = [...run.propagation.visibleAllMs].sort((a, b) => a - b);
    return ms(p === "max" ? (sorted.at(-1) ?? Number.NaN) : percentile(sorted, p));
  };
  const cpu = (value: number) => ({ value, text: `${value.toFixed(2)} %` });
  const mib = (value: number) => ({ value, text: `${(value / 1024 / 1024).toFixed(1)} MiB` });
  const table: [string, (run: RunFigures) => { value: number; text: string }][] = [
    ["write visible on all other nodes, p50", latency(50)],
    ["write visible on all other nodes, p99", latency(99)],
    ["write visible on all other nodes, max", latency("max")],
    ["writes not seen everywhere in time", (run) => ({ value: run.propagation.missing, text: String(run.propagation.missing) })],
    ["idle CPU per node, mean (% of one core)", (run) => cpu(mean(run.idle.cpuPercent))],
    ["idle CPU per node, max (% of one core)", (run) => cpu(Math.max(...run.idle.cpuPercent))],
    ["idle RSS per node, mean", (run) => mib(mean(run.idle.rssBytes))],
    ["idle RSS per node, max", (run) => mib(Math.max(...run.idle.rssBytes))],
    ["start-up until all see all alive", (run) => ({ value: run.startMs, text: `${Math.round(run.startMs)} ms` })],
  ];
  return table.map(([figure, cell]) => ({ figure, cells: runs.map(cell) }));
}

function ratio(plain: { value: number } | undefined, tls: { value: number } | undefined): string {
  if (!plain || !tls || !(plain.value > 0) || !Number.isFinite(tls.value)) return "–";
  return `${(tls.value / plain.value).toFixed(2)}×`;
}

/** Columns: each run in order, a secured run (encrypt, mTLS) followed by its ratio to plain TCP. */
function markdownTable(runs: readonly RunFigures[]): string {
  const plainAt = runs.findIndex((run) => run.label === PLAIN);
  const withRatio = (run: RunFigures) => plainAt >= 0 && COMPARED.includes(run.label);
  const labels = runs.flatMap((run) => (withRatio(run) ? [run.label, `${run.label} / plain`] : [run.label]));
  const header = `| figure | ${labels.join(" | ")} |`;
  const rule = `| --- |${labels.map(() => " ---: |").join("")}`;
  const body = rows(runs).map((row) => {
    const cells = runs.flatMap((run, at) => (withRatio(run) ? [row.cells[at]!.text, ratio(row.cells[plainAt], row.cells[at])] : [row.cells[at]!.text]));
    return `| ${row.figure} | ${cells.join(" | ")} |`;
  });
  return [header, rule, ...body].join("\n");
}

/** The bar of issue #21: an encrypted idle node costs at most ENCRYPT_CPU_BAR× the CPU of a plain one. */
function encryptCpuLine(runs: readonly RunFigures[]): string[] {
  const plain = runs.find((run) => run.label === PLAIN);
  const encrypt = runs.find((run) => run.label === ENCRYPT);
  if (!plain || !encrypt) return [];
  const times = mean(encrypt.idle.cpuPercent) / mean(plain.idle.cpuPercent);
  return [`- encrypt: idle CPU per node (mean) ${times.toFixed(2)}× plain TCP against the bar of ${ENCRYPT_CPU_BAR}×: ${times <= ENCRYPT_CPU_BAR ? "met" : "**missed**"}.`];
}

function barLines(runs: readonly RunFigures[]): string[] {
  const barMs = BAR_INTERVALS * INTERVAL_MS;
  return runs.map((run) => {
    const sorted = [...run.propagation.visibleAllMs].sort((a, b) => a - b);
    const p99 = percentile(sorted, 99);
    const met = run.propagation.missing === 0 && p99 <= barMs;
    return `- ${run.label}: p99 ${Math.round(p99)} ms against the bar of ceil(log2 ${NODES}) + 2 = ${BAR_INTERVALS} intervals (${barMs} ms): ${met ? "met" : "**missed**"}.`;
  });
}

/** The 1, 5 and 15 minute load averages when the run began: other work shares the CPUs. */
const LOAD_AT_START = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

function section(runs: readonly RunFigures[]): string {
  const command = `bun scripts/bench/cluster.ts${process.argv.slice(2).length > 0 ? ` ${process.argv.slice(2).join(" ")}` : ""}`;
  return [
    SECTION,
    "",
    `Command: \`${command}\` (\`npm run bench:cluster\`), ${new Date().toISOString().slice(0, 10)}.`,
    `Machine: ${machineLine()}; load average at the start ${LOAD_AT_START}.`,
    "",
    `${NODES} processes of \`${args.binary ?? "dist/goferbroke"}\` on 127.0.0.1, gossip interval ${INTERVAL_MS} ms, fanout 1. ` +
      `${WRITES} writes, one at a time, rotating over the nodes; each is timed from its PUT /v1/keys until ` +
      `the last of the ${NODES - 1} other nodes raised entry-added, as read from every node's /v1/events ` +
      `stream. Idle figures: a ${IDLE_MS / 1000} s window with no writes, after a ${SETTLE_MS / 1000} s settle; CPU is ` +
      `utime + stime from /proc/<pid>/stat as % of one core, RSS is VmRSS at the end of the window. ` +
      `Fresh writes are pushed at once to 2 peers and forwarded once by each node that applies them ` +
      `(pushFanout 2); the "push off" run sets GOFERBROKE_PUSH_FANOUT=0, so only the gossip rounds carry writes. ` +
      `The encrypt run gives every node the same one-key file (--encrypt-key-file): every frame after the handshake is AES-256-GCM sealed. ` +
      `Every node runs with ${Object.entries(NODE_ENV).map(([name, value]) => `\`${name}=${value}\``).join(" ")}, as the README recommends.`,
    "",
    markdownTable(runs),
    "",
    ...(WRITES < 100 ? [`With ${WRITES} writes, p99 by nearest rank is the slowest write (the same as max).`, ""] : []),
    ...barLines(runs),
    ...encryptCpuLine(runs),
    "",
  ].join("\n");
}

// ---- main ----

// Ctrl-C must not leave twenty nodes behind.
process.on("SIGINT", () => void killAll().then(() => process.exit(130)));
process.on("SIGTERM", () => void killAll().then(() => process.exit(143)));

await ensureBinary();
const runs: RunFigures[] = [];
runs.push(await runCluster(PLAIN, () => []));
const keyDir = mkdtempSync(join(tmpdir(), "goferbroke-bench-keys-"));
try {
  const keyFile = join(keyDir, "cluster.keys");
  writeFileSync(keyFile, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
  runs.push(await runCluster(ENCRYPT, () => [`--encrypt-key-file=${keyFile}`]));
} finally {
  rmSync(keyDir, { recursive: true, force: true });
}
if (opensslPath) {
  const certificates = new CertificateAuthorities(opensslPath);
  try {
    runs.push(await runCluster(MTLS, (name) => tlsFlags(certificates.nodeCertificate(name, "cluster-ca"))));
  } finally {
    certificates.remove();
  }
} else {
  console.warn(`skipping the mTLS run: ${SKIP_REASON}`);
}
// Fresh writes are pushed at once (pushFanout 2, forwarded once per node), which hides the
// gossip rounds; this run turns pushing off to show what anti-entropy alone delivers.
if (!args["no-rounds-only"]) runs.push(await runCluster(ROUNDS_ONLY, () => [], { GOFERBROKE_PUSH_FANOUT: "0" }));

const text = section(runs);
console.log(`\n${text}`);
if (!args["no-docs"]) {
  writeBenchmarkSection(text);
  console.log(`wrote the "${SECTION}" section of ${DOCS}`);
}
