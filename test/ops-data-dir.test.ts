// Issue #19 item 3: the data directory, with real processes. A restarted node rejoins through a
// member it remembered while every seed is down; the generation counter survives restarts and a
// clock behind the last run; entries come back with --restore-entries; a torn or corrupt snapshot
// is logged and ignored; and SIGKILL in the middle of snapshot writes, 100 times, never leaves a
// snapshot that does not load or a node that does not start.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataDir, decodeSnapshot, encodeSnapshot } from "../src/node/data-dir.ts";
import { silentLogger } from "../src/log.ts";
import { api, killAll, logLines, members, repoRoot, restartNode, startNode, stopNode, waitAllAlive, waitFor, waitHealthy, type NodeProcess } from "./support/node-processes.ts";

const dirs: string[] = [];
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gb-data-"));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  await killAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function generationOf(node: NodeProcess): Promise<number> {
  return (await api<{ generation: number }>(node, "GET", "/v1/self")).body.generation;
}

function storedSnapshot(dir: string) {
  return decodeSnapshot(readFileSync(join(dir, "node.snapshot")));
}

describe("data directory", () => {
  test("a restarted node rejoins through a remembered member within 5 s while its seeds are down", async () => {
    const dir = dataDir();
    const seed = await startNode({ name: "seed" });
    const other = await startNode({ name: "other", seeds: [seed.address] });
    const node = await startNode({ name: "keeper", seeds: [seed.address], flags: [`--data-dir=${dir}`] });
    for (const each of [seed, other, node]) await waitHealthy(each);
    await waitAllAlive([seed, other, node], ["seed", "other", "keeper"]);
    // The periodic snapshot records the members with their addresses.
    await waitFor("the snapshot to remember other", () => {
      try {
        return storedSnapshot(dir).members.some((member) => member.name === "other" && member.address === other.address);
      } catch {
        return false;
      }
    }, 10_000);
    const before = await generationOf(node);
    await stopNode(node, "SIGKILL");
    await stopNode(seed, "SIGKILL");
    const restarted = await restartNode(node);
    const started = performance.now();
    await waitHealthy(restarted);
    await waitFor("keeper to see other alive again", async () => (await members(restarted)).some((member) => member.name === "other" && member.state === "alive"), 5_000);
    const tookMs = performance.now() - started;
    expect(tookMs).toBeLessThan(5_000);
    expect(await generationOf(restarted)).toBeGreaterThan(before);
    // other sees the new generation alive: the rejoin is a real two-way connection.
    await waitFor("other to see keeper's new generation", async () => {
      const row = (await members(other)).find((member) => member.name === "keeper");
      return row?.state === "alive" && row.generation > before;
    }, 5_000);
    console.log(`rejoined through a remembered member ${Math.round(tookMs)} ms after the restart (seeds down)`);
  }, 40_000);

  test("the generation counter moves past the stored one even when the clock is behind it", async () => {
    const dir = dataDir();
    // As if the last run had a clock a day ahead (then the clock stepped back).
    const ahead = Date.now() + 86_400_000;
    new DataDir(dir, silentLogger).save({ generation: ahead, members: [], entries: [] });
    const node = await startNode({ name: "stepped", flags: [`--data-dir=${dir}`] });
    await waitHealthy(node);
    expect(await generationOf(node)).toBe(ahead + 1);
    // Persisted before listening: a crash now still moves the next run on.
    expect(storedSnapshot(dir).generation).toBe(ahead + 1);
    await stopNode(node, "SIGKILL");
    const again = await restartNode(node);
    await waitHealthy(again);
    expect(await generationOf(again)).toBe(ahead + 2);
  }, 30_000);

  test("--restore-entries brings the node's own entries back under the new generation", async () => {
    const dir = dataDir();
    const peer = await startNode({ name: "peer" });
    const node = await startNode({ name: "writer", seeds: [peer.address], flags: [`--data-dir=${dir}`, "--restore-entries"] });
    for (const each of [peer, node]) await waitHealthy(each);
    await waitAllAlive([peer, node], ["peer", "writer"]);
    expect((await api(node, "PUT", "/v1/keys/app/colour", "teal")).status).toBe(200);
    expect((await api(node, "PUT", "/v1/keys/app/count?type=int", "42")).status).toBe(200);
    await waitFor("the snapshot to hold both entries", () => {
      try {
        return storedSnapshot(dir).entries.length === 2;
      } catch {
        return false;
      }
    }, 10_000);
    const before = await generationOf(node);
    await stopNode(node, "SIGKILL");
    const restarted = await restartNode(node);
    await waitHealthy(restarted);
    await waitFor("peer to hold writer's restored entries under the new generation", async () => {
      const row = (await members(peer)).find((member) => member.name === "writer");
      if (!row || row.generation <= before) return false;
      const colour = await api<{ value: unknown }>(peer, "GET", "/v1/state/writer/app/colour");
      const count = await api<{ value: unknown; type: string }>(peer, "GET", "/v1/state/writer/app/count");
      return colour.status === 200 && colour.body.value === "teal" && count.status === 200 && count.body.type === "int" && count.body.value === "42";
    }, 10_000);
  }, 40_000);

  test("a torn or corrupt snapshot is logged and ignored, and the node starts", async () => {
    const dir = dataDir();
    const file = join(dir, "node.snapshot");
    const generation = Date.now() + 3_600_000;
    const bytes = encodeSnapshot({ generation, members: [{ name: "x", address: "127.0.0.1:9" }], entries: [] });
    const cases: [string, () => void, RegExp][] = [
      ["torn", () => { writeFileSync(file, bytes); truncateSync(file, bytes.byteLength - 7); }, /torn/],
      ["corrupt", () => { const flipped = Uint8Array.from(bytes); flipped[flipped.length - 3]! ^= 0xff; writeFileSync(file, flipped); }, /corrupt/],
      ["garbage", () => writeFileSync(file, "not a snapshot at all\n{}"), /not a GoferBroke snapshot/],
    ];
    for (const [what, damage, reason] of cases) {
      damage();
      const node = await startNode({ name: `damaged-${what}`, flags: [`--data-dir=${dir}`] });
      await waitHealthy(node);
      const line = logLines(node).find((entry) => /ignored the snapshot/.test(entry.msg));
      expect(line?.msg ?? `no warning in:\n${node.output()}`).toMatch(reason);
      // Started without it: a fresh generation from the clock, not the damaged file's.
      expect(await generationOf(node)).toBeLessThan(generation);
      await stopNode(node);
    }
  }, 40_000);

  test("SIGKILL in the middle of snapshot writes, 100 times: the snapshot always loads, and the node always starts", async () => {
    const dir = dataDir();
    const writer = join(repoRoot, "test", "support", "snapshot-writer.ts");
    let last = 0;
    let nodeStarts = 0;
    for (let round = 0; round < 100; round++) {
      const child = Bun.spawn([process.execPath, writer, dir, String(last + 1)], { stdout: "pipe", stderr: "pipe" });
      try {
        const reader = child.stdout.getReader();
        const first = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => null)]);
        expect(new TextDecoder().decode(first?.value ?? new Uint8Array())).toContain("writing");
        await Bun.sleep(Math.random() * 40);
        child.kill("SIGKILL");
        await child.exited;
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }
      const snapshot = storedSnapshot(dir); // throws if torn or corrupt
      expect(snapshot.generation).toBeGreaterThan(last);
      expect(snapshot.members.length).toBe(300);
      last = snapshot.generation;
      if (round % 20 === 19) {
        const node = await startNode({ name: `survivor-${round}`, flags: [`--data-dir=${dir}`] });
        await waitHealthy(node);
        const generation = await generationOf(node);
        expect(generation).toBeGreaterThan(last);
        await stopNode(node, "SIGKILL");
        last = storedSnapshot(dir).generation;
        expect(last).toBe(generation);
        nodeStarts++;
      }
    }
    expect(nodeStarts).toBe(5);
  }, 180_000);
});
