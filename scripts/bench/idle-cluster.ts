// Idle traffic and footprint of a real cluster (issue #18: at most 4 KiB/s per node at N = 100,
// and where each MiB of a node's private memory goes). N node processes on 127.0.0.1 at the
// default 1 s gossip interval, joined through the first; once every node lists all N alive and
// `--settle` seconds more have passed (30 by default, as in bench:serf), the bytes each wrote to
// its peer connections (goferbroke_transport_sent_bytes_total on /metrics, frame headers and
// handshakes included) are read twice, `--seconds` apart, with no writes in between. At the end of that window each node's private memory (RssAnon in /proc) is split into
// the JavaScript heap and what its objects hold outside it (nodejs_* on /metrics) and the rest
// (runtime, compiled code, memory the allocator keeps), beside the runtime's floor: a compiled
// 3-line Bun.listen program, measured in the same run with the same environment.
//
//   bun scripts/bench/idle-cluster.ts --nodes 100 --seconds 30
//   bun scripts/bench/idle-cluster.ts --nodes 100 --binary dist/goferbroke --env MIMALLOC_PURGE_DELAY=-1
//
// Prints the mean and max per node, the gossip share (goferbroke_gossip_sent_bytes_total) and the
// CPU each node used over the window (utime + stime from /proc).

import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type NodeProcess, killAll, members, startNode, waitFor, waitHealthy } from "../../test/support/node-processes.ts";
import { clockTicksPerSecond, cpuTicks, mean, memory } from "./serf-harness.ts";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "100" },
    seconds: { type: "string", default: "30" },
    settle: { type: "string", default: "30" },
    binary: { type: "string" },
    env: { type: "string", multiple: true, default: [] },
  },
});
const count = Number(values.nodes);
const seconds = Number(values.seconds);
if (!Number.isInteger(count) || count < 2 || count > 500) throw new Error(`--nodes must be an integer from 2 to 500, got ${values.nodes}`);
if (!Number.isInteger(seconds) || seconds < 5 || seconds > 600) throw new Error(`--seconds must be an integer from 5 to 600, got ${values.seconds}`);
const settleSeconds = Number(values.settle);
if (!Number.isInteger(settleSeconds) || settleSeconds < 0 || settleSeconds > 600) throw new Error(`--settle must be an integer from 0 to 600, got ${values.settle}`);
const env: Record<string, string> = {};
for (const pair of values.env) {
  const at = pair.indexOf("=");
  if (at < 1) throw new Error(`--env expects NAME=VALUE, got ${pair}`);
  env[pair.slice(0, at)] = pair.slice(at + 1);
}
const command = values.binary === undefined ? {} : { command: [values.binary] };

/** RssAnon of a compiled program that only listens, after it settled: what any Bun process costs. */
async function runtimeFloor(): Promise<number> {
  const dir = join(tmpdir(), `goferbroke-floor-${process.pid}`);
  const source = join(dir, "listen.ts");
  const binary = join(dir, "listen");
  try {
    await Bun.write(source, 'Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });\nsetInterval(() => {}, 1000);\n');
    const build = Bun.spawnSync([process.execPath, "build", "--compile", source, "--outfile", binary], { stdout: "ignore", stderr: "pipe" });
    if (build.exitCode !== 0) throw new Error(`cannot compile the floor program: ${build.stderr.toString()}`);
    const child = Bun.spawn([binary], { env: { ...process.env, ...env }, stdout: "ignore", stderr: "ignore" });
    await Bun.sleep(3_000);
    const bytes = memory(child.pid).anonBytes;
    child.kill();
    await child.exited;
    return bytes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A counter family's total on a node's /metrics (summed over its labels). */
async function counter(node: NodeProcess, family: string): Promise<number> {
  const text = await (await fetch(`http://${node.clientHost}:${node.clientPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  let total = 0;
  for (const line of text.split("\n")) if (line.startsWith(family)) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  return total;
}

async function readAll(nodes: NodeProcess[], family: string): Promise<number[]> {
  const values: number[] = [];
  for (const node of nodes) values.push(await counter(node, family));
  return values;
}

const started = performance.now();
try {
  const seed = await startNode({ name: "idle-0", gossipIntervalMs: 1000, env, ...command });
  await waitHealthy(seed, 60_000);
  const nodes = [seed];
  for (let i = 1; i < count; i++) nodes.push(await startNode({ name: `idle-${i}`, seeds: [seed.address], gossipIntervalMs: 1000, env, ...command }));
  for (const node of nodes) await waitHealthy(node, 120_000);
  await waitFor(`all ${count} nodes to list ${count} members alive`, async () => {
    for (const node of nodes) {
      const alive = (await members(node)).filter((member) => member.state === "alive").length;
      if (alive < count - 1) return false;
    }
    return true;
  }, 600_000);
  const joinedMs = performance.now() - started;
  // As in bench:serf: the JIT compiles the hot paths for a while after start, which is start-up
  // cost, not idle cost.
  await Bun.sleep(settleSeconds * 1000);
  const [transportBefore, gossipBefore] = [await readAll(nodes, "goferbroke_transport_sent_bytes_total"), await readAll(nodes, "goferbroke_gossip_sent_bytes_total")];
  const ticksBefore = nodes.map((node) => cpuTicks(node.process.pid));
  const windowStarted = performance.now();
  await Bun.sleep(seconds * 1000);
  const ticksAfter = nodes.map((node) => cpuTicks(node.process.pid));
  const windowSeconds = (performance.now() - windowStarted) / 1000;
  const [transportAfter, gossipAfter] = [await readAll(nodes, "goferbroke_transport_sent_bytes_total"), await readAll(nodes, "goferbroke_gossip_sent_bytes_total")];
  const rate = (after: number[], before: number[]) => after.map((value, i) => (value - before[i]!) / seconds / 1024);
  const transport = rate(transportAfter, transportBefore);
  const gossip = rate(gossipAfter, gossipBefore);
  console.log(`${count} processes, all alive everywhere after ${(joinedMs / 1000).toFixed(1)} s; idle window ${seconds} s after ${settleSeconds} s of settling`);
  console.log(`bytes written to peers per node: mean ${mean(transport).toFixed(2)} KiB/s, max ${Math.max(...transport).toFixed(2)} KiB/s (bar 4 KiB/s)`);
  console.log(`of which gossip messages: mean ${mean(gossip).toFixed(2)} KiB/s, max ${Math.max(...gossip).toFixed(2)} KiB/s`);
  const ticksPerSecond = clockTicksPerSecond();
  const cpuPercent = ticksAfter.map((ticks, i) => ((ticks - ticksBefore[i]!) / ticksPerSecond / windowSeconds) * 100);
  console.log(`CPU per node over the window: mean ${mean(cpuPercent).toFixed(2)} %, max ${Math.max(...cpuPercent).toFixed(2)} % of one core`);
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  const anon = mean(nodes.map((node) => memory(node.process.pid).anonBytes));
  const heap = mean(await readAll(nodes, "nodejs_heap_size_total_bytes"));
  const external = mean(await readAll(nodes, "nodejs_external_memory_bytes"));
  const floor = await runtimeFloor();
  console.log(`private memory (RssAnon) per node: mean ${mib(anon)} MiB = JS heap ${mib(heap)} + held outside it ${mib(external)} + the rest ${mib(anon - heap - external)} (runtime, compiled code, memory the allocator keeps); a compiled 3-line Bun.listen program: ${mib(floor)} MiB`);
} finally {
  await killAll();
}
