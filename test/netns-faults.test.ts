// Five compiled nodes, each in its own network namespace, under link faults short of a clean
// partition: a slow and lossy network, a one-way cut, and a flapping link.
//
// Slow and lossy: 50 ms ± 10 ms one-way delay and 5% loss. With tc netem (when the kernel has it)
// on every node's eth0; without it, through a userspace relay in front of every node that
// emulates what TCP shows of such a link (support/relay.ts says exactly what it does and not).
//
// Every wait is bounded; the heal bound is the reconnect backoff's ceiling (30 s) plus a few
// rounds, as in netns-partition.test.ts.

import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { NetnsLab, netnsUnsupportedReason, removeStaleLabs, run, type NetnsNode } from "./support/netns.ts";
import {
  buildBinary,
  describeMembership,
  MembershipRecorder,
  NODE_PORT,
  startNetnsCluster,
  waitEntries,
  waitMembership,
  type BuiltBinary,
  type ExpectedEntry,
} from "./support/netns-cluster.ts";
import { killAll, logLines, members, putKey, type NodeProcess } from "./support/node-processes.ts";
import { LinkRelay, type LinkFaults } from "./support/relay.ts";

setDefaultTimeout(150_000);

const HEAL_BOUND_MS = 35_000;
const SLOW_LINK: LinkFaults = { delayMs: 50, jitterMs: 10, lossRate: 0.05, retransmitMs: 200 };

const unsupported = netnsUnsupportedReason();
if (unsupported !== null) console.log(`skipping the network-namespace fault tests: ${unsupported}`);

