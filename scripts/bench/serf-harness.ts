// Plumbing for scripts/bench/vs-serf.ts: child processes tracked by PID and always killed, ports
// for both systems, /proc readings, the load-average gate, the machine line, and small statistics.

import { closeSync, existsSync, openSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { cpus, totalmem } from "node:os";
import type { Subprocess } from "bun";

// ---- child processes ----

export interface Child {
  name: string;
  pid: number;
  process: Subprocess<"ignore", number, number>;
  logPath: string;
}

const children = new Set<Child>();

/**
 * Starts a process with its stdout and stderr in a log file (a file, not a pipe: nothing has to
 * drain it, and it is there to read when a node misbehaves). `env` replaces the environment
 * entirely, so no GOFERBROKE_* or BUN_OPTIONS of the caller's shell leaks into a measured node.
 */
export function spawnChild(name: string, command: string[], env: Record<string, string>, logPath: string): Child {
  const fd = openSync(logPath, "w");
  try {
    const process = Bun.spawn(command, { stdin: "ignore", stdout: fd, stderr: fd, env });
    const child: Child = { name, pid: process.pid, process, logPath };
    children.add(child);
    void process.exited.then(() => children.delete(child));
    return child;
  } finally {
    closeSync(fd); // the child holds its own copy
  }
}

export function isRunning(child: Child): boolean {
  return child.process.exitCode === null && child.process.signalCode === null;
}

/** SIGKILL to this PID (never a process group or a name), then a bounded wait for its exit. */
export async function killChild(child: Child, timeoutMs = 5000): Promise<void> {
  if (isRunning(child)) child.process.kill("SIGKILL");
  await Promise.race([child.process.exited, Bun.sleep(timeoutMs)]);
  children.delete(child);
}

/** Kills every child still tracked: from finally blocks and the SIGINT handler. */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...children].map((child) => killChild(child, 3000)));
}

/** The same, synchronously, for process exit paths that cannot await. */
export function killAllChildrenNow(): void {
  for (const child of children) {
    try {
      if (isRunning(child)) process.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

// ---- ports ----

const handedOut = new Set<number>();

async function tcpFree(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function udpFree(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = createSocket("udp4");
    socket.once("error", () => (socket.close(), resolve(false)));
    socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)));
  });
}

/**
 * A port free on 127.0.0.1 (for TCP, and for UDP too when asked: memberlist binds both). Picked
 * below the kernel's ephemeral range (32768+), so an outgoing connection of another test cannot
 * take it between the check and the bind; never the same port twice in one run.
 */
export async function reservePort(udpToo: boolean): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port)) continue;
    if (!(await tcpFree(port))) continue;
    if (udpToo && !(await udpFree(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error("no free port found in 500 attempts");
}

// ---- /proc ----

/** Clock ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
export function clockTicksPerSecond(): number {
  const result = Bun.spawnSync(["getconf", "CLK_TCK"], { stderr: "ignore" });
  const ticks = Number(result.stdout.toString().trim());
  return result.exitCode === 0 && ticks > 0 ? ticks : 100;
}

/** utime + stime of a process (all its threads), in clock ticks. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime and stime are fields 14 and 15
}

export interface ThreadReading {
  /** Thread name (comm) with digits dropped, so JSC's numbered workers group together. */
  name: string;
  ticks: number;
  /** voluntary_ctxt_switches: how often the thread went to sleep, i.e. was woken up. */
  wakeups: number;
}

/**
 * Per-thread CPU ticks and wake-ups of a process, by thread id: where an idle process spends its
 * CPU (the event loop, JIT compiler threads, the allocator's scavenger, GC helpers).
 */
export function threads(pid: number): Map<number, ThreadReading> {
  const result = new Map<number, ThreadReading>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return result;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/\d+/g, "").trim() || "?";
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      const wakeups = Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1] ?? 0);
      result.set(Number(tid), { name, ticks: Number(fields[11]) + Number(fields[12]), wakeups });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return result;
}

export interface MemoryReading {
  /** VmRSS: everything resident, including file pages shared with other processes of the same binary. */
  rssBytes: number;
  /** RssAnon: private memory (heap, stacks, JIT code); what each additional process really costs. */
  anonBytes: number;
  /** RssFile: resident pages of the executable and libraries (shared through the page cache). */
  fileBytes: number;
}

export function memory(pid: number): MemoryReading {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
    if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: kib("VmRSS"), anonBytes: kib("RssAnon"), fileBytes: kib("RssFile") };
}

// ---- load ----

export function loadAverage(): [number, number, number] {
  const [one, five, fifteen] = readFileSync("/proc/loadavg", "utf8").split(" ").map(Number);
  return [one ?? NaN, five ?? NaN, fifteen ?? NaN];
}

export function formatLoad(load: readonly number[]): string {
  return load.map((value) => value.toFixed(2)).join(" ");
}

/**
 * Waits until the 1-minute load average is below `threshold` (other engineers share the machine
 * and its 2 cores), checking every `pollMs`, for at most `maxMs`; returns whether it got there.
 */
export async function waitForQuietMachine(threshold: number, pollMs: number, maxMs: number, log: (line: string) => void): Promise<boolean> {
  const deadline = performance.now() + maxMs;
  for (;;) {
    const load = loadAverage();
    if (load[0] < threshold) {
      log(`load average ${formatLoad(load)}: below ${threshold}, starting`);
      return true;
    }
    if (performance.now() + pollMs > deadline) {
      log(`load average ${formatLoad(load)}: still not below ${threshold} after ${Math.round(maxMs / 60000)} min; measuring anyway`);
      return false;
    }
    log(`load average ${formatLoad(load)}: waiting for the 1-minute figure to drop below ${threshold}`);
    await Bun.sleep(pollMs);
  }
}

// ---- machine ----

export function machineLine(): string {
  const model = cpus()[0]?.model.trim() ?? "unknown CPU";
  const nproc = Bun.spawnSync(["nproc"], { stderr: "ignore" }).stdout.toString().trim() || String(cpus().length);
  const kernel = Bun.spawnSync(["uname", "-r"], { stderr: "ignore" }).stdout.toString().trim();
  const ramGiB = (totalmem() / 1024 ** 3).toFixed(1);
  return `${nproc} CPUs (\`nproc\`), ${model}, ${ramGiB} GiB RAM, Linux ${kernel} ${process.arch}`;
}

// ---- statistics ----

/** Linear-interpolation quantile (q in 0..1) of the values; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** Writes `section` (starting with its `## heading` line) into the Markdown file, replacing that section only. */
export function replaceDocSection(path: string, heading: string, section: string): void {
  const text = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmarks\n";
  const start = text.indexOf(`\n${heading}\n`);
  let updated: string;
  if (start < 0) updated = `${text.trimEnd()}\n\n${section}\n`;
  else {
    const after = text.indexOf("\n## ", start + 1);
    updated = `${text.slice(0, start)}\n${section}\n${after < 0 ? "" : text.slice(after)}`;
  }
  writeFileSync(path, updated);
}
