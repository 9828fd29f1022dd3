// GoferBroke clusters inside a NetnsLab: the compiled binary (built once per test file into a
// temporary directory), one node per namespace at <subnet>.<i>:7946 with its client port on the
// same address, and what the partition tests check on them: membership seen by every node,
// events recorded from the start, and convergence of written and deleted keys.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SHIPPED_BUILD_FLAGS } from "../../scripts/build-flags.ts";
import type { NetnsLab, NetnsNode } from "./netns.ts";
import {
  cliEntry,
  clusterState,
  members,
  openEventStream,
  startNodeWithArgs,
  waitFor,
  waitHealthy,
  type EventStream,
  type NodeProcess,
} from "./node-processes.ts";

export const NODE_PORT = 7946;
export const CLIENT_PORT = 8946;
/** The smallest dead-removal the options accept: partitions longer than it stay short. */
export const DEAD_REMOVAL_MS = 10_000;
export const GOSSIP_INTERVAL_MS = 200;

export interface BuiltBinary {
  path: string;
  remove(): void;
}

/** `bun build --compile` with the shipped options into a fresh temporary directory (bounded). */
export async function buildBinary(): Promise<BuiltBinary> {
  const dir = mkdtempSync(join(tmpdir(), "goferbroke-netns-"));
  const path = join(dir, "goferbroke");
  const child = Bun.spawn([process.execPath, "build", "--compile", ...SHIPPED_BUILD_FLAGS, cliEntry, "--outfile", path], { stdout: "pipe", stderr: "pipe" });
  const finished = await Promise.race([child.exited.then(() => true), Bun.sleep(120_000).then(() => false)]);
  if (!finished) child.kill("SIGKILL");
  if (!finished || child.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`building the binary failed (${finished ? `exit ${child.exitCode}` : "over 120 s"}): ${await new Response(child.stderr).text()}`);
  }
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface NetnsClusterOptions {
  binary: string;
  /** Extra flags for the node in this namespace (TLS files differ per node). */
  flags?: (node: NetnsNode) => string[];
  /** The address peers dial for this node, when it is not its own (a relay in front of it). */
  advertise?: (node: NetnsNode) => string;
  timeoutMs?: number;
}

export function nodeName(node: NetnsNode): string {
  return `n${node.index}`;
}

/**
 * Starts one node per namespace of the lab, node 1 as the seed of all others, and waits until every
 * node lists every other alive. The nodes are registered with node-processes.ts: killAll ends them.
 */
export async function startNetnsCluster(lab: NetnsLab, options: NetnsClusterOptions): Promise<NodeProcess[]> {
  const seed = lab.node(1);
  const seedAddress = options.advertise?.(seed) ?? `${seed.address}:${NODE_PORT}`;
  const processes = lab.nodes.map((node) =>
    startNodeWithArgs({
      name: nodeName(node),
      host: node.address,
      nodePort: NODE_PORT,
      clientPort: CLIENT_PORT,
      command: lab.command(node, [options.binary]),
      env: { GOFERBROKE_DEAD_REMOVAL: `${DEAD_REMOVAL_MS}ms` },
      args: [
        `-name=${nodeName(node)}`,
        `-nodeAddr=${node.address}:${NODE_PORT}`,
        `-clientPort=${CLIENT_PORT}`,
        `--client-bind=${node.address}`,
        // The test reaches the client ports over the lab's own bridge, which nothing else is on.
        "--client-insecure",
        "--cluster-network=PRIVATE",
        `--gossip-interval=${GOSSIP_INTERVAL_MS}ms`,
        "--log-format=json",
        ...(node === seed ? ["-mode=seed"] : [`-routes=${seedAddress}`]),
        ...(options.advertise ? [`--advertise=${options.advertise(node)}`] : []),
        ...(options.flags?.(node) ?? []),
      ],
    }),
  );
  const timeoutMs = options.timeoutMs ?? 20_000;
  await Promise.all(processes.map((node) => waitHealthy(node, timeoutMs)));
  await waitMembership(processes, processes, "alive", timeoutMs);
  return processes;
}

