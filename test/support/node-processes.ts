// Starts GoferBroke nodes as real processes (the CLI from source, or a compiled binary) on
// 127.0.0.1, talks to them through their client ports, and always kills them. Every wait has a
// deadline, so a broken feature fails a test instead of hanging CI.

import { createServer } from "node:net";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const repoRoot = join(import.meta.dir, "..", "..");
export const cliEntry = join(repoRoot, "src", "cli", "main.ts");

export interface NodeProcess {
  name: string;
  nodePort: number;
  clientPort: number;
  address: string;
  process: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
}

export interface StartOptions {
  name: string;
  seeds?: string[];
  /** Extra CLI flags (e.g. --cluster-name, --secret-file, TLS files). */
  flags?: string[];
  /** Run this executable instead of `bun src/cli/main.ts`, e.g. dist/goferbroke. */
  command?: string[];
  nodePort?: number;
  gossipIntervalMs?: number;
  env?: Record<string, string>;
}

const running = new Set<NodeProcess>();

/** A free TCP port on 127.0.0.1 (the OS picks it; the tiny race is acceptable for tests). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startNode(options: StartOptions): Promise<NodeProcess> {
  const nodePort = options.nodePort ?? (await freePort());
  const clientPort = await freePort();
  const address = `127.0.0.1:${nodePort}`;
  const command = options.command ?? [process.execPath, cliEntry];
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
  const node: NodeProcess = { name: options.name, nodePort, clientPort, address, process: child, output: () => captured };
  running.add(node);
  return node;
}

/** Waits until the node's client port answers /healthz. */
export async function waitHealthy(node: NodeProcess, timeoutMs = 10_000): Promise<void> {
  await waitFor(`${node.name} to answer /healthz`, async () => {
    if (node.process.exitCode !== null) throw new Error(`${node.name} exited with ${node.process.exitCode}:\n${node.output()}`);
    try {
      return (await fetch(`http://127.0.0.1:${node.clientPort}/healthz`, { signal: AbortSignal.timeout(1000) })).ok;
    } catch {
      return false;
    }
  }, timeoutMs);
}

export async function api<T = unknown>(node: NodeProcess, method: string, route: string, body?: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`http://127.0.0.1:${node.clientPort}${route}`, {
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
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const deadline = started + timeoutMs;
  for (;;) {
    if (await condition()) return performance.now() - started;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(50);
  }
}

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
}
