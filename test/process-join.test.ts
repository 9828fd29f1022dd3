// Joins take round trips, not rounds (issue #18): with 10 s gossip rounds, nodes started at once
// through one seed must list each other alive long before a round could have carried the news.
// What makes it so: a node exchanges at once with a peer it holds no word of (the joiner's seed,
// the seed's joiner); the seed pushes a newcomer's address down the newcomer's push tree; and a
// node contacts a name it holds on probation as soon as its address arrives (node/peers.ts).

import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { type NodeProcess, killAll, members, startNode, waitFor, waitHealthy } from "./support/node-processes.ts";

setDefaultTimeout(60_000);
afterAll(killAll);

const ROUND_MS = 10_000;
const FIRST = ["join-seed", "join-a", "join-b", "join-c", "join-d", "join-e"];
const LATER = ["join-f", "join-g", "join-h"];

/** Starts `names` at once through `seed`; resolves when all answer their API. */
async function startAll(names: readonly string[], seed: NodeProcess | null): Promise<NodeProcess[]> {
  const nodes = await Promise.all(names.map((name) => startNode({ name, gossipIntervalMs: ROUND_MS, ...(seed ? { seeds: [seed.address] } : {}) })));
  await Promise.all(nodes.map((node) => waitHealthy(node)));
  return nodes;
}

/** Waits until every node lists every one of `names` alive; returns how long that took. */
async function allListAlive(nodes: readonly NodeProcess[], names: readonly string[], what: string): Promise<number> {
  return await waitFor(what, async () => {
    const tables = await Promise.all(nodes.map((node) => members(node)));
    return tables.every((rows) => names.every((name) => rows.some((row) => row.name === name && row.state === "alive")));
  }, ROUND_MS / 2);
}

test("with 10 s rounds, nodes joining at once through one seed list each other alive within half a round, and so do three more joining later", async () => {
  const [seed] = await startAll(FIRST.slice(0, 1), null);
  const first = [seed!, ...(await startAll(FIRST.slice(1), seed!))];
  const firstMs = await allListAlive(first, FIRST, "the first six to list each other alive");
  const later = await startAll(LATER, seed!);
  const laterMs = await allListAlive([...first, ...later], [...FIRST, ...LATER], "all nine to list each other alive");
  console.log(`with ${ROUND_MS / 1000} s rounds: 5 joiners listed alive everywhere ${Math.round(firstMs)} ms after they answered, 3 more ${Math.round(laterMs)} ms`);
  expect(Math.max(firstMs, laterMs)).toBeLessThan(ROUND_MS / 2);
});