describe.skipIf(unsupported !== null)("link faults in network namespaces", () => {
  let binary: BuiltBinary | undefined;
  let lab: NetnsLab | undefined;
  let recorder: MembershipRecorder | undefined;
  const relays: LinkRelay[] = [];

  beforeAll(async () => {
    removeStaleLabs();
    binary = await buildBinary();
  });

  // Each test gets a fresh lab; whatever happened, its nodes, relays and namespaces go.
  afterEach(async () => {
    recorder?.close();
    recorder = undefined;
    await killAll();
    await Promise.all(relays.splice(0).map((relay) => relay.stop()));
    if (lab) {
      lab.remove();
      const leftovers = lab.leftovers();
      lab = undefined;
      expect(leftovers).toEqual([]);
    }
  });

  afterAll(() => binary?.remove());

  function freshLab(label: string): NetnsLab {
    lab = new NetnsLab(5);
    console.log(`${label}: subnet ${lab.subnet}.0/24, cuts with ${lab.cutMethod}`);
    return lab;
  }

  function everyKey(nodes: readonly NodeProcess[], key: string, value: (node: NodeProcess) => string): ExpectedEntry[] {
    return nodes.map((node) => ({ owner: node.name, group: "app", key, value: value(node) }));
  }

  test("50 ms ± 10 ms delay and 5% loss: converges, and nobody is declared dead", async () => {
    const lab = freshLab("slow link");
    const noNetem = lab.netemUnsupportedReason(lab.node(1));
    let advertise: ((node: NetnsNode) => string) | undefined;
    if (noNetem === null) {
      const { delayMs, jitterMs, lossRate } = SLOW_LINK;
      for (const node of lab.nodes) {
        run(lab.command(node, ["tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", `${delayMs}ms`, `${jitterMs}ms`, "loss", `${lossRate * 100}%`]));
      }
      console.log("slow link: tc netem on every eth0");
    } else {
      console.log(`slow link: ${noNetem}; using a TCP relay per node instead (delay, jitter, loss as retransmission stalls)`);
      const byNode = new Map<NetnsNode, LinkRelay>();
      for (const node of lab.nodes) {
        const relay = await LinkRelay.start(lab.hostAddress, { host: node.address, port: NODE_PORT }, SLOW_LINK);
        relays.push(relay);
        byNode.set(node, relay);
      }
      advertise = (node) => byNode.get(node)!.address;
    }

    const nodes = await startNetnsCluster(lab, { binary: binary!.path, ...(advertise ? { advertise } : {}), timeoutMs: 30_000 });
    recorder = new MembershipRecorder(nodes);
    await recorder.ready();

    // 20 s of steady writes on every node under the slow link; then how long the last ones take.
    const started = performance.now();
    for (let second = 0; second < 20; second++) {
      await Bun.sleep(Math.max(0, started + second * 1000 - performance.now()));
      await Promise.all(nodes.map((node) => putKey(node, "app", "counter", `${node.name}-${second}`)));
    }
    const convergedMs = await waitEntries(nodes, everyKey(nodes, "counter", (node) => `${node.name}-19`), 15_000);
    console.log(`slow link: the last writes were on every node ${convergedMs.toFixed(0)} ms after they were made`);

    expect(recorder.about(nodes.map((node) => node.name), ["node-dead"])).toEqual([]);
    await waitMembership(nodes, nodes, "alive", 1000);
    const suspicions = recorder.about(nodes.map((node) => node.name), ["node-suspect"]);
    console.log(`slow link: ${suspicions.length} suspicions raised (and refuted) in 20 s`);
    if (relays.length > 0) {
      // Every peer connection crossed a relay (each node saw its peers at the bridge's address,
      // where the relays listen and dial from), and the relays really stalled some chunks.
      const connections = nodes.flatMap((node) => logLines(node).filter((line) => line.msg.startsWith("connected to ")).map((line) => `${node.name}: ${line.msg}`));
      expect(connections.length).toBeGreaterThanOrEqual(nodes.length - 1);
      expect(connections.filter((line) => !line.includes(`via ${lab.hostAddress}:`))).toEqual([]);
      const totals = relays.reduce((sum, relay) => ({ chunks: sum.chunks + relay.counters.chunks, stalls: sum.stalls + relay.counters.stalls }), { chunks: 0, stalls: 0 });
      console.log(`slow link: the relays forwarded ${totals.chunks} chunks and stalled ${totals.stalls} as lost`);
      expect(totals.stalls).toBeGreaterThan(0);
    }
  });

  test("asymmetric cut (n1 hears n2, n2 does not hear n1): what the cluster shows, and recovery after heal", async () => {
    const lab = freshLab("asymmetric");
    const nodes = await startNetnsCluster(lab, { binary: binary!.path });
    const [n1, n2] = nodes as [NodeProcess, NodeProcess];
    recorder = new MembershipRecorder(nodes);
    await recorder.ready();

    const cutAt = performance.now();
    lab.cut(lab.node(1), lab.node(2));
    // Longer than the ~5 s the partition test measures from cut to dead.
    await Bun.sleep(10_000);
    const suspicions = recorder.about(["n1", "n2"], ["node-suspect"]);
    console.log(`asymmetric: 10 s after cutting n1 → n2:\n${await describeMembership(nodes)}`);
    console.log(`asymmetric: suspicions during the cut: ${suspicions.map((event) => `${event.observer} suspected ${event.node} at +${(event.at - cutAt).toFixed(0)} ms`).join("; ") || "none"}`);
    // Their heartbeats still travel through n3, n4 and n5, so nobody convicts either of them,
    // and what each writes still reaches the other.
    expect(recorder.about(["n1", "n2"], ["node-dead"])).toEqual([]);
    await putKey(n1, "app", "during-cut", "from-n1");
    await putKey(n2, "app", "during-cut", "from-n2");
    const relayedMs = await waitEntries(nodes, everyKey([n1, n2], "during-cut", (node) => `from-${node.name}`), 10_000);
    console.log(`asymmetric: writes of n1 and n2 reached every node through the others in ${relayedMs.toFixed(0)} ms`);

    const healedAt = performance.now();
    lab.heal();
    await waitMembership(nodes, nodes, "alive", HEAL_BOUND_MS);
    await putKey(n1, "app", "after-heal", "n1-after");
    await waitEntries(nodes, [{ owner: "n1", group: "app", key: "after-heal", value: "n1-after" }], HEAL_BOUND_MS);
    // Recovered means the direct watch between n1 and n2 works again: whatever suspicions the cut
    // caused stop, for longer than three times the longest gap between them during the cut.
    const gaps = suspicions.slice(1).map((event, index) => event.at - suspicions[index]!.at);
    const quietMs = Math.max(5000, 3 * Math.max(0, ...gaps));
    const lastMs = await recorder.waitQuiet(["n1", "n2"], ["node-suspect", "node-dead"], healedAt, quietMs, HEAL_BOUND_MS + quietMs);
    console.log(`asymmetric: the last suspicion came ${lastMs.toFixed(0)} ms after heal, then none for ${quietMs.toFixed(0)} ms`);
    expect(recorder.about(["n1", "n2"], ["node-dead"])).toEqual([]);
  });

  test("a link flapping (2 s down, 2 s up) for 60 s: no stable node is declared dead; converges after", async () => {
    const lab = freshLab("flapping");
    const nodes = await startNetnsCluster(lab, { binary: binary!.path });
    const stable = nodes.slice(0, 4);
    const flapper = nodes[4]!;
    recorder = new MembershipRecorder(stable);
    await recorder.ready();

    let cycles = 0;
    // Evidence that each down phase really cut n5 off: how stale its heartbeat got at n1.
    let longestSilenceMs = 0;
    const flapUntil = performance.now() + 60_000;
    try {
      while (performance.now() < flapUntil) {
        lab.setLink(lab.node(5), false);
        await Bun.sleep(2000);
        const seenByN1 = (await members(stable[0]!)).find((row) => row.name === flapper.name);
        longestSilenceMs = Math.max(longestSilenceMs, seenByN1?.heartbeatAgeMs ?? 0);
        lab.setLink(lab.node(5), true);
        const upAt = performance.now();
        cycles++;
        // While its link is up, the flapping node writes (its client port is behind the same link).
        await putKey(flapper, "app", "flap", `cycle-${cycles}`);
        for (const node of stable) await putKey(node, "app", "flap", `cycle-${cycles}`);
        await Bun.sleep(Math.max(0, upAt + 2000 - performance.now()));
      }
    } finally {
      lab.setLink(lab.node(5), true);
    }
    const stoppedAt = performance.now();
    const stableNames = stable.map((node) => node.name);
    const falseDead = recorder.about(stableNames, ["node-dead"]);
    const flapperTransitions = recorder.about([flapper.name], ["node-suspect", "node-dead", "node-alive"]);
    console.log(`flapping: n1 heard nothing from ${flapper.name} for up to ${longestSilenceMs.toFixed(0)} ms in a down phase`);
    expect(longestSilenceMs).toBeGreaterThan(1500);
    console.log(`flapping: ${cycles} cycles; stable nodes raised ${recorder.about(stableNames, ["node-suspect"]).length} suspicions of each other and ${flapperTransitions.length} transitions of ${flapper.name}`);
    expect(falseDead).toEqual([]);

    await waitMembership(nodes, nodes, "alive", HEAL_BOUND_MS);
    await waitEntries(nodes, everyKey(nodes, "flap", () => `cycle-${cycles}`), HEAL_BOUND_MS);
    console.log(`flapping: converged ${(performance.now() - stoppedAt).toFixed(0)} ms after the flapping stopped`);
    expect(recorder.about(stableNames, ["node-dead"])).toEqual([]);
  });
});
