// A 2|3 partition of five compiled nodes, each in its own network namespace, held longer than
// dead removal (10 s), then healed; once in plaintext and once with mutual TLS. Writes and a
// delete made on both sides during the partition must be on every node after heal, the deleted
// key must not come back, and all five must be alive everywhere again within the heal bound.
//
// The heal bound: a node that failed to dial a peer during the partition waits out its reconnect
// backoff (at most reconnectMaxMs, 30 s) before dialling again, so the first direct connection
// across the healed cut may take that long; gossip then needs a few rounds. 35 s covers both.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { CertificateAuthorities, opensslPath, SKIP_REASON as NO_OPENSSL, tlsFlags } from "./support/certificates.ts";
import { NetnsLab, netnsUnsupportedReason, removeStaleLabs } from "./support/netns.ts";
import {
  buildBinary,
  DEAD_REMOVAL_MS,
  describeMembership,
  entryDifferences,
  MembershipRecorder,
  startNetnsCluster,
  waitEntries,
  waitMembership,
  type BuiltBinary,
  type ExpectedEntry,
  type NetnsClusterOptions,
} from "./support/netns-cluster.ts";
import { api, killAll, logLines, putKey, type NodeProcess } from "./support/node-processes.ts";

setDefaultTimeout(150_000);

const HEAL_BOUND_MS = 35_000;

const unsupported = netnsUnsupportedReason();
if (unsupported !== null) console.log(`skipping the network-namespace partition tests: ${unsupported}`);
if (unsupported === null && opensslPath === null) console.log(`skipping the mTLS partition test: ${NO_OPENSSL}`);

