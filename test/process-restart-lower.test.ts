// A node killed with SIGKILL and restarted, without a data dir, with a lower generation than the
// cluster remembers (GOFERBROKE_GENERATION=1000, as after the clock stepped back), or with the
// very generation it ran at: 3 real processes. The handshake tells it what the others remember of
// its name; it renews its identity above that, both sides log the gap with both generations, and
// within 15 s its new write is on every node and every node lists it alive at the new generation.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { allHold, killAll, members, putKey, restartNode, startCluster, stopNode, waitAllAlive, waitFor, waitForLog, type NodeProcess } from "./support/node-processes.ts";

setDefaultTimeout(90_000);

const NAMES = ["alpha", "bravo", "charlie"] as const;
/** What the issue asks: the restarted node's write visible on the others, and it listed alive, within 15 s. */
const REJOIN_WITHIN_MS = 15_000;

let nodes: NodeProcess[] = [];

beforeAll(async () => {
  nodes = await startCluster({ names: NAMES, gossipIntervalMs: 200 });
});

afterAll(killAll);

async function generationsOf(name: string, on: readonly NodeProcess[]): Promise<number[]> {
  return await Promise.all(on.map(async (node) => (await members(node)).find((row) => row.name === name)?.generation ?? -1));
}

/** Kills charlie with SIGKILL, restarts it with `generation`, and checks that it rejoins above `remembered`. */
async function restartAt(generation: number, remembered: number, key: string): Promise<void> {
  const victim = nodes[2]!;
  const others = nodes.slice(0, 2);
  await stopNode(victim, "SIGKILL");
  const restarted = await restartNode(victim, { env: { GOFERBROKE_GENERATION: String(generation) } });
  nodes[2] = restarted;
  const startedAt = performance.now();
  await waitForLog(restarted, "charlie to renew its identity", (line) => line.msg.includes("renewing its identity at generation"), REJOIN_WITHIN_MS);
  // Written once the node runs under its new identity, so it is the new incarnation's write.
  await waitFor("charlie to take its write", async () => {
    try {
      await putKey(restarted, "app", key, "after restart");
      return true;
    } catch {
      return false;
    }
  }, REJOIN_WITHIN_MS);
  await waitFor("alpha and bravo to hold charlie's new write", () => allHold(others, "charlie", "app", key, "after restart"), REJOIN_WITHIN_MS);
  await waitAllAlive(nodes, NAMES, REJOIN_WITHIN_MS);
  const rejoinedMs = performance.now() - startedAt;
  const seen = await generationsOf("charlie", nodes);
  console.log(`charlie restarted at generation ${generation} (cluster remembered ${remembered}); rejoined at ${seen[0]} in ${Math.round(rejoinedMs)} ms`);
  expect(rejoinedMs).toBeLessThan(REJOIN_WITHIN_MS);
  expect(new Set(seen).size).toBe(1);
  expect(seen[0]).toBe(remembered + 1);

  const renewal = restarted.output().split("\n").find((line) => line.includes("renewing its identity at generation"))!;
  expect(renewal).toContain(`announced generation ${generation}`);
  expect(renewal).toContain(`renewing its identity at generation ${remembered + 1}`);
}

describe("a node restarted (SIGKILL) without a data dir", () => {
  test("with a lower generation (GOFERBROKE_GENERATION=1000) rejoins: renewed above the remembered one, logged on both sides", async () => {
    const [before] = await generationsOf("charlie", nodes.slice(0, 1));
    expect(before).toBeGreaterThan(1000);
    await restartAt(1000, before!, "after-lower");
    // The side that remembered the old generation logs the gap too, with both generations.
    const logged = await Promise.race(
      nodes.slice(0, 2).map((node) => waitForLog(node, "a peer to log charlie's gap", (line) => line.msg.includes("node charlie announced generation 1000, below the"), 5_000)),
    );
    expect(logged.msg).toContain(`below the ${before} remembered here`);
  });

  test("with the very generation it ran at rejoins too: the others remember more heartbeats than the new process has", async () => {
    const [current] = await generationsOf("charlie", nodes.slice(0, 1));
    await restartAt(current!, current!, "after-same");
  });
});
