// Key rotation with real processes (issue #21): five nodes started from their own key files rotate
// the cluster key with `goferbroke keys` (install new → use new → remove old) while one node writes
// 10 entries a second. Checked: every command reaches all five members; no write is lost (every
// one visible on every node at the end); no member is ever suspected, declared dead or seen in
// another state than alive by any node during the rotation (each node's events and member list
// are watched throughout); each key file ends with the new key only, so a restarted node keeps
// it; a fresh process holding only the old key is refused, with the reason logged on both sides;
// a member that does not answer is named and the command exits 1.

import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Keyring, ringKeyOf } from "../src/transport/keyring.ts";
import {
  type NodeProcess,
  api,
  cliEntry,
  clusterState,
  killAll,
  members,
  openEventStream,
  restartNode,
  runCli,
  startCluster,
  startNode,
  stopNode,
  waitAllAlive,
  waitFor,
  waitHealthy,
} from "./support/node-processes.ts";

setDefaultTimeout(150_000);

const dir = mkdtempSync(join(tmpdir(), "goferbroke-rotation-"));
afterAll(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

const newKey = () => randomBytes(32).toString("base64");
const idOf = (key: string) => ringKeyOf(Uint8Array.from(Buffer.from(key, "base64"))).idHex;
const fileIds = (path: string) => Keyring.parse(readFileSync(path, "utf8")).keys.map((key) => key.idHex);
const client = (node: NodeProcess) => `--client=127.0.0.1:${node.clientPort}`;

const oldKey = newKey();
const nextKey = newKey();
const names = ["rot-a", "rot-b", "rot-c", "rot-d", "rot-e"];
const files = new Map(names.map((name) => [name, join(dir, `${name}.keys`)]));
for (const file of files.values()) writeFileSync(file, `${oldKey}\n`, { mode: 0o600 });

/** `goferbroke keys install -` with the key on standard input (it stays out of argv), bounded in time. */
async function installFromStdin(node: NodeProcess, key: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  const child = Bun.spawn([process.execPath, cliEntry, "keys", "install", "-", client(node)], { stdin: new Blob([`${key}\n`]), stdout: "pipe", stderr: "pipe" });
  const exited = await Promise.race([child.exited.then(() => true), Bun.sleep(15_000).then(() => false)]);
  if (!exited) child.kill("SIGKILL");
  return { exitCode: child.exitCode, stdout: await new Response(child.stdout).text(), stderr: await new Response(child.stderr).text() };
}

let cluster: NodeProcess[] = [];

test("five processes rotate their key while one writes 10 entries a second: nothing lost, nobody suspected, the old key refused afterwards", async () => {
  cluster = await startCluster({ names, gossipIntervalMs: 200, flags: (name) => [`--encrypt-key-file=${files.get(name)}`], timeoutMs: 40_000 });
  const [writer] = cluster as [NodeProcess];

  // Watch every node: its events, and its member list polled, for anything but "alive".
  const trouble: string[] = [];
  const streams = cluster.map((node) =>
    openEventStream(node, (event) => {
      if (["node-suspect", "node-dead", "node-left", "node-removed"].includes(event.type as string)) trouble.push(`${node.name} saw ${event.type} of ${event.node}`);
    }),
  );
  await Promise.all(streams.map((stream) => stream.ready));
  let watching = true;
  const memberWatch = (async () => {
    let polls = 0;
    while (watching) {
      const tables = await Promise.all(cluster.map(async (node) => [node.name, await members(node)] as const));
      for (const [observer, rows] of tables) {
        for (const row of rows) if (row.state !== "alive") trouble.push(`${observer} listed ${row.name} as ${row.state}`);
        if (rows.length !== names.length) trouble.push(`${observer} listed ${rows.length} members`);
      }
      polls++;
      await Bun.sleep(250);
    }
    return polls;
  })();

  // 10 writes a second from rot-a, for the whole rotation.
  let writing = true;
  const written: string[] = [];
  const writeFailures: string[] = [];
  const writes = (async () => {
    for (let index = 0; writing && index < 1000; index++) {
      const key = `w-${index}`;
      const response = await api<{ version: number }>(writer, "PUT", `/v1/keys/app/${key}`, String(index));
      if (response.status === 200) written.push(key);
      else writeFailures.push(`${key}: ${response.status} ${JSON.stringify(response.body)}`);
      await Bun.sleep(100);
    }
  })();

  await Bun.sleep(1000);
  const installed = await installFromStdin(cluster[1]!, nextKey);
  expect({ exitCode: installed.exitCode, stderr: installed.stderr }).toEqual({ exitCode: 0, stderr: "" });
  expect(installed.stdout).toStartWith(`installed key ${idOf(nextKey)} on 5 of 5 members\n`);
  for (const file of files.values()) expect(fileIds(file)).toEqual([idOf(oldKey), idOf(nextKey)]);

  await Bun.sleep(1000);
  const used = await runCli(["keys", "use", idOf(nextKey), client(cluster[2]!)]);
  expect({ exitCode: used.exitCode, stderr: used.stderr }).toEqual({ exitCode: 0, stderr: "" });
  expect(used.stdout).toStartWith(`made primary key ${idOf(nextKey)} on 5 of 5 members\n`);
  for (const file of files.values()) expect(fileIds(file)).toEqual([idOf(nextKey), idOf(oldKey)]);

  await Bun.sleep(1000);
  const removed = await runCli(["keys", "remove", oldKey, client(cluster[3]!)]);
  expect({ exitCode: removed.exitCode, stderr: removed.stderr }).toEqual({ exitCode: 0, stderr: "" });
  expect(removed.stdout).toStartWith(`removed key ${idOf(oldKey)} on 5 of 5 members\n`);
  for (const file of files.values()) expect(fileIds(file)).toEqual([idOf(nextKey)]);

  const listed = await runCli(["keys", "list", "--json", client(cluster[4]!)]);
  expect({ exitCode: listed.exitCode, stderr: listed.stderr }).toEqual({ exitCode: 0, stderr: "" });
  const report = JSON.parse(listed.stdout) as { acknowledged: string[]; keys: unknown[] };
  expect({ answered: report.acknowledged.length, keys: report.keys }).toEqual({ answered: 5, keys: [{ id: idOf(nextKey), holders: 5, primaryOn: 5 }] });
  expect(listed.stdout).not.toContain(nextKey); // fingerprints only, never the key

  await Bun.sleep(1500); // writes go on under the new key only
  writing = false;
  await writes;
  expect(writeFailures).toEqual([]);
  expect(written.length).toBeGreaterThanOrEqual(30);
  await waitFor("every write on every node", async () => {
    const states = await Promise.all(cluster.map((node) => clusterState(node)));
    return states.every((state) => written.every((key) => state[writer.name]?.app?.[key] !== undefined));
  }, 20_000);
  watching = false;
  const polls = await memberWatch;
  for (const stream of streams) stream.close();
  expect(polls).toBeGreaterThan(10);
  expect(trouble).toEqual([]);

  // The old key is refused from now on, with the reason on both sides.
  const staleFile = join(dir, "stale.keys");
  writeFileSync(staleFile, `${oldKey}\n`, { mode: 0o600 });
  const stale = await startNode({ name: "rot-stale", seeds: [writer.address], gossipIntervalMs: 200, flags: [`--encrypt-key-file=${staleFile}`] });
  await waitHealthy(stale);
  await waitFor("the refusal in the stale node's log", () => stale.output().includes("no key in common"), 10_000);
  await waitFor("the refusal in rot-a's log", () => writer.output().includes("no key in common"), 10_000);
  expect((await members(writer)).map((row) => row.name)).not.toContain("rot-stale");
  expect((await members(stale)).map((row) => row.name)).toEqual(["rot-stale"]);
  await stopNode(stale);
});

test("a member restarted after the rotation keeps the new key (its file was rewritten) and rejoins", async () => {
  const member = cluster[4]!;
  await stopNode(member);
  const restarted = await restartNode(member);
  cluster[4] = restarted;
  await waitHealthy(restarted);
  await waitAllAlive(cluster, names, 20_000);
  expect(fileIds(files.get(member.name)!)).toEqual([idOf(nextKey)]);
});

test("a member that does not answer is named, and the command exits 1", async () => {
  const silent = cluster[2]!;
  silent.process.kill("SIGSTOP");
  try {
    const result = await runCli(["keys", "list", "--wait=700ms", client(cluster[0]!)]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain(`  ${silent.name} did not answer\n`);
    expect(result.stderr).toBe(`goferbroke: 4 of 5 members answered; not: ${silent.name}\n`);
  } finally {
    silent.process.kill("SIGCONT");
  }
});
