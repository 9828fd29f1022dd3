// Starts GoferBroke nodes as real processes (the CLI from source, or a compiled binary) on
// 127.0.0.1, talks to them through their client ports, and always kills them. Every wait has a
// deadline, so a broken feature fails a test instead of hanging CI.

import { createServer } from "node:net";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { waitFor } from "./wait.ts";

export const repoRoot = join(import.meta.dir, "..", "..");
export const cliEntry = join(repoRoot, "src", "cli", "main.ts");

export interface NodeProcess {
  name: string;
  nodePort: number;
  clientPort: number;
  /** The IP the client port listens on: 127.0.0.1, or a network-namespace address (test/support/netns.ts). */
  clientHost: string;
  address: string;
  process: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** What it was started with (nodePort filled in): restartNode starts it again from these. */
  startOptions: StartOptions;
}

export interface StartOptions {
  name: string;
  seeds?: string[];
  /** Extra CLI flags (e.g. --cluster-name, --secret-file, TLS files). */
  flags?: string[];
  /** Run this executable instead of `bun src/cli/main.ts`, e.g. dist/goferbroke. */
  command?: string[];
  nodePort?: number;
  /** Default: a free port. */
  clientPort?: number;
  gossipIntervalMs?: number;
  env?: Record<string, string>;
}

const running = new Set<NodeProcess>();

/** Ports freePort() handed out in this process: the OS may offer a just-closed port again. */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1, never one this process was given before: two calls in a row could
 * otherwise return the same port (the OS reuses a closed one), e.g. a node port and its client
 * port. The race with other processes remains, and is acceptable for tests.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await portTheOsOffers();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error("no port this process has not used before in 50 attempts");
}

function portTheOsOffers(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * `bun src/cli/main.ts`, or the executable named by GOFERBROKE_TEST_BINARY (e.g. dist/goferbroke):
 * the same process tests then check the compiled binary.
 */
function defaultCommand(): string[] {
  const binary = process.env.GOFERBROKE_TEST_BINARY;
  return binary ? [binary] : [process.execPath, cliEntry];
}

export async function startNode(options: StartOptions): Promise<NodeProcess> {
  const nodePort = options.nodePort ?? (await freePort());
  const clientPort = options.clientPort ?? (await freePort());
  const address = `127.0.0.1:${nodePort}`;
  const command = options.command ?? defaultCommand();
  const args = [
    `-name=${options.name}`,
    `-nodeAddr=${address}`,
    `-clientPort=${clientPort}`,
    `--gossip-interval=${options.gossipIntervalMs ?? 200}ms`,
    "--log-format=json",
    "--log-level=info",
    ...(options.seeds && options.seeds.length > 0 ? [`-routes=${options.seeds.join(",")}`] : []),
    ...(options.flags ?? []),
  ];
  const child = Bun.spawn([...command, ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
  });
  let captured = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) captured += decoder.decode(chunk, { stream: true });
  };
  void collect(child.stdout);
  void collect(child.stderr);
  const startOptions: StartOptions = { ...options, nodePort };
  const node: NodeProcess = { name: options.name, nodePort, clientPort, clientHost: "127.0.0.1", address, process: child, output: () => captured, startOptions };
  running.add(node);
  return node;
}

/** Waits until the node's client port answers /healthz. */
export async function waitHealthy(node: NodeProcess, timeoutMs = 10_000): Promise<void> {
  await waitFor(`${node.name} to answer /healthz`, async () => {
    if (node.process.exitCode !== null) throw new Error(`${node.name} exited with ${node.process.exitCode}:\n${node.output()}`);
    try {
      return (await fetch(`http://${node.clientHost}:${node.clientPort}/healthz`, { signal: AbortSignal.timeout(1000) })).ok;
    } catch {
      return false;
    }
  }, timeoutMs);
}

export async function api<T = unknown>(node: NodeProcess, method: string, route: string, body?: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`http://${node.clientHost}:${node.clientPort}${route}`, {
    method,
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(5000),
  });
  const text = await response.text();
  return { status: response.status, body: (text === "" ? null : JSON.parse(text)) as T };
}

