// Start-up benchmark of the compiled executable, and what it costs to ship and to keep running:
//   - start → listening: a node spawned with only -nodeAddr on a free port, timed from just before
//     the spawn to (a) the first TCP connection its port accepts (attempts 1 ms apart), and (b) the
//     timestamp of its "listening on" JSON log line; plus a `--version` run (spawn to exit), which
//     is the runtime's and the bundle's cost without any node work. Builds compared side by side,
//     their runs interleaved so background load hits all alike: the shipped options
//     (scripts/build-flags.ts), each without one of them, with the runtime's --smol, the default
//     pretty logs, `bun src/cli/main.ts` from source, and the floor: a compiled program that only
//     listens. Bar: p50 start → listening < 50 ms.
//   - idle RSS: each node of a 3-node cluster of dist/goferbroke (gossip every 1 s, the default),
//     VmRSS from /proc/<pid>/status after it settled.
//   - binary size per target, from the full `bun run build` (all 7 targets).
// Prints markdown tables and writes them into docs/BENCHMARKS.md under
// "## Command line and executables" (replacing that section only).
//
//   bun scripts/bench/startup.ts                      20 runs per build, full build, docs updated
//   bun scripts/bench/startup.ts --runs 5 --no-full-build --no-docs   a quick check

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { machineLine, writeBenchmarkSection } from "./report.ts";
import { SHIPPED_BUILD_FLAGS } from "../build-flags.ts";
import { progressLine } from "../progress-line.ts";
import { cliEntry, freePort, killAll, repoRoot, startCluster } from "../../test/support/node-processes.ts";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "20" },
    "idle-seconds": { type: "string", default: "10" },
    "no-full-build": { type: "boolean", default: false },
    "no-docs": { type: "boolean", default: false },
  },
  strict: true,
});

const RUNS = positiveInteger("runs", args.runs);
const progress = progressLine("bench:startup");
const IDLE_MS = positiveInteger("idle-seconds", args["idle-seconds"]) * 1000;
const BAR_MS = 50;
/**
 * Pause between attempts to connect while waiting for the port. A busy loop competes with the
 * child for the CPU: on a 2-CPU machine it made the start look 3x slower (the busy-loop row shows
 * it), so the attempts are 1 ms apart, which is also the log line's resolution.
 */
const POLL_PAUSE_MS = 1;
/** A start that has not listened by then counts as a failure, not as a slow sample. */
const START_TIMEOUT_MS = 15_000;
const DOCS = join(repoRoot, "docs", "BENCHMARKS.md");
const SECTION = "## Command line and executables";
const DIST = join(repoRoot, "dist");