/** Waits until every observer lists every subject in `state` (or, for "absent", not at all). */
export async function waitMembership(
  observers: readonly NodeProcess[],
  subjects: readonly NodeProcess[],
  state: "alive" | "dead" | "absent",
  timeoutMs: number,
): Promise<number> {
  const what = `${observers.map((node) => node.name).join(",")} to see ${subjects.map((node) => node.name).join(",")} ${state}`;
  return await waitFor(what, async () => {
    const tables = await Promise.all(observers.map((node) => members(node)));
    return tables.every((rows) =>
      subjects.every((subject) => {
        const row = rows.find((candidate) => candidate.name === subject.name);
        return state === "absent" ? row === undefined : row?.state === state;
      }),
    );
  }, timeoutMs);
}

/** Each observer's view: "n2: n1 alive φ0.3, n3 dead φ12.1, …" (printed as what the cluster shows). */
export async function describeMembership(nodes: readonly NodeProcess[]): Promise<string> {
  const lines = await Promise.all(
    nodes.map(async (node) => {
      const rows = (await members(node)).filter((row) => row.name !== node.name);
      return `${node.name} sees ${rows.map((row) => `${row.name} ${row.state} φ${row.phi.toFixed(1)}`).join(", ")}`;
    }),
  );
  return lines.join("\n");
}

export interface RecordedEvent {
  observer: string;
  type: string;
  node: string;
  /** performance.now() when it arrived. */
  at: number;
}

/** Node events every given node raises from now on, until close(). */
export class MembershipRecorder {
  readonly events: RecordedEvent[] = [];
  private readonly streams: EventStream[];

  constructor(nodes: readonly NodeProcess[]) {
    this.streams = nodes.map((observer) =>
      openEventStream(observer, (event, at) => {
        if (typeof event.type === "string" && event.type.startsWith("node-") && typeof event.node === "string") {
          this.events.push({ observer: observer.name, type: event.type, node: event.node, at });
        }
      }),
    );
  }

  async ready(timeoutMs = 5000): Promise<void> {
    await Promise.race([
      Promise.all(this.streams.map((stream) => stream.ready)),
      Bun.sleep(timeoutMs).then(() => Promise.reject(new Error(`event streams not open after ${timeoutMs} ms`))),
    ]);
  }

  /** Events of these types that some observer raised about one of `subjects`. */
  about(subjects: readonly string[], types: readonly string[]): RecordedEvent[] {
    return this.events.filter((event) => subjects.includes(event.node) && types.includes(event.type));
  }

  /**
   * Waits (bounded) until no such event has arrived for quietMs; returns how long after `since` the
   * last one arrived (0 if none did).
   */
  async waitQuiet(subjects: readonly string[], types: readonly string[], since: number, quietMs: number, timeoutMs: number): Promise<number> {
    const lastAt = () => Math.max(since, ...this.about(subjects, types).map((event) => event.at));
    await waitFor(`${quietMs} ms without ${types.join("/")} of ${subjects.join(",")}`, () => performance.now() - lastAt() >= quietMs, timeoutMs);
    return lastAt() - since;
  }

  close(): void {
    for (const stream of this.streams) stream.close();
  }
}

export interface ExpectedEntry {
  owner: string;
  group: string;
  key: string;
  /** The value every node must show; null: no node may show the key at all. */
  value: string | null;
}

/** The entries, on each node, that differ from what is expected (empty once converged). */
export async function entryDifferences(nodes: readonly NodeProcess[], expected: readonly ExpectedEntry[]): Promise<string[]> {
  const states = await Promise.all(nodes.map((node) => clusterState(node)));
  const differences: string[] = [];
  nodes.forEach((node, index) => {
    for (const entry of expected) {
      const shown = states[index]?.[entry.owner]?.[entry.group]?.[entry.key];
      const value = shown === undefined ? null : shown.value;
      if (value !== entry.value) differences.push(`${node.name} shows ${entry.owner}/${entry.group}/${entry.key} = ${JSON.stringify(value)}, expected ${JSON.stringify(entry.value)}`);
    }
  });
  return differences;
}

/** Waits until every node shows exactly the expected entries; the failure lists what still differs. */
export async function waitEntries(nodes: readonly NodeProcess[], expected: readonly ExpectedEntry[], timeoutMs: number): Promise<number> {
  let last: string[] = [];
  try {
    return await waitFor("every node to show the expected entries", async () => (last = await entryDifferences(nodes, expected)).length === 0, timeoutMs);
  } catch (error) {
    throw new Error(`${(error as Error).message}; still different:\n${last.slice(0, 20).join("\n")}`);
  }
}