export interface MemberRow {
  name: string;
  address: string | null;
  state: "alive" | "suspect" | "dead" | "left";
  phi: number;
  generation: number;
  heartbeat: number;
  heartbeatAgeMs: number;
  maxVersion: number;
}

export async function members(node: NodeProcess): Promise<MemberRow[]> {
  return (await api<MemberRow[]>(node, "GET", "/v1/members")).body;
}

/** Polls `condition` every 50 ms until it holds; throws after timeoutMs naming what it waited for. */
export { waitFor };

/** Sends a signal and waits (bounded) for the process to exit; returns its exit code. */
export async function stopNode(node: NodeProcess, signal: "SIGTERM" | "SIGINT" | "SIGKILL" = "SIGTERM", timeoutMs = 5000): Promise<number | null> {
  if (node.process.exitCode === null && node.process.signalCode === null) node.process.kill(signal);
  const exited = await Promise.race([node.process.exited.then(() => true), Bun.sleep(timeoutMs).then(() => false)]);
  if (!exited) {
    node.process.kill("SIGKILL");
    await node.process.exited;
  }
  running.delete(node);
  return node.process.exitCode;
}

/** Kills every process this module started and has not stopped yet: call it in afterAll. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((node) => stopNode(node, "SIGKILL", 2000)));
  await killCliProcesses();
}

/** Starts the node again under the same name, node port and flags: a new process, so a new generation. */
export async function restartNode(node: NodeProcess, overrides: Partial<StartOptions> = {}): Promise<NodeProcess> {
  if (node.process.exitCode === null && node.process.signalCode === null) throw new Error(`${node.name} is still running`);
  return await startNode({ ...node.startOptions, nodePort: node.nodePort, ...overrides });
}

// ---- logs ----

/** One line of `--log-format=json` output. */
export interface LogLine {
  time: string;
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** The node's JSON log lines so far; lines that are not JSON objects (a crash trace) are skipped. */
export function logLines(node: NodeProcess): LogLine[] {
  const lines: LogLine[] = [];
  for (const text of node.output().split("\n")) {
    if (!text.startsWith("{")) continue;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed === "object" && parsed !== null && typeof (parsed as LogLine).msg === "string") lines.push(parsed as LogLine);
    } catch {
      // a line still being written, or not ours
    }
  }
  return lines;
}

/** Waits (bounded) for a log line that matches; returns it. */
export async function waitForLog(node: NodeProcess, what: string, matches: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
  let found: LogLine | undefined;
  try {
    await waitFor(`${node.name} to log ${what}`, () => (found = logLines(node).find(matches)) !== undefined, timeoutMs);
  } catch (error) {
    // The log is the evidence of what happened instead: put its tail in the failure.
    const tail = node.output().split("\n").slice(-15).join("\n");
    throw new Error(`${(error as Error).message}; last output of ${node.name}:\n${tail}`);
  }
  return found!;
}

// ---- state and writes ----

export interface StateEntry {
  value: unknown;
  type: string;
  version: number;
}

/** /v1/state: node → group → key → entry. */
export type StateSnapshot = Record<string, Record<string, Record<string, StateEntry>>>;

export async function clusterState(node: NodeProcess): Promise<StateSnapshot> {
  return (await api<StateSnapshot>(node, "GET", "/v1/state")).body;
}

/** Writes a string entry of this node through PUT /v1/keys; returns its version, throws on refusal. */
export async function putKey(node: NodeProcess, group: string, key: string, value: string): Promise<number> {
  const route = `/v1/keys/${encodeURIComponent(group)}/${encodeURIComponent(key)}`;
  const { status, body } = await api<{ version?: number; error?: string }>(node, "PUT", route, value);
  if (status !== 200 || typeof body?.version !== "number") throw new Error(`PUT ${route} on ${node.name} answered ${status}: ${JSON.stringify(body)}`);
  return body.version;
}

/** Whether every node's /v1/state shows `owner`'s group/key with exactly this value. */
export async function allHold(nodes: readonly NodeProcess[], owner: string, group: string, key: string, value: unknown): Promise<boolean> {
  const states = await Promise.all(nodes.map((node) => clusterState(node)));
  return states.every((state) => state[owner]?.[group]?.[key]?.value === value);
}