function positiveInteger(name: string, raw: string | undefined): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got ${raw}`);
  return value;
}

// ---- builds ----

interface Variant {
  name: string;
  /** The command that runs it (a binary, or bun with the source entry). */
  command: string[];
  /** Pause between connection attempts while waiting for the port; 0 is a busy loop. */
  pollPauseMs: number;
  /** The node's log format: JSON lines carry the time of "listening on"; pretty is the default. */
  logFormat: "json" | "pretty";
  sizeBytes?: number;
  /** Compiled from src/cli/main.ts with these `bun build` options; null for the floor and source rows. */
  buildFlags: readonly string[] | null;
}

function gitCommit(): string {
  const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: repoRoot, stderr: "ignore" });
  return git.exitCode === 0 ? git.stdout.toString().trim() : "unknown";
}

async function compile(entry: string, outfile: string, flags: readonly string[]): Promise<void> {
  const child = Bun.spawn(
    [process.execPath, "build", "--compile", ...flags, `--define=GOFERBROKE_COMMIT=${JSON.stringify(gitCommit())}`, entry, "--outfile", outfile],
    { stdout: "ignore", stderr: "pipe" },
  );
  if ((await child.exited) !== 0) throw new Error(`bun build ${flags.join(" ")} ${entry} failed: ${await new Response(child.stderr).text()}`);
}

/**
 * The runtime's own share: a compiled program that does only what the measurement sees (listen
 * on -nodeAddr, log "listening on" as JSON), so the gap to it is what GoferBroke adds.
 */
const FLOOR_PROGRAM = `
if (process.argv.includes("--version")) { console.log("floor"); process.exit(0); }
const address = process.argv.find((arg) => arg.startsWith("-nodeAddr="))!.slice("-nodeAddr=".length);
const [hostname, port] = address.split(":") as [string, string];
Bun.listen({ hostname, port: Number(port), socket: { data() {} } });
// The time is taken before touching process.stderr, whose first use sets up a stream (as a
// logger does: it dates a record, then writes it).
const line = JSON.stringify({ time: new Date().toISOString(), level: "info", msg: "listening on " + address }) + "\\n";
process.stderr.write(line);
`;

const without = (flag: string) => SHIPPED_BUILD_FLAGS.filter((option) => option !== flag);

/** The compared builds, into a scratch directory (dist/ is left to scripts/build.ts). */
async function buildVariants(scratch: string): Promise<Variant[]> {
  const compiledRow = (name: string, buildFlags: readonly string[]): Variant => ({ name, command: [], pollPauseMs: POLL_PAUSE_MS, logFormat: "json", buildFlags });
  const compiled: Variant[] = [
    compiledRow(`\`${SHIPPED_BUILD_FLAGS.filter((flag) => flag !== "--format=esm").join(" ")}\` (scripts/build.ts)`, SHIPPED_BUILD_FLAGS),
    compiledRow("without `--splitting` (one bundle)", without("--splitting")),
    compiledRow("without `--minify`", without("--minify")),
    // Without bytecode the format may be ESM or CommonJS; ESM keeps the rows comparable.
    compiledRow("without `--bytecode`", without("--bytecode")),
    compiledRow("without `--compile-jit-policy=8`", without("--compile-jit-policy=8")),
    compiledRow("with the runtime's `--smol` (`--compile-exec-argv=--smol`)", [...SHIPPED_BUILD_FLAGS, "--compile-exec-argv=--smol"]),
  ];
  for (const [index, variant] of compiled.entries()) {
    const outfile = join(scratch, `goferbroke-${index}`);
    process.stdout.write(`building ${variant.name}… `);
    await compile(cliEntry, outfile, variant.buildFlags!);
    variant.command = [outfile];
    variant.sizeBytes = statSync(outfile).size;
    console.log(`${mib(variant.sizeBytes)} MiB`);
  }
  const floorEntry = join(scratch, "floor.ts");
  writeFileSync(floorEntry, FLOOR_PROGRAM);
  const floorBinary = join(scratch, "floor");
  await compile(floorEntry, floorBinary, SHIPPED_BUILD_FLAGS);
  const shipped = compiled[0]!;
  return [
    ...compiled,
    { ...shipped, name: "shipped, default pretty logs (no `--log-format`)", logFormat: "pretty" },
    { ...shipped, name: "shipped, busy-loop polling", pollPauseMs: 0 },
    { name: FLOOR_NAME, command: [floorBinary], pollPauseMs: POLL_PAUSE_MS, logFormat: "json", sizeBytes: statSync(floorBinary).size, buildFlags: null },
    { name: "from source (`bun src/cli/main.ts`)", command: [process.execPath, cliEntry], pollPauseMs: POLL_PAUSE_MS, logFormat: "json", buildFlags: null },
  ];
}

const FLOOR_NAME = "floor: a 5-line `Bun.listen` program, compiled the same way";

// ---- where the time goes ----

const STEP_RUNTIME = "the runtime, up to the program's first line";
const STEP_COMMAND_LINE = "main.ts and what it imports: flags, addresses, suggestions";
const STEP_RUN_MODULES = "the run path's modules: option schemas (valibot), consola's core, node, transport";
const STEP_WORK = "resolving the options, creating the node, binding the port";
const STEPS = [STEP_RUNTIME, STEP_COMMAND_LINE, STEP_RUN_MODULES, STEP_WORK];

/**
 * The shipped build's start-up in steps: a compiled program that runs the real main() (the same
 * modules, the same order) and takes two readings at each step, with Bun.listen wrapped to take the
 * last ones and exit once the node port is bound. The readings: the time since the process
 * started (Bun.nanoseconds), and the CPU time of all its threads (process.cpuUsage), which waiting
 * for a CPU does not inflate but Bun's helper threads (JIT, GC) add to. A thread's own CPU time is
 * not readable precisely from JavaScript: process.threadCpuUsage and /proc/thread-self/schedstat
 * move in whole clock ticks while the thread runs.
 */
const READINGS = "const reading = (step: string) => { const cpu = process.cpuUsage(); return [step, Bun.nanoseconds() / 1e6, (cpu.user + cpu.system) / 1000]; };";

