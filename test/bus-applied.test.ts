// "Applied everywhere" over real processes (issue #20 item 3): PUT ?wait= answers once every live
// member holds the write, and never before: with one member frozen by SIGSTOP the wait runs to its
// deadline and names it; after SIGCONT the CLI's set --wait and config set --wait confirm on all.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { api, clusterState, killAll, runCli, startCluster, waitAllAlive, type NodeProcess } from "./support/node-processes.ts";
import type { AppliedResult } from "../src/index.ts";

setDefaultTimeout(90_000);

const NAMES = ["alpha", "bravo", "charlie", "delta"] as const;
let nodes: NodeProcess[] = [];
const byName = (name: string): NodeProcess => nodes.find((node) => node.name === name)!;

beforeAll(async () => {
  nodes = await startCluster({ names: NAMES, gossipIntervalMs: 200 });
});

afterAll(async () => {
  for (const node of nodes) if (node.process.exitCode === null) node.process.kill("SIGCONT");
  await killAll();
});

type PutAnswer = { version: number; wait: AppliedResult };

async function putAndWait(node: NodeProcess, key: string, value: string, wait: string): Promise<{ status: number; body: PutAnswer }> {
  return await api<PutAnswer>(node, "PUT", `/v1/keys/bus/${key}?wait=${wait}`, value);
}

describe("applied everywhere, 4 processes", () => {
  test("PUT ?wait= answers 200 once every other member holds the write", async () => {
    const { status, body } = await putAndWait(byName("alpha"), "k1", "v1", "5s");
    expect(status).toBe(200);
    expect(body.wait.applied).toBe(true);
    expect(body.wait.version).toBe(body.version);
    expect(body.wait.holding.sort()).toEqual(["bravo", "charlie", "delta"]);
    expect(body.wait.missing).toEqual([]);
    // The claim holds right now on every node: read each one's state at once, no polling.
    const states = await Promise.all(nodes.map((node) => clusterState(node)));
    for (const state of states) expect(state.alpha?.bus?.k1?.value).toBe("v1");
  });

  test("a member frozen with SIGSTOP holds the wait to its deadline and is named missing", async () => {
    const frozen = byName("delta");
    frozen.process.kill("SIGSTOP");
    try {
      const started = performance.now();
      const { status, body } = await putAndWait(byName("alpha"), "k2", "v2", "2s");
      const elapsed = performance.now() - started;
      expect(status).toBe(202);
      expect(body.wait.applied).toBe(false);
      expect(body.wait.missing).toEqual(["delta"]);
      expect(body.wait.holding.sort()).toEqual(["bravo", "charlie"]);
      expect(elapsed).toBeGreaterThanOrEqual(1900);
      // The members it names as holding do hold it.
      for (const name of ["bravo", "charlie"]) expect((await clusterState(byName(name))).alpha?.bus?.k2?.value).toBe("v2");
    } finally {
      frozen.process.kill("SIGCONT");
    }
  });

  test("after SIGCONT, set --wait and config set --wait confirm on every member", async () => {
    await waitAllAlive(nodes, NAMES, 20_000);
    const client = `127.0.0.1:${byName("alpha").clientPort}`;
    const set = await runCli(["set", "--client", client, "--wait", "10s", "bus", "k3", "v3"], { timeoutMs: 30_000 });
    expect({ code: set.exitCode, stderr: set.stderr }).toEqual({ code: 0, stderr: "" });
    expect(set.stdout).toMatch(/^applied on every live member \(3\) in \d+\.\ds$/m);
    const delta = await clusterState(byName("delta"));
    expect(delta.alpha?.bus?.k2?.value).toBe("v2");
    expect(delta.alpha?.bus?.k3?.value).toBe("v3");

    const config = await runCli(["config", "set", "--client", client, "--wait", "10s", 'app={"tag":"bus-test"}'], { timeoutMs: 30_000 });
    expect({ code: config.exitCode, stderr: config.stderr }).toEqual({ code: 0, stderr: "" });
    const document = JSON.parse(config.stdout) as { version: number; wait: AppliedResult };
    expect(document.wait.applied).toBe(true);
    const configs = await Promise.all(nodes.map(async (node) => (await api<{ version: number; settings: { app?: unknown } }>(node, "GET", "/v1/config")).body));
    for (const seen of configs) expect({ version: seen.version, app: seen.settings.app }).toEqual({ version: document.version, app: { tag: "bus-test" } });
  });

  test("a bad wait is refused with a clear error", async () => {
    const { status, body } = await api<{ error: string }>(byName("alpha"), "PUT", "/v1/keys/bus/k4?wait=forever", "x");
    expect(status).toBe(400);
    expect(body.error).toBe('wait must be a duration such as 5s or 500ms, at most 60s; got "forever"');
  });
});
