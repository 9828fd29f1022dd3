// Cluster config agreement at join, with real processes: a new node started with other cluster
// settings than the cluster's (same config version 0) is refused, with a log line on both sides
// naming the differing settings; a new node with an older version is admitted and adopts the
// cluster's document; `/v1/config` and `goferbroke config show` say whether every live member
// holds the same document.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { configAgreement } from "../src/node/config-agreement.ts";
import type { ClusterConfigDocument } from "../src/node/types.ts";
import { api, killAll, members, runCli, startCluster, startNode, waitAllAlive, waitFor, waitForLog, waitHealthy, type NodeProcess } from "./support/node-processes.ts";

setDefaultTimeout(60_000);

interface ConfigResponse {
  version: number;
  origin: string;
  settings: Record<string, unknown>;
  agreement: { agreed: boolean; version: number; hash: string; differing: { name: string }[]; unknown: string[] };
}

let alpha: NodeProcess;
let bravo: NodeProcess;

beforeAll(async () => {
  [alpha, bravo] = (await startCluster({ names: ["alpha", "bravo"], gossipIntervalMs: 200 })) as [NodeProcess, NodeProcess];
});

afterAll(killAll);

async function config(node: NodeProcess): Promise<ConfigResponse> {
  return (await api<ConfigResponse>(node, "GET", "/v1/config")).body;
}

describe("cluster config agreement at join", () => {
  test("config show says whether every live member holds the same config", async () => {
    await waitFor("alpha to see bravo's config", async () => (await config(alpha)).agreement.agreed, 10_000);
    const shown = await runCli(["config", "show", "-c", `127.0.0.1:${alpha.clientPort}`]);
    expect(shown.exitCode).toBe(0);
    const printed = JSON.parse(shown.stdout) as ConfigResponse;
    expect(printed.agreement).toMatchObject({ agreed: true, version: 0, differing: [], unknown: [] });
    expect(printed.agreement.hash).toMatch(/^[0-9a-f]{16}$/);
  });

  test("a new node started with another fanout and gossip interval (same version 0) is refused, naming them on both sides", async () => {
    const odd = await startNode({ name: "odd", seeds: [alpha.address], gossipIntervalMs: 300, flags: ["--fanout=3"] });
    await waitHealthy(odd);
    const named = /cluster config conflict at version 0 .*differing settings: fanout, gossipIntervalMs/;
    const refuser = await waitForLog(alpha, "the refusal of odd", (line) => named.test(line.msg), 10_000);
    expect(refuser.msg).toMatch(/^refused peer /);
    const refused = await waitForLog(odd, "alpha's refusal", (line) => named.test(line.msg), 10_000);
    expect(refused.msg).toContain("refused the connection (ConfigConflict)");
    expect((await members(alpha)).some((row) => row.name === "odd")).toBe(false);
    expect((await members(odd)).map((row) => row.name)).toEqual(["odd"]);
  });

  test("a new node with an older config version is admitted and adopts the cluster's", async () => {
    const changed = await api<ConfigResponse>(alpha, "PATCH", "/v1/config?wait=10s", JSON.stringify({ fanout: 2, phiThreshold: 9 }));
    expect(changed.status).toBe(200);
    expect(changed.body.version).toBe(1);
    // Started with the defaults (version 0, fanout 1): older than the cluster's version 1.
    const late = await startNode({ name: "late", seeds: [alpha.address] });
    await waitHealthy(late);
    await waitAllAlive([alpha, bravo, late], ["alpha", "bravo", "late"], 15_000);
    await waitFor("late to adopt version 1", async () => (await config(late)).version === 1, 10_000);
    expect((await config(late)).settings).toMatchObject({ fanout: 2, phiThreshold: 9 });
    await waitFor("all three to agree", async () => (await Promise.all([alpha, bravo, late].map(config))).every((doc) => doc.agreement.agreed), 10_000);
    const hashes = new Set((await Promise.all([alpha, bravo, late].map(config))).map((doc) => doc.agreement.hash));
    expect(hashes.size).toBe(1);
  });
});

describe("configAgreement", () => {
  const own: ClusterConfigDocument = { version: 2, origin: "a", settings: { fanout: 2, seeds: ["x:1"] } };
  test("seeds differ per node and do not count; another setting or version does", () => {
    const held = new Map<string, ClusterConfigDocument>([
      ["a", own],
      ["b", { version: 2, origin: "a", settings: { fanout: 2, seeds: ["y:1"] } }],
      ["c", { version: 2, origin: "c", settings: { fanout: 3, seeds: [] } }],
      ["d", { version: 1, origin: "a", settings: { fanout: 2 } }],
    ]);
    const result = configAgreement(own, ["a", "b", "c", "d", "e"], (name) => held.get(name));
    expect(result.agreed).toBe(false);
    expect(result.differing.map((member) => member.name)).toEqual(["c", "d"]);
    expect(result.unknown).toEqual(["e"]);
    expect(configAgreement(own, ["a", "b"], (name) => held.get(name)).agreed).toBe(true);
  });
});