// ---- clusters ----

export interface ClusterOptions {
  names: readonly string[];
  gossipIntervalMs?: number;
  /** Extra flags per node (TLS files differ per node). */
  flags?: (name: string) => string[];
  command?: string[];
  /** Extra environment for every node (e.g. GOFERBROKE_PUSH_FANOUT=0). */
  env?: Record<string, string>;
  /** Bound on start-up until every node sees every other alive. */
  timeoutMs?: number;
}

/**
 * Starts a cluster: the first name is the seed and every other node joins through it. Resolves
 * once every node lists all of them as alive; the seed is the first element.
 */
export async function startCluster(options: ClusterOptions): Promise<NodeProcess[]> {
  const [seedName, ...others] = options.names;
  if (seedName === undefined) throw new Error("startCluster needs at least one name");
  const common = (name: string, extraFlags: string[] = []) => ({
    name,
    flags: [...extraFlags, ...(options.flags?.(name) ?? [])],
    ...(options.gossipIntervalMs !== undefined ? { gossipIntervalMs: options.gossipIntervalMs } : {}),
    ...(options.command ? { command: options.command } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  const seed = await startNode(common(seedName, ["-mode=seed"]));
  const rest = await Promise.all(others.map((name) => startNode({ ...common(name), seeds: [seed.address] })));
  const nodes = [seed, ...rest];
  const timeoutMs = options.timeoutMs ?? 20_000;
  await Promise.all(nodes.map((node) => waitHealthy(node, timeoutMs)));
  await waitAllAlive(nodes, options.names, timeoutMs);
  return nodes;
}

/** Waits until every node's /v1/members lists each name as alive. */
export async function waitAllAlive(nodes: readonly NodeProcess[], names: readonly string[], timeoutMs = 15_000): Promise<number> {
  return await waitFor(
    `${nodes.map((node) => node.name).join(", ")} to see ${names.join(", ")} alive`,
    async () => {
      const tables = await Promise.all(nodes.map((node) => members(node)));
      return tables.every((rows) => names.every((name) => rows.some((row) => row.name === name && row.state === "alive")));
    },
    timeoutMs,
  );
}

// ---- events ----

export interface EventStream {
  /** Settles once the node has accepted the stream (its first bytes arrived). */
  ready: Promise<void>;
  close(): void;
}

/**
 * Reads the node's /v1/events server-sent events, calling onEvent with each parsed event and the
 * performance.now() at which its line arrived. Comments (heartbeats) are skipped.
 */
export function openEventStream(node: NodeProcess, onEvent: (event: Record<string, unknown>, arrivedAt: number) => void): EventStream {
  const abort = new AbortController();
  let markReady: () => void = () => {};
  let failReady: (error: unknown) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => ((markReady = resolve), (failReady = reject)));
  void (async () => {
    try {
      const response = await fetch(`http://${node.clientHost}:${node.clientPort}/v1/events`, { signal: abort.signal });
      if (!response.ok || !response.body) throw new Error(`${node.name} /v1/events answered ${response.status}`);
      const decoder = new TextDecoder();
      let pending = "";
      for await (const chunk of response.body) {
        const arrivedAt = performance.now();
        markReady();
        pending += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, end);
          pending = pending.slice(end + 1);
          if (line.startsWith("data:")) onEvent(JSON.parse(line.slice(5)) as Record<string, unknown>, arrivedAt);
        }
      }
    } catch (error) {
      failReady(error);
    }
  })();
  return { ready, close: () => abort.abort() };
}

// ---- the CLI as a command ----
// Processes started with arguments exactly as given: flag spellings, subcommands, usage errors.
// stdout and stderr are kept apart (usage errors and JSON logs go to stderr, command output to
// stdout). They are tracked like nodes, so killAll ends them too.

export interface CliProcess {
  process: Subprocess<"ignore", "pipe", "pipe">;
  stdout(): string;
  stderr(): string;
  /** Both streams, interleaved as they arrived. */
  output(): string;
}

export interface CliOptions {
  /** Default: `bun src/cli/main.ts`. */
  command?: string[];
  env?: Record<string, string>;
  /** Working directory; default this process's (a compiled binary must not need the source tree). */
  cwd?: string;
}

