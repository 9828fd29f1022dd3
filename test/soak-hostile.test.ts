// The short CI version of `bun run soak:hostile` (issue #16): each attack for about a second against
// one node of a 3-node cluster of the compiled binary, plain mode only, while a legitimate writer
// writes. It asserts the bars that hold on a loaded CI machine: every legitimate write delivered to
// the other two nodes within 5 s, the attacked node's RSS within 2x idle plus the documented
// per-connection bound, and a clean exit on SIGTERM afterwards. /healthz p99 is reported, and held
// to a generous 2 s only (the soak's bar is 200 ms, on a quiet machine).
//
// Attacks that do not meet the bars on this branch yet (OPEN, naming why) still run and print their
// row, but only the attack running its course is asserted: their figures vary from run to run
// around the bars, so neither passing nor failing could be asserted reliably.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Attack, ATTACKS, HTTP_ATTACKS } from "../scripts/bench/attacks.ts";
import { row, SoakCluster } from "../scripts/bench/soak-hostile.ts";
import { ensureHostBinary } from "./support/binary.ts";

// A build (when stale), a cluster start, then per attack ~1 s of attack and up to 5.5 s of delivery.
setDefaultTimeout(60_000);

const ATTACK_MS = 1_000;
const GENEROUS_HEALTHZ_MS = 2_000;

/** Open on this branch: the member caps and probation are being added on h/members. */
const OPEN: Record<string, string> = {
  "fake members (10,000 names in digests)": "10,000 made-up members wedge the node (member caps: h/members)",
  "1.5 M entries for one node": "the first maxEntriesPerNode (100,000) entries of a made-up node apply and stall the node for seconds, past the RSS bound",
  "HTTP: large state dumps (/v1/state, 10 nodes x 2,000 entries)": "20,000 entries held and dumped as JSON go past 2x idle RSS; /healthz slows during dumps",
};

let cluster: SoakCluster | null = null;

async function freshCluster(): Promise<SoakCluster> {
  if (!cluster) {
    cluster = new SoakCluster("plain");
    await cluster.start();
  }
  return cluster;
}

beforeAll(async () => {
  await ensureHostBinary();
}, 150_000);

afterAll(async () => {
  await cluster?.stop();
});

async function attackAndCheck(attack: Attack, open: boolean): Promise<void> {
  const soak = await freshCluster();
  const result = await soak.attack(attack, ATTACK_MS);
  console.log(row(result));
  // As the soak does: after a row that missed a bar, what the attack left behind (a wedged node,
  // 100,000 planted entries) must not count against the next attack, which gets a fresh cluster.
  const recovered = result.passed && (await soak.restartTarget().then(() => true, () => false));
  if (!recovered) {
    await soak.stop();
    cluster = null;
  }
  expect(result.failure).toBe("");
  if (open) return;
  expect({ delivered: result.delivered, maxDelayWithin5s: result.maxDelayMs <= 5_000 }).toEqual({ delivered: result.writes, maxDelayWithin5s: true });
  expect(result.writes).toBeGreaterThan(0);
  expect(result.maxRssMiB).toBeLessThanOrEqual(result.rssBoundMiB);
  expect(result.healthzP99Ms).toBeLessThan(GENEROUS_HEALTHZ_MS);
  expect(result.sigtermClean).toBe(true);
}

describe("hostile soak, short: each attack against a cluster of the binary, plain mode", () => {
  for (const attack of [...ATTACKS, ...HTTP_ATTACKS]) {
    const open = OPEN[attack.name];
    test(open ? `${attack.name} (open, bars reported only: ${open})` : attack.name, () => attackAndCheck(attack, open !== undefined));
  }
});