describe.skipIf(unsupported !== null)("a 2|3 partition longer than dead removal, in network namespaces", () => {
  let binary: BuiltBinary | undefined;
  let lab: NetnsLab | undefined;
  let certificates: CertificateAuthorities | undefined;

  beforeAll(async () => {
    removeStaleLabs();
    binary = await buildBinary();
  });

  afterAll(async () => {
    await killAll();
    lab?.remove();
    binary?.remove();
    certificates?.remove();
  });

  /** Runs the scenario on a fresh lab; the nodes and the lab are removed at the end, passed or not. */
  async function partitionScenario(label: string, tls: boolean, flags?: NetnsClusterOptions["flags"]): Promise<void> {
    lab = new NetnsLab(5);
    console.log(`${label}: subnet ${lab.subnet}.0/24, partitions with ${lab.cutMethod}`);
    let recorder: MembershipRecorder | undefined;
    try {
      const nodes = await startNetnsCluster(lab, { binary: binary!.path, ...(flags ? { flags } : {}) });
      const [n1, n2, n3, n4, n5] = nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess, NodeProcess];
      // The transport really is what the test is named for.
      for (const node of nodes) expect(logLines(node).find((line) => line.msg.startsWith("listening on"))?.tls).toBe(tls);
      const minority = [n1, n2];
      const majority = [n3, n4, n5];

      // Before: every node writes a key; n1 and n4 write one they will delete during the partition.
      for (const node of nodes) await putKey(node, "app", "before", `${node.name}-before`);
      await putKey(n1, "app", "doomed", "n1-doomed");
      await putKey(n4, "app", "doomed", "n4-doomed");
      const before: ExpectedEntry[] = [
        ...nodes.map((node) => ({ owner: node.name, group: "app", key: "before", value: `${node.name}-before` })),
        { owner: "n1", group: "app", key: "doomed", value: "n1-doomed" },
        { owner: "n4", group: "app", key: "doomed", value: "n4-doomed" },
      ];
      await waitEntries(nodes, before, 15_000);

      recorder = new MembershipRecorder(nodes);
      await recorder.ready();

      const cutAt = performance.now();
      lab.partition([lab.node(1), lab.node(2)], [lab.node(3), lab.node(4), lab.node(5)]);
      const deadMs = await Promise.all([waitMembership(minority, majority, "dead", 20_000), waitMembership(majority, minority, "dead", 20_000)]);
      console.log(`${label}: each side saw the other dead ${Math.max(...deadMs).toFixed(0)} ms after the cut`);

      // Writes and deletes on both sides while they cannot talk.
      await putKey(n1, "app", "during", "n1-during");
      await putKey(n2, "app", "during", "n2-during");
      await putKey(n4, "app", "during", "n4-during");
      expect((await api(n1, "DELETE", "/v1/keys/app/doomed")).status).toBe(200);
      expect((await api(n4, "DELETE", "/v1/keys/app/doomed")).status).toBe(200);

      // Held until each side has removed the other (dead removal ran out), plus a few rounds.
      const removedMs = await Promise.all([waitMembership(minority, majority, "absent", DEAD_REMOVAL_MS + 15_000), waitMembership(majority, minority, "absent", DEAD_REMOVAL_MS + 15_000)]);
      const partitionMs = performance.now() - cutAt;
      console.log(`${label}: each side removed the other ${Math.max(...removedMs).toFixed(0)} ms after seeing it dead; the partition lasted ${partitionMs.toFixed(0)} ms`);
      expect(partitionMs).toBeGreaterThan(DEAD_REMOVAL_MS);

      const healedAt = performance.now();
      lab.heal();
      const after: ExpectedEntry[] = [
        ...nodes.map((node) => ({ owner: node.name, group: "app", key: "before", value: `${node.name}-before` })),
        { owner: "n1", group: "app", key: "during", value: "n1-during" },
        { owner: "n2", group: "app", key: "during", value: "n2-during" },
        { owner: "n4", group: "app", key: "during", value: "n4-during" },
        { owner: "n1", group: "app", key: "doomed", value: null },
        { owner: "n4", group: "app", key: "doomed", value: null },
      ];
      try {
        await waitMembership(nodes, nodes, "alive", HEAL_BOUND_MS);
        await waitEntries(nodes, after, Math.max(1, HEAL_BOUND_MS - (performance.now() - healedAt)));
      } catch (error) {
        throw new Error(`${(error as Error).message}\nmembership ${(performance.now() - healedAt).toFixed(0)} ms after heal:\n${await describeMembership(nodes)}`);
      }
      console.log(`${label}: fully converged ${(performance.now() - healedAt).toFixed(0)} ms after heal (bound ${HEAL_BOUND_MS} ms)`);

      // Still converged a few rounds later: no deleted key came back through a late exchange.
      await Bun.sleep(2000);
      expect(await entryDifferences(nodes, after)).toEqual([]);
      // Nobody was declared dead inside its own side.
      const insideMinority = recorder.about(["n1", "n2"], ["node-dead"]).filter((event) => event.observer === "n1" || event.observer === "n2");
      const insideMajority = recorder.about(["n3", "n4", "n5"], ["node-dead"]).filter((event) => ["n3", "n4", "n5"].includes(event.observer));
      expect([...insideMinority, ...insideMajority]).toEqual([]);
    } finally {
      recorder?.close();
      await killAll();
      lab.remove();
    }
    // Checked only when the scenario passed, so that it never hides the scenario's own failure.
    expect(lab.leftovers()).toEqual([]);
    lab = undefined;
  }

  test("plaintext: both sides' writes and deletes reach every node after heal; nothing deleted returns", async () => {
    await partitionScenario("plaintext", false);
  });

  test.skipIf(opensslPath === null)("mutual TLS: the same partition, healed, converges the same way", async () => {
    certificates = new CertificateAuthorities(opensslPath!);
    const made = certificates;
    // Each certificate carries the node's namespace address: the address its peers dial and check.
    await partitionScenario("mTLS", true, (node) => tlsFlags(made.nodeCertificate(`n${node.index}`, "cluster-ca", "cluster-ca", [node.address])));
  });
});
