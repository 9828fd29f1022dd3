// Moving a running cluster from plain to encrypted without a split (README "From plain to
// encrypted"), with real processes: three plain nodes are restarted one at a time, three times
// over: with the key file and --encrypt-plain-window=dial-plain, then accept-plain, then with
// encryption required. After every single restart all three see each other alive and a write of
// the restarted node reaches the others; at the end the keyring answers from every member (their
// connections are all sealed) and a plain process is refused.

import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type NodeProcess, allHold, killAll, members, putKey, restartNode, runCli, startCluster, startNode, stopNode, waitAllAlive, waitFor, waitHealthy } from "./support/node-processes.ts";

setDefaultTimeout(180_000);

const dir = mkdtempSync(join(tmpdir(), "goferbroke-migration-"));
afterAll(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

test("three plain nodes become encrypted in rolling restarts, never split", async () => {
  const keyFile = join(dir, "cluster.keys");
  writeFileSync(keyFile, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
  const names = ["mig-a", "mig-b", "mig-c"];
  const cluster = await startCluster({ names, gossipIntervalMs: 200, timeoutMs: 30_000 });
  let writes = 0;
  for (const step of ["dial-plain", "accept-plain", "off"] as const) {
    for (const [index, node] of cluster.entries()) {
      await stopNode(node);
      const seed = cluster[(index + 1) % cluster.length]!;
      const restarted = await restartNode(node, { seeds: [seed.address], flags: [`--encrypt-key-file=${keyFile}`, `--encrypt-plain-window=${step}`] });
      cluster[index] = restarted;
      await waitHealthy(restarted);
      await waitAllAlive(cluster, names, 20_000);
      const key = `write-${writes++}`;
      await putKey(restarted, "app", key, step);
      await waitFor(`${key} of ${restarted.name} (${step}) on every node`, () => allHold(cluster, restarted.name, "app", key, step), 10_000);
    }
  }
  const listed = await runCli(["keys", "list", "--json", `--client=127.0.0.1:${cluster[0]!.clientPort}`]);
  expect({ exitCode: listed.exitCode, answered: (JSON.parse(listed.stdout) as { acknowledged: string[] }).acknowledged.length }).toEqual({ exitCode: 0, answered: 3 });

  const plain: NodeProcess = await startNode({ name: "mig-plain", seeds: [cluster[0]!.address], gossipIntervalMs: 200 });
  await waitHealthy(plain);
  await waitFor("the plain node's refusal", () => plain.output().includes("peer uses no authentication (plain) and this node an encryption keyring"), 10_000);
  expect((await members(cluster[0]!)).map((row) => row.name)).not.toContain("mig-plain");
});
