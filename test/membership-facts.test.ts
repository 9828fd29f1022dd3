// Membership verdicts as versioned facts (issue #18): since protocol 4 only a node's monitors
// suspect it on their own evidence, so a node that misses their verdict frames (it was stalled, or
// cut off) must still reach the verdict. Whole simulated nodes; each case fails without the
// mechanism it names (the stalled node then lists the crashed one alive for good).

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { defaultMembershipSettings } from "../src/membership/membership.ts";
import { ringPredecessors } from "../src/membership/monitor-ring.ts";
import { startMembershipCluster } from "../src/sim/failure-detection.ts";
import type { SimulatedCluster } from "../src/sim/simulated-cluster.ts";

setDefaultTimeout(120_000); // whole simulated nodes: seconds on a quiet machine, longer on a loaded one

const N = 8;

function statusOf(cluster: SimulatedCluster, observer: string, subject: string): string | undefined {
  return cluster.node(observer).node.members().find((member) => member.name === subject)?.state;
}

/** A node that does not watch `victim` directly (not one of its ring predecessors on the shared view), other than the victim. */
function nonMonitorOf(cluster: SimulatedCluster, victim: string): string {
  const names = cluster.nodes.map((node) => node.name);
  const monitors = ringPredecessors(victim, names, defaultMembershipSettings.monitorsPerNode);
  const name = names.find((candidate) => candidate !== victim && !monitors.includes(candidate));
  if (!name) throw new Error(`every node watches ${victim}`);
  return name;
}

/** Runs round by round until `observer` no longer lists `subject` alive; the seconds it took, or -1 within `maxSeconds`. */
function secondsUntilNotAlive(cluster: SimulatedCluster, observer: string, subject: string, maxSeconds: number): number {
  for (let second = 1; second <= maxSeconds; second++) {
    cluster.runFor(1000);
    if (statusOf(cluster, observer, subject) !== "alive" && statusOf(cluster, observer, subject) !== "suspect") return second;
  }
  return -1;
}

/**
 * Crashes the node at `victimIndex` and stalls a node that does not watch it for `stallMs`, until
 * `stallMs` + 1 s; checks that the staller still lists the victim alive and the others `othersSee`.
 */
async function stalledThroughCrash(seed: number, victimIndex: number, stallMs: number, deadRemovalMs: number, othersSee: string | undefined) {
  const cluster = await startMembershipCluster({ nodes: N, seed, warmUpMs: 20_000, membership: { deadRemovalMs, leftRemovalMs: deadRemovalMs } });
  const victim = cluster.nodes[victimIndex]!.name;
  const staller = nonMonitorOf(cluster, victim);
  cluster.crash(victim);
  cluster.stall(staller, stallMs);
  cluster.runFor(stallMs + 1000);
  expect(statusOf(cluster, staller, victim)).toBe("alive");
  for (const node of cluster.running()) if (node.name !== staller) expect(statusOf(cluster, node.name, victim)).toBe(othersSee);
  return { cluster, victim, staller };
}

describe(`verdicts as facts, ${N} simulated whole nodes`, () => {
  test("a node stalled through a crash, and not a monitor of it, convicts it after the stall's grace, on the monitors' gone fact", async () => {
    // Dead nodes are kept for 60 s: no removal (and so no page that lacks the node) helps here.
    // The monitors convict within ~6 s, while the staller is stalled; their verdict frames reach it
    // during its stall's grace (stall length + 2 s after it), when it takes no one's word.
    const { cluster, victim, staller } = await stalledThroughCrash(31, 3, 8_000, 60_000, "dead");
    const seconds = secondsUntilNotAlive(cluster, staller, victim, 20);
    // After the grace (about 10 s from the stall's end) one probe round, then dead.
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(14);
    expect(statusOf(cluster, staller, victim)).toBe("dead");
  });

  test("a node stalled past dead removal through a crash convicts it once a settled peer's page lacks it", async () => {
    // Gone facts live deadRemovalMs (10 s): expired before the staller resumes, 18 s in. The others
    // removed the victim by then, and remember the removal for 20 s.
    const { cluster, victim, staller } = await stalledThroughCrash(32, 5, 18_000, 10_000, undefined);
    // The guard holds until ~20 s after the stall's end; the removal is forgotten ~30 s after the
    // crash (then the staller's pages would teach the victim anew, the open zombie case).
    const seconds = secondsUntilNotAlive(cluster, staller, victim, 20);
    expect(seconds).toBeGreaterThan(0);
    expect(statusOf(cluster, staller, victim)).toBe("dead");
  });

  test("a live node convicted by a non-monitor that missed its self-defence is alive there again on a revival check", async () => {
    // The dead retry is off, so only the checks after a conviction (Answers.recheckDead) can tell
    // the non-monitor that the node lives: without them it held the node dead for good.
    const cluster = await startMembershipCluster({ nodes: N, seed: 33, warmUpMs: 20_000, membership: { deadRetryProbability: 0 } });
    const victim = cluster.nodes[4]!.name;
    const accuser = nonMonitorOf(cluster, victim);
    // The victim stalls long enough for its monitors to convict it, and everything it sends the
    // accuser is lost until 3 s after the stall: the accuser's own probe fails, so it convicts
    // too, and misses the self-defence the victim sends when it resumes.
    cluster.network.blockOneWay([victim], [accuser]);
    cluster.stall(victim, 10_000);
    cluster.runFor(13_000);
    expect(statusOf(cluster, accuser, victim)).toBe("dead");
    cluster.network.heal();
    let seconds = -1;
    for (let second = 1; second <= 40 && seconds < 0; second++) {
      cluster.runFor(1000);
      if (statusOf(cluster, accuser, victim) === "alive") seconds = second;
    }
    expect(seconds).toBeGreaterThan(0);
    for (const node of cluster.running()) if (node.name !== victim) expect(statusOf(cluster, node.name, victim)).toBe("alive");
  });
});

