// Start-up benchmark of the compiled executable, and what it costs to ship and to keep running:
//   - start → listening: a node spawned with only -nodeAddr on a free port, timed from just before
//     the spawn to (a) the first TCP connection its port accepts (polled in a tight loop), and
//     (b) the timestamp of its "listening on" JSON log line; plus a `--version` run (spawn to exit),
//     which is the runtime's and the bundle's cost without any node work. Builds compared side by
//     side, their runs interleaved so background load hits all alike: --bytecode with and without
//     --minify, neither, and `bun src/cli/main.ts` from source. Bar: p50 start → listening < 50 ms.
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
  sizeBytes?: number;
  /** Compiled from src/cli/main.ts with these `bun build` options; null for the floor and source rows. */
  buildFlags: string[] | null;
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

/** The compared builds, into a scratch directory (dist/ is left to scripts/build.ts). */
async function buildVariants(scratch: string): Promise<Variant[]> {
  const SHIPPED_FLAGS = ["--bytecode", "--format=esm", "--minify"];
  const compiled: Variant[] = [
    { name: "`--bytecode --minify` (scripts/build.ts)", command: [], pollPauseMs: POLL_PAUSE_MS, buildFlags: SHIPPED_FLAGS },
    { name: "`--bytecode`", command: [], pollPauseMs: POLL_PAUSE_MS, buildFlags: ["--bytecode", "--format=esm"] },
    { name: "`--minify`", command: [], pollPauseMs: POLL_PAUSE_MS, buildFlags: ["--format=esm", "--minify"] },
    { name: "neither", command: [], pollPauseMs: POLL_PAUSE_MS, buildFlags: ["--format=esm"] },
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
  await compile(floorEntry, floorBinary, SHIPPED_FLAGS);
  const shipped = compiled[0]!;
  return [
    ...compiled,
    { ...shipped, name: `${shipped.name}, busy-loop polling`, pollPauseMs: 0 },
    { name: "floor: a 5-line `Bun.listen` program, compiled the same way", command: [floorBinary], pollPauseMs: POLL_PAUSE_MS, sizeBytes: statSync(floorBinary).size, buildFlags: null },
    { name: "from source (`bun src/cli/main.ts`)", command: [process.execPath, cliEntry], pollPauseMs: POLL_PAUSE_MS, buildFlags: null },
  ];
}

// ---- one start ----

interface StartSample {
  /** Spawn → the first accepted TCP connection on the node port. */
  acceptMs: number;
  /** Spawn (wall clock) → the time in the "listening on" log line (ms resolution). */
  logMs: number;
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
  const child = Bun.spawn([...variant.command, `-nodeAddr=127.0.0.1:${port}`, "--log-format=json"], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  try {
    const deadline = startedAt + START_TIMEOUT_MS;
    for (;;) {
      if (await tryConnect(port)) break;
      if (performance.now() > deadline || child.exitCode !== null) throw new Error(`${variant.command.join(" ")} did not listen on ${port} (exit ${child.exitCode})`);
      if (variant.pollPauseMs > 0) await Bun.sleep(variant.pollPauseMs);
    }
    const acceptMs = performance.now() - startedAt;
    const scheduling = schedstat(child.pid);
    const logMs = await listeningLogDelay(child.stderr, wallAtSpawn, deadline);
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
    process.stdout.write(`\rrun ${run + 1}/${RUNS}`);
    for (const result of results) {
      result.samples.push(await timeStart(result.variant));
      result.version.push(await timeVersion(result.variant.command));
    }
  }
  process.stdout.write("\n");
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

/** Every executable scripts/build.ts wrote (importing its TARGETS would run the build). */
function distSizes(): { name: string; bytes: number }[] {
  return readdirSync(DIST)
    .filter((file) => /^goferbroke(-[a-z0-9-]+(\.exe)?)?$/.test(file))
    .sort()
    .map((file) => ({ name: file === "goferbroke" ? "goferbroke (host)" : file.replace(/^goferbroke-/, ""), bytes: statSync(join(DIST, file)).size }));
}

// ---- report ----

function report(results: readonly VariantResult[], rss: number[], build: { seconds: number; sizes: { name: string; bytes: number }[] } | null, loadBefore: number[]): string {
  const builds = results.filter((result) => result.variant.buildFlags !== null && result.variant.pollPauseMs > 0);
  const fastestBy = (pick: (sample: StartSample) => number) =>
    [...builds].sort((a, b) => percentile(column(a, pick), 50) - percentile(column(b, pick), 50))[0]!.variant.name;
  const shipped = builds[0]!;
  const shippedP50 = percentile(column(shipped, (sample) => sample.acceptMs), 50);
  const shippedUnqueuedP50 = percentile(column(shipped, unqueued), 50);
  const floor = results.find((result) => result.variant.name.startsWith("floor"))!;
  const onCpuP50 = (result: VariantResult) => percentile(column(result, (sample) => sample.onCpuMs), 50);
  const verdict = (value: number) => `${value < BAR_MS ? "met" : "**not met**"} (${ms(value)})`;
  const lines = [
    SECTION,
    "",
    `Command: \`bun scripts/bench/startup.ts\` (\`npm run bench:startup\`), ${new Date().toISOString().slice(0, 10)}, ${RUNS} runs per row.`,
    `Machine: ${machineLine()}; load average ${loadBefore.map((value) => value.toFixed(1)).join(" ")} when it started. ` +
      "Other work shared the CPUs, so wall-clock times are noisy; the rows' runs are interleaved, so they are comparable with each other.",
    "",
    "### Start to listening",
    "",
    "A node spawned with only `-nodeAddr 127.0.0.1:<free port> --log-format=json`, timed from just before the spawn to " +
      `*accepts*, the first TCP connection its port accepts (attempts ${POLL_PAUSE_MS} ms apart), and to *log*, the timestamp of its \`"listening on"\` log line (ms resolution). ` +
      "From `/proc/<pid>/schedstat` of its main thread at that moment: *on CPU* and *waiting*, the time it was runnable but had no CPU; " +
      "*accepts − waiting* estimates the start on an idle machine. *--version*: spawn to exit of `--version`, the runtime and the bundle without any node work.",
    "",
    "| Build | Size | Accepts p50 / p90 | Log p50 / p90 | On CPU p50 | Waiting p50 | Accepts − waiting p50 / p90 | --version p50 / p90 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...results.map((result) =>
      [
        result.variant.name,
        result.variant.sizeBytes === undefined ? "—" : `${mib(result.variant.sizeBytes)} MiB`,
        p50p90(column(result, (sample) => sample.acceptMs)),
        p50p90(column(result, (sample) => sample.logMs)),
        ms(percentile(column(result, (sample) => sample.onCpuMs), 50)),
        ms(percentile(column(result, (sample) => sample.waitingMs), 50)),
        p50p90(column(result, unqueued)),
        p50p90(result.version),
      ].join(" | ").replace(/^/, "| ").concat(" |"),
    ),
    "",
    `Fastest build to listening, p50: ${fastestBy((sample) => sample.acceptMs)} by wall clock, ${fastestBy((sample) => sample.onCpuMs)} by time on CPU.`,
    "",
    `Bar, start to listening under ${BAR_MS} ms, p50 of the shipped build: ${verdict(shippedP50)} as measured; ${verdict(shippedUnqueuedP50)} without the waiting for a CPU. ` +
      `The runtime alone (floor row) takes ${ms(onCpuP50(floor))} of main-thread CPU to listen; GoferBroke adds ${ms(onCpuP50(shipped) - onCpuP50(floor))}, ` +
      "mostly evaluating modules (the config schema, consola's core, node:* built-ins); resolving the options, creating the node and binding take a few ms.",
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
      `\`bun run build\` (every target, \`--compile --bytecode --minify\`), which took ${build.seconds.toFixed(0)} s:`,
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
  const build = args["no-full-build"] ? null : await fullBuild();
  if (!existsSync(join(DIST, "goferbroke"))) throw new Error("dist/goferbroke is missing: run `bun run build -- --host-only`");
  console.log("idle RSS: 3-node cluster of dist/goferbroke");
  const rss = await measureIdleRss(join(DIST, "goferbroke"));
  const text = report(results, rss, build, loadBefore);
  console.log(`\n${text}`);
  if (!args["no-docs"]) {
    writeBenchmarkSection(text);
    console.log(`wrote the "${SECTION}" section of ${DOCS}`);
  }
} finally {
  await killAll();
  rmSync(scratch, { recursive: true, force: true });
}
