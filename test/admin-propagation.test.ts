// The propagation-delay histogram of /metrics in a real 3-process cluster. Writes (sets, then
// deletes) are made one at a time on one node through its client port; each other node must count
// exactly one observation per write it applied, with delays no longer than the time the test itself
// saw pass between starting the write and reading it back there. The writer counts none: its own
// writes are not propagation. A node that joins later does not count the writes it catches up on.

import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { api, clusterState, killAll, putKey, startCluster, startNode, waitAllAlive, waitFor, waitHealthy, type NodeProcess } from "./support/node-processes.ts";

setDefaultTimeout(90_000);
afterEach(killAll);

const FAMILY = "goferbroke_propagation_delay_seconds";
const WRITE_MS = 10_000; // bound for one write to show up on both other nodes

interface Histogram {
  count: number;
  sum: number;
  /** Cumulative bucket counts by their `le` label. */
  buckets: Map<string, number>;
}

async function scrapeHistogram(node: NodeProcess): Promise<Histogram> {
  const response = await fetch(`http://127.0.0.1:${node.clientPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
  expect(response.status).toBe(200);
  const histogram: Histogram = { count: Number.NaN, sum: Number.NaN, buckets: new Map() };
  for (const line of (await response.text()).split("\n")) {
    const bucket = new RegExp(`^${FAMILY}_bucket\\{le="([^"]+)"\\} (\\S+)$`).exec(line);
    if (bucket) histogram.buckets.set(bucket[1]!, Number(bucket[2]));
    const total = new RegExp(`^${FAMILY}_(count|sum) (\\S+)$`).exec(line);
    if (total) histogram[total[1] as "count" | "sum"] = Number(total[2]);
  }
  expect(Number.isFinite(histogram.count) && Number.isFinite(histogram.sum)).toBe(true);
  return histogram;
}

test("each node counts one delay per write it applied from another node, within the time the write really took", async () => {
  // Pushing off: writes travel by gossip rounds, so every delay spans at least some milliseconds.
  const nodes = await startCluster({ names: ["writer", "reader-1", "reader-2"], gossipIntervalMs: 200, env: { GOFERBROKE_PUSH_FANOUT: "0" } });
  const [writer, ...readers] = nodes as [NodeProcess, NodeProcess, NodeProcess];
  const before = await Promise.all(nodes.map(scrapeHistogram));

  /** Per reader, the wall-clock ms from starting each write to seeing it there: each delay's upper bound. */
  const elapsed = readers.map(() => [] as number[]);
  async function write(what: string, run: () => Promise<unknown>, arrived: (state: Awaited<ReturnType<typeof clusterState>>) => boolean): Promise<void> {
    const startedAt = Date.now();
    await run();
    await Promise.all(
      readers.map(async (reader, index) => {
        await waitFor(`${reader.name} to apply ${what}`, async () => arrived(await clusterState(reader)), WRITE_MS);
        elapsed[index]!.push(Date.now() - startedAt);
      }),
    );
  }
  const keys = ["a", "b", "c", "d", "e", "f"];
  for (const key of keys) {
    await write(`set ${key}`, () => putKey(writer, "prop", key, `value-${key}`), (state) => state.writer?.prop?.[key]?.value === `value-${key}`);
  }
  for (const key of keys.slice(0, 2)) {
    await write(`delete ${key}`, async () => expect((await api(writer, "DELETE", `/v1/keys/prop/${key}`)).status).toBe(200), (state) => state.writer?.prop?.[key] === undefined);
  }
  const writes = keys.length + 2;

  const after = await Promise.all(nodes.map(scrapeHistogram));
  expect(after[0]!.count).toBe(before[0]!.count); // the writer's own writes are never observed
  readers.forEach((reader, index) => {
    const [was, now] = [before[index + 1]!, after[index + 1]!];
    const upperBound = elapsed[index]!.reduce((sum, ms) => sum + ms, 0) / 1000;
    expect({ reader: reader.name, observed: now.count - was.count }).toEqual({ reader: reader.name, observed: writes });
    const sum = now.sum - was.sum;
    expect(sum).toBeGreaterThan(0);
    // Each delay is at most what the test saw elapse for it (+1 ms: writtenAt is whole ms).
    expect(sum).toBeLessThanOrEqual(upperBound + writes * 0.001);
    expect(now.buckets.get("+Inf")).toBe(now.count);
  });
});

test("a node that joins later does not count the writes it catches up on, only the ones made after", async () => {
  const writer = await startNode({ name: "early", flags: ["-mode=seed"] });
  await waitHealthy(writer);
  const old = ["x", "y", "z"];
  for (const key of old) await putKey(writer, "old", key, key);
  const joiner = await startNode({ name: "late", seeds: [writer.address] });
  await waitHealthy(joiner);
  await waitAllAlive([writer, joiner], ["early", "late"]);
  await waitFor("late to catch up on the old writes", async () => {
    const held = (await clusterState(joiner)).early?.old ?? {};
    return old.every((key) => held[key]?.value === key);
  }, WRITE_MS);
  expect((await scrapeHistogram(joiner)).count).toBe(0);

  await putKey(writer, "new", "k", "v");
  await waitFor("late to apply the new write", async () => (await clusterState(joiner)).early?.new?.k?.value === "v", WRITE_MS);
  expect((await scrapeHistogram(joiner)).count).toBe(1);
});