function probeProgram(): string {
  const source = (path: string) => JSON.stringify(join(repoRoot, "src", path));
  return `
${READINGS}
const readings = [reading("${STEP_RUNTIME}")];
const listen = Bun.listen;
Bun.listen = ((options: Parameters<typeof listen>[0]) => {
  listen(options);
  readings.push(reading("${STEP_WORK}"));
  console.log(JSON.stringify(readings));
  process.exit(0);
}) as typeof listen;
const { main } = await import(${source("cli/main.ts")});
readings.push(reading("${STEP_COMMAND_LINE}"));
await Promise.all([import(${source("config/merge.ts")}), import(${source("cli/logging.ts")}), import(${source("cli/run-node.ts")})]);
readings.push(reading("${STEP_RUN_MODULES}"));
await main(process.argv.slice(2));
`;
}

const FLOOR_PROBE_PROGRAM = `
${READINGS}
const readings = [reading("${STEP_RUNTIME}")];
Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
readings.push(reading("${STEP_WORK}"));
console.log(JSON.stringify(readings));
process.exit(0);
`;

/** Each step's time per run (ms of wall clock and of CPU); a step the program does not have is absent. */
type StepTimes = Map<string, { wallMs: number[]; cpuMs: number[] }>;

async function runProbe(binary: string, into: StepTimes): Promise<void> {
  const port = await freePort();
  const child = Bun.spawn([binary, `-nodeAddr=127.0.0.1:${port}`, "--log-format=json"], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  const timer = setTimeout(() => child.kill("SIGKILL"), START_TIMEOUT_MS);
  try {
    const [output, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
    if (code !== 0) throw new Error(`${binary} exited ${code}: ${output}`);
    let previous = { wallMs: 0, cpuMs: 0 };
    for (const [step, wallMs, cpuMs] of JSON.parse(output) as [string, number, number][]) {
      const times = into.get(step) ?? { wallMs: [], cpuMs: [] };
      times.wallMs.push(wallMs - previous.wallMs);
      times.cpuMs.push(cpuMs - previous.cpuMs);
      into.set(step, times);
      previous = { wallMs, cpuMs };
    }
  } finally {
    clearTimeout(timer);
  }
}

async function measureSteps(scratch: string): Promise<{ shipped: StepTimes; floor: StepTimes }> {
  const binaries = { shipped: join(scratch, "probe"), floor: join(scratch, "floor-probe") };
  writeFileSync(join(scratch, "probe.ts"), probeProgram());
  writeFileSync(join(scratch, "floor-probe.ts"), FLOOR_PROBE_PROGRAM);
  await compile(join(scratch, "probe.ts"), binaries.shipped, SHIPPED_BUILD_FLAGS);
  await compile(join(scratch, "floor-probe.ts"), binaries.floor, SHIPPED_BUILD_FLAGS);
  const steps = { shipped: new Map() as StepTimes, floor: new Map() as StepTimes };
  for (let run = 0; run < RUNS; run++) {
    progress.update(`steps ${run + 1} of ${RUNS}`);
    await runProbe(binaries.shipped, steps.shipped);
    await runProbe(binaries.floor, steps.floor);
  }
  progress.clear();
  return steps;
}

// ---- one start ----

interface StartSample {
  /** Spawn → the first accepted TCP connection on the node port. */
  acceptMs: number;
  /** Spawn (wall clock) → the time in the "listening on" log line (ms resolution); null for pretty logs, which carry no time. */
  logMs: number | null;
  /** The child's main thread by then: time on a CPU, and time runnable but waiting for one. */
  onCpuMs: number;
  waitingMs: number;
}

async function tryConnect(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}

/** /proc/<pid>/schedstat of the main thread: nanoseconds on a CPU, nanoseconds waiting on a run queue. */
function schedstat(pid: number): { onCpuMs: number; waitingMs: number } {
  const [onCpu, waiting] = readFileSync(`/proc/${pid}/schedstat`, "utf8").trim().split(/\s+/).map(Number) as [number, number];
  return { onCpuMs: onCpu / 1e6, waitingMs: waiting / 1e6 };
}

async function timeStart(variant: Variant): Promise<StartSample> {
  const port = await freePort();
  const wallAtSpawn = performance.timeOrigin + performance.now();
  const startedAt = performance.now();
  const logArgs = variant.logFormat === "json" ? ["--log-format=json"] : [];
  const child = Bun.spawn([...variant.command, `-nodeAddr=127.0.0.1:${port}`, ...logArgs], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  try {
    const deadline = startedAt + START_TIMEOUT_MS;
    for (;;) {
      if (await tryConnect(port)) break;
      if (performance.now() > deadline || child.exitCode !== null) throw new Error(`${variant.command.join(" ")} did not listen on ${port} (exit ${child.exitCode})`);
      if (variant.pollPauseMs > 0) await Bun.sleep(variant.pollPauseMs);
    }
    const acceptMs = performance.now() - startedAt;
    const scheduling = schedstat(child.pid);
    const logMs = variant.logFormat === "json" ? await listeningLogDelay(child.stderr, wallAtSpawn, deadline) : null;
    return { acceptMs, logMs, ...scheduling };
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
}

/** Reads JSON log lines until "listening on …"; its timestamp minus the spawn's wall-clock time. */
async function listeningLogDelay(stderr: ReadableStream<Uint8Array>, wallAtSpawn: number, deadline: number): Promise<number> {
  const decoder = new TextDecoder();
  let text = "";
  const reader = stderr.getReader();
  try {
    for (;;) {
      const timeLeft = deadline - performance.now();
      const next = await Promise.race([reader.read(), Bun.sleep(Math.max(0, timeLeft)).then(() => null)]);
      if (next === null || next.done) throw new Error(`no "listening on" log line; stderr:\n${text}`);
      text += decoder.decode(next.value, { stream: true });
      const line = text.split("\n").find((candidate) => candidate.includes('"listening on '));
      if (line !== undefined) return Date.parse((JSON.parse(line) as { time: string }).time) - wallAtSpawn;
    }
  } finally {
    reader.releaseLock();
  }
}

async function timeVersion(command: readonly string[]): Promise<number> {
  const startedAt = performance.now();
  const child = Bun.spawn([...command, "--version"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  const code = await child.exited;
  if (code !== 0) throw new Error(`${command.join(" ")} --version exited ${code}`);
  return performance.now() - startedAt;
}

// ---- statistics ----

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

const ms = (value: number) => `${value.toFixed(value < 10 ? 1 : 0)} ms`;
const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const p50p90 = (values: readonly number[]) => `${ms(percentile(values, 50))} / ${ms(percentile(values, 90))}`;

interface VariantResult {
  variant: Variant;
  samples: StartSample[];
  version: number[];
}

const column = (result: VariantResult, pick: (sample: StartSample) => number) => result.samples.map(pick);
/** Start to listening without the time the child spent waiting for a CPU: what an idle machine would show. */
const unqueued = (sample: StartSample) => sample.acceptMs - sample.waitingMs;

async function measureStarts(variants: readonly Variant[]): Promise<VariantResult[]> {
  const results: VariantResult[] = variants.map((variant) => ({ variant, samples: [], version: [] }));
  // One warm-up each: the first exec of a fresh 100 MB file reads it from disk into the page cache.
  for (const result of results) {
    await timeStart(result.variant);
    await timeVersion(result.variant.command);
  }
  // Interleaved, so load from other work on the machine falls on every build alike.
  for (let run = 0; run < RUNS; run++) {
    progress.update(`run ${run + 1} of ${RUNS}`);
    for (const result of results) {
      result.samples.push(await timeStart(result.variant));
      result.version.push(await timeVersion(result.variant.command));
    }
  }
  progress.clear();
  return results;
}

// ---- idle RSS ----

function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]);
}

async function measureIdleRss(binary: string): Promise<number[]> {
  const nodes = await startCluster({ names: ["rss-1", "rss-2", "rss-3"], gossipIntervalMs: 1000, command: [binary] });
  try {
    // Settle (joins, first full exchanges, JIT warm-up), then sample every second; report each
    // node's median, so one collection cycle does not decide the figure.
    await Bun.sleep(3000);
    const samples = nodes.map(() => [] as number[]);
    for (let elapsed = 0; elapsed < IDLE_MS; elapsed += 1000) {
      nodes.forEach((node, index) => samples[index]!.push(rssKiB(node.process.pid)));
      await Bun.sleep(1000);
    }
    return samples.map((values) => percentile(values, 50));
  } finally {
    await killAll();
  }
}

// ---- binary sizes ----

async function fullBuild(): Promise<{ seconds: number; sizes: { name: string; bytes: number }[] }> {
  console.log("full build: bun scripts/build.ts");
  const startedAt = performance.now();
  const child = Bun.spawn([process.execPath, join(repoRoot, "scripts", "build.ts")], { cwd: repoRoot, stdout: "inherit", stderr: "inherit" });
  if ((await child.exited) !== 0) throw new Error("bun scripts/build.ts failed");
  const seconds = (performance.now() - startedAt) / 1000;
  return { seconds, sizes: distSizes() };
}

/** Every executable scripts/build.ts wrote (what is in dist/, whichever targets were built). */
function distSizes(): { name: string; bytes: number }[] {
  return readdirSync(DIST)
    .filter((file) => /^goferbroke(-[a-z0-9-]+(\.exe)?)?$/.test(file))
    .sort()
    .map((file) => ({ name: file === "goferbroke" ? "goferbroke (host)" : file.replace(/^goferbroke-/, ""), bytes: statSync(join(DIST, file)).size }));
}

// ---- report ----

interface Measured {
  results: readonly VariantResult[];
  steps: { shipped: StepTimes; floor: StepTimes };
  rss: number[];
  build: { seconds: number; sizes: { name: string; bytes: number }[] } | null;
  load: { before: number[]; after: number[] };
}

const loadLine = (load: number[]) => load.map((value) => value.toFixed(1)).join(" ");
const tableRow = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;

function startTable(results: readonly VariantResult[], floor: VariantResult): string[] {
  const acceptsP50 = (result: VariantResult) => percentile(column(result, (sample) => sample.acceptMs), 50);
  const logs = (result: VariantResult) => result.samples.flatMap((sample) => (sample.logMs === null ? [] : [sample.logMs]));
  return [
    "| Build | Size | Accepts p50 / p90 | × floor (p50) | Log p50 / p90 | On CPU p50 | Waiting p50 | Accepts − waiting p50 / p90 | --version p50 / p90 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...results.map((result) =>
      tableRow([
        result.variant.name,
        result.variant.sizeBytes === undefined ? "—" : `${mib(result.variant.sizeBytes)} MiB`,
        p50p90(column(result, (sample) => sample.acceptMs)),
        `${(acceptsP50(result) / acceptsP50(floor)).toFixed(1)}×`,
        logs(result).length === 0 ? "—" : p50p90(logs(result)),
        ms(percentile(column(result, (sample) => sample.onCpuMs), 50)),
        ms(percentile(column(result, (sample) => sample.waitingMs), 50)),
        p50p90(column(result, unqueued)),
        p50p90(result.version),
      ]),
    ),
  ];
}

function stepTable(steps: Measured["steps"]): string[] {
  const p50 = (values: number[] | undefined) => (values === undefined ? "—" : ms(percentile(values, 50)));
  const cells = (times: StepTimes, step: string) => [p50(times.get(step)?.wallMs), p50(times.get(step)?.cpuMs)];
  /** Per run, the sum over the steps: the time to listening. */
  const totals = (times: StepTimes, pick: "wallMs" | "cpuMs") => {
    const runs = times.get(STEP_RUNTIME)?.[pick].length ?? 0;
    return Array.from({ length: runs }, (_, run) => STEPS.reduce((sum, step) => sum + (times.get(step)?.[pick][run] ?? 0), 0));
  };
  return [
    "| Step | Floor: time p50 | Floor: CPU p50 | Shipped: time p50 | Shipped: CPU p50 |",
    "|---|---:|---:|---:|---:|",
    ...STEPS.map((step) => tableRow([step, ...cells(steps.floor, step), ...cells(steps.shipped, step)])),
    tableRow([
      "**to listening, in all** (p50 / p90)",
      p50p90(totals(steps.floor, "wallMs")),
      p50p90(totals(steps.floor, "cpuMs")),
      p50p90(totals(steps.shipped, "wallMs")),
      p50p90(totals(steps.shipped, "cpuMs")),
    ]),
  ];
}

function report({ results, steps, rss, build, load }: Measured): string {
  const builds = results.filter((result) => result.variant.buildFlags !== null && result.variant.pollPauseMs > 0 && result.variant.logFormat === "json");
  const fastestBy = (pick: (sample: StartSample) => number) =>
    [...builds].sort((a, b) => percentile(column(a, pick), 50) - percentile(column(b, pick), 50))[0]!.variant.name;
  const shipped = builds[0]!;
  const shippedP50 = percentile(column(shipped, (sample) => sample.acceptMs), 50);
  const shippedUnqueuedP50 = percentile(column(shipped, unqueued), 50);
  const floor = results.find((result) => result.variant.name === FLOOR_NAME)!;
  const floorP50 = percentile(column(floor, (sample) => sample.acceptMs), 50);
  const floorUnqueuedP50 = percentile(column(floor, unqueued), 50);
  const verdict = (value: number) => `${value < BAR_MS ? "met" : "**not met**"} (${ms(value)})`;
  const lines = [
    SECTION,
    "",
    `Command: \`bun scripts/bench/startup.ts\` (\`npm run bench:startup\`), ${new Date().toISOString().slice(0, 10)}, ${RUNS} runs per row.`,
    `Machine: ${machineLine()}; load average ${loadLine(load.before)} when it started, ${loadLine(load.after)} when the starts were measured. ` +
      "Other work shared the CPUs, so wall-clock times are noisy; the rows' runs are interleaved, so they are comparable with each other, and the floor row is the baseline measured in the same run.",
    "",
    "### Start to listening",
    "",
    "A node spawned with only `-nodeAddr 127.0.0.1:<free port> --log-format=json`, timed from just before the spawn to " +
      `*accepts*, the first TCP connection its port accepts (attempts ${POLL_PAUSE_MS} ms apart), and to *log*, the timestamp of its \`"listening on"\` log line (ms resolution; pretty lines carry none). ` +
      "*× floor*: accepts p50 over the floor row's. From `/proc/<pid>/schedstat` of its main thread when the connection was accepted: *on CPU* (which includes what the node did after binding, such as writing that log line) and *waiting*, the time it was runnable but had no CPU; " +
      "*accepts − waiting* estimates the start on an idle machine. *--version*: spawn to exit of `--version`, the runtime and the bundle without any node work.",
    "",
    ...startTable(results, floor),
    "",
    `Fastest build to listening, p50: ${fastestBy((sample) => sample.acceptMs)} by wall clock, ${fastestBy(unqueued)} without the waiting.`,
    "",
    `Bar, start to listening under ${BAR_MS} ms, p50 of the shipped build: ${verdict(shippedP50)} as measured, ${verdict(shippedUnqueuedP50)} without the waiting for a CPU; ` +
      `the floor, a program that does nothing but listen, took ${ms(floorP50)} and ${ms(floorUnqueuedP50)} in the same runs.`,
    "",
    "### Where the start-up time goes",
    "",
    "A compiled probe runs the real `main()` step by step and stops when the node binds its port; the floor probe only listens. " +
      "*Time*: since the process started (`Bun.nanoseconds()`, so not the kernel's exec), waiting for a CPU included. " +
      "*CPU*: all the process's threads (`process.cpuUsage()`), so waiting does not count but Bun's JIT and GC threads do, which is why the first step can show more CPU than time.",
    "",
    ...stepTable(steps),
    "",
    "### Idle memory",
    "",
    `Resident memory (VmRSS, /proc/<pid>/status) of each node of a 3-node cluster of \`dist/goferbroke\` on 127.0.0.1, gossip interval 1 s, no writes; each node's median over ${IDLE_MS / 1000} one-second samples after 3 s to settle.`,
    "",
    "| Node | VmRSS |",
    "|---|---:|",
    ...rss.map((kib, index) => `| rss-${index + 1} | ${(kib / 1024).toFixed(1)} MiB |`),
    "",
  ];
  if (build) {
    lines.push(
      "### Binary sizes",
      "",
      `\`bun run build\` (every target, \`--compile ${SHIPPED_BUILD_FLAGS.join(" ")}\`), which took ${build.seconds.toFixed(0)} s:`,
      "",
      "| Target | Size |",
      "|---|---:|",
      ...build.sizes.map((size) => `| ${size.name} | ${mib(size.bytes)} MiB |`),
      "",
    );
  }
  return lines.join("\n");
}

// ---- main ----

const loadBefore = loadavg();
const scratch = mkdtempSync(join(tmpdir(), "goferbroke-startup-"));
try {
  const variants = await buildVariants(scratch);
  const results = await measureStarts(variants);
  const loadAfter = loadavg();
  const steps = await measureSteps(scratch);
  const build = args["no-full-build"] ? null : await fullBuild();
  if (!existsSync(join(DIST, "goferbroke"))) throw new Error("dist/goferbroke is missing: run `bun run build -- --host-only`");
  console.log("idle RSS: 3-node cluster of dist/goferbroke");
  const rss = await measureIdleRss(join(DIST, "goferbroke"));
  const text = report({ results, steps, rss, build, load: { before: loadBefore, after: loadAfter } });
  console.log(`\n${text}`);
  if (!args["no-docs"]) {
    writeBenchmarkSection(text);
    console.log(`wrote the "${SECTION}" section of ${DOCS}`);
  }
} finally {
  await killAll();
  rmSync(scratch, { recursive: true, force: true });
}