const cliProcesses = new Set<CliProcess>();
/** Settles once a process's stdout and stderr have ended (after exit, the pipes may still hold output). */
const drainedOutput = new WeakMap<CliProcess, Promise<unknown>>();

/** Starts the CLI with exactly these arguments and captures its output; it runs until it exits or is killed. */
export function spawnCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  const child = Bun.spawn([...(options.command ?? [process.execPath, cliEntry]), ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  });
  const captured = { stdout: "", stderr: "", both: "" };
  const collect = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      captured[into] += text;
      captured.both += text;
    }
  };
  const drained = Promise.all([collect(child.stdout, "stdout"), collect(child.stderr, "stderr")]);
  const cli: CliProcess = {
    process: child,
    stdout: () => captured.stdout,
    stderr: () => captured.stderr,
    output: () => captured.both,
  };
  drainedOutput.set(cli, drained);
  cliProcesses.add(cli);
  void child.exited.then(() => drained).then(() => cliProcesses.delete(cli));
  return cli;
}

export interface CliResult {
  exitCode: number | null;
  signalCode: Subprocess["signalCode"];
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Runs the CLI to completion; kills it and throws if it has not exited within timeoutMs. */
export async function runCli(args: readonly string[], options: CliOptions & { timeoutMs?: number } = {}): Promise<CliResult> {
  const started = performance.now();
  const cli = spawnCli(args, options);
  const timeoutMs = options.timeoutMs ?? 15_000;
  const exited = await Promise.race([cli.process.exited.then(() => true), Bun.sleep(timeoutMs).then(() => false)]);
  if (!exited) {
    cli.process.kill("SIGKILL");
    await cli.process.exited;
    throw new Error(`goferbroke ${args.join(" ")} did not exit within ${timeoutMs} ms; output so far:\n${cli.output()}`);
  }
  const elapsedMs = performance.now() - started;
  await drainedOutput.get(cli);
  return { exitCode: cli.process.exitCode, signalCode: cli.process.signalCode, stdout: cli.stdout(), stderr: cli.stderr(), elapsedMs };
}

/** Waits (bounded) until the process's output matches; returns the match. */
export async function waitForOutput(cli: CliProcess, pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  let match: RegExpMatchArray | null = null;
  await waitFor(`output matching ${pattern}`, () => {
    match = cli.output().match(pattern);
    if (match === null && cli.process.exitCode !== null) throw new Error(`exited with ${cli.process.exitCode} before printing ${pattern}:\n${cli.output()}`);
    return match !== null;
  }, timeoutMs);
  return match as unknown as RegExpMatchArray;
}

export interface RawNodeOptions extends CliOptions {
  name: string;
  nodePort: number;
  clientPort: number;
  /** The IP the node listens on and serves its client port on; default 127.0.0.1. */
  host?: string;
  /** The whole command line; it must make the node listen on nodePort and serve clientPort. */
  args: string[];
}

/**
 * Starts a node from a command line written out by the caller (any flag spelling, config files)
 * and registers it like startNode does, so waitHealthy, members, stopNode and killAll work.
 * restartNode restarts it with startNode's default flags, not with these arguments.
 */
export function startNodeWithArgs(options: RawNodeOptions): NodeProcess {
  const cli = spawnCli(options.args, options);
  cliProcesses.delete(cli); // tracked as a node instead
  const node: NodeProcess = {
    name: options.name,
    nodePort: options.nodePort,
    clientPort: options.clientPort,
    clientHost: options.host ?? "127.0.0.1",
    address: `${options.host ?? "127.0.0.1"}:${options.nodePort}`,
    process: cli.process,
    output: cli.output,
    startOptions: { name: options.name, nodePort: options.nodePort, clientPort: options.clientPort, ...(options.command ? { command: options.command } : {}) },
  };
  running.add(node);
  return node;
}

async function killCliProcesses(): Promise<void> {
  await Promise.all(
    [...cliProcesses].map(async (cli) => {
      if (cli.process.exitCode === null && cli.process.signalCode === null) cli.process.kill("SIGKILL");
      await cli.process.exited;
      cliProcesses.delete(cli);
    }),
  );
}
