// Keyring encryption with real processes: three nodes started from key files converge and
// replicate; a node whose file shares no key with theirs is refused, says why, and never becomes a
// member; a node whose file lists the cluster's key second (a rotation in progress) still joins.

import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { allHold, killAll, members, putKey, startCluster, startNode, waitAllAlive, waitFor, waitHealthy } from "./support/node-processes.ts";

setDefaultTimeout(90_000);

const dir = mkdtempSync(join(tmpdir(), "goferbroke-encrypt-"));
afterAll(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

function keyFile(name: string, ...keys: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${keys.join("\n")}\n`, { mode: 0o600 });
  return path;
}

const newKey = () => randomBytes(32).toString("base64");

test("nodes sharing a key converge; a node with another key is refused on both sides; one holding the key second joins", async () => {
  const clusterKey = newKey();
  const clusterFile = keyFile("cluster.keys", clusterKey);
  const names = ["enc-a", "enc-b", "enc-c"];
  const nodes = await startCluster({ names, gossipIntervalMs: 200, flags: () => [`--encrypt-key-file=${clusterFile}`] });
  await putKey(nodes[0]!, "app", "sealed", "yes");
  await waitFor("the write on every node", () => allHold(nodes, "enc-a", "app", "sealed", "yes"), 10_000);

  const stranger = await startNode({ name: "enc-stranger", seeds: [nodes[0]!.address], gossipIntervalMs: 200, flags: [`--encrypt-key-file=${keyFile("other.keys", newKey())}`] });
  await waitHealthy(stranger);
  await waitFor("the refusal in the stranger's log", () => stranger.output().includes("no key in common"), 10_000);
  await waitFor("the refusal in the seed's log", () => nodes[0]!.output().includes("no key in common"), 10_000);
  expect((await members(nodes[0]!)).map((row) => row.name)).not.toContain("enc-stranger");
  expect((await members(stranger)).map((row) => row.name)).not.toContain("enc-a");

  const rotating = await startNode({ name: "enc-rotating", seeds: [nodes[1]!.address], gossipIntervalMs: 200, flags: [`--encrypt-key-file=${keyFile("rotating.keys", newKey(), clusterKey)}`] });
  await waitHealthy(rotating);
  await waitAllAlive([...nodes, rotating], [...names, "enc-rotating"], 20_000);
  expect(await allHold([rotating], "enc-a", "app", "sealed", "yes")).toBe(true);
});
