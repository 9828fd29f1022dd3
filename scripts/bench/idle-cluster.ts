// Idle traffic of a real cluster (issue #18, bar 1: at most 4 KiB/s per node at N = 100): N node
// processes (`bun src/cli/main.ts`) on 127.0.0.1 at the default 1 s gossip interval, joined
// through the first; once every node lists all N alive, the bytes each wrote to its peer
// connections (goferbroke_transport_sent_bytes_total on /metrics, frame headers and handshakes
// included) are read twice, `--seconds` apart, with no writes in between.
//
//   bun scripts/bench/idle-cluster.ts --nodes 100 --seconds 30
//
// Prints the mean and max per node, and the gossip share (goferbroke_gossip_sent_bytes_total).

import { parseArgs } from "node:util";
import { type NodeProcess, killAll, members, startNode, waitFor, waitHealthy } from "../../test/support/node-processes.ts";

const { values } = parseArgs({ options: { nodes: { type: "string", default: "100" }, seconds: { type: "string", default: "30" } } });
const count = Number(values.nodes);
const seconds = Number(values.seconds);
if (!Number.isInteger(count) || count < 2 || count > 500) throw new Error(`--nodes must be an integer from 2 to 500, got ${values.nodes}`);
if (!Number.isInteger(seconds) || seconds < 5 || seconds > 600) throw new Error(`--seconds must be an integer from 5 to 600, got ${values.seconds}`);

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
  const seed = await startNode({ name: "idle-0", gossipIntervalMs: 1000 });
  await waitHealthy(seed, 60_000);
  const nodes = [seed];
  for (let i = 1; i < count; i++) nodes.push(await startNode({ name: `idle-${i}`, seeds: [seed.address], gossipIntervalMs: 1000 }));
  for (const node of nodes) await waitHealthy(node, 120_000);
  await waitFor(`all ${count} nodes to list ${count} members alive`, async () => {
    for (const node of nodes) {
      const alive = (await members(node)).filter((member) => member.state === "alive").length;
      if (alive < count - 1) return false;
    }
    return true;
  }, 600_000);
  const joinedMs = performance.now() - started;
  const [transportBefore, gossipBefore] = [await readAll(nodes, "goferbroke_transport_sent_bytes_total"), await readAll(nodes, "goferbroke_gossip_sent_bytes_total")];
  await Bun.sleep(seconds * 1000);
  const [transportAfter, gossipAfter] = [await readAll(nodes, "goferbroke_transport_sent_bytes_total"), await readAll(nodes, "goferbroke_gossip_sent_bytes_total")];
  const rate = (after: number[], before: number[]) => after.map((value, i) => (value - before[i]!) / seconds / 1024);
  const transport = rate(transportAfter, transportBefore);
  const gossip = rate(gossipAfter, gossipBefore);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`${count} processes, all alive everywhere after ${(joinedMs / 1000).toFixed(1)} s; idle window ${seconds} s`);
  console.log(`bytes written to peers per node: mean ${mean(transport).toFixed(2)} KiB/s, max ${Math.max(...transport).toFixed(2)} KiB/s (bar 4 KiB/s)`);
  console.log(`of which gossip messages: mean ${mean(gossip).toFixed(2)} KiB/s, max ${Math.max(...gossip).toFixed(2)} KiB/s`);
} finally {
  await killAll();
}
