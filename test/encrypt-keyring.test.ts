// Key rotation without a split, through the module API (node.keys) on real TCP nodes: install,
// use and remove reach every member, each member's key file holds the rotated ring (0600), the
// report names refusals with their reasons, removing the primary is refused before anything is
// sent, a node without encryption refuses keys commands, and once a key is removed a node holding
// only that key is refused. The keyring messages' codec is checked at the end.

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DecodeError, FrameDecoder, FrameWriter, KeyringOp, MessageType, readKeyringReply, readKeyringRequest, writeKeyringReply, writeKeyringRequest, type Frame } from "../src/codec/index.ts";
import { type AdminServer, startAdminServer } from "../src/admin/index.ts";
import { KeyringChangeError, type Node } from "../src/index.ts";
import { silentLogger } from "../src/log.ts";
import { Keyring, ringKeyOf } from "../src/transport/keyring.ts";
import { Nodes, aliveCount, record, waitFor } from "./api-helpers.ts";

setDefaultTimeout(30_000);

const nodes = new Nodes();
const admins: AdminServer[] = [];
const dir = mkdtempSync(join(tmpdir(), "goferbroke-keyring-"));
afterAll(async () => {
  await Promise.all(admins.map((admin) => admin.stop()));
  await nodes.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const newKey = () => randomBytes(32).toString("base64");
const idOf = (key: string) => ringKeyOf(Uint8Array.from(Buffer.from(key, "base64"))).idHex;
/** The key ids a key file holds, primary first. */
const fileIds = (path: string) => Keyring.parse(readFileSync(path, "utf8")).keys.map((key) => key.idHex);

function keyFile(name: string, ...keys: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${keys.join("\n")}\n`, { mode: 0o644 });
  return path;
}

/** Nodes started one after the other, each from its own key file, the first the seed; waits until all are alive everywhere. */
async function encryptedCluster(prefix: string, files: string[]): Promise<Node[]> {
  const started: Node[] = [];
  for (const [index, file] of files.entries()) {
    const seeds = started.length === 0 ? [] : [started[0]!.address];
    started.push(await nodes.start({ name: `${prefix}-${index}`, seeds, gossipIntervalMs: 100, encryptKeys: readFileSync(file, "utf8") }, { keyringFile: file }));
  }
  await waitFor("every node alive everywhere", () => started.every((node) => aliveCount(node) === started.length));
  return started;
}

const sorted = (names: string[]) => [...names].sort();

describe("keys across a cluster", () => {
  test("install, use, remove: every member applies each step, its key file follows (0600), nobody is suspected, the old key is then refused", async () => {
    const oldKey = newKey();
    const nextKey = newKey();
    const files = ["a", "b", "c"].map((name) => keyFile(`rotate-${name}.keys`, oldKey));
    const cluster = await encryptedCluster("rot", files);
    const names = cluster.map((node) => node.name);
    const watched = cluster.map((node) => ({ suspect: record(node, "node-suspect"), dead: record(node, "node-dead") }));

    const installed = await cluster[0]!.keys.install(nextKey);
    expect({ op: installed.op, key: installed.key, asked: installed.asked, failed: installed.failed, noAnswer: installed.noAnswer }).toEqual({ op: "install", key: idOf(nextKey), asked: 3, failed: [], noAnswer: [] });
    expect(sorted(installed.acknowledged)).toEqual(sorted(names));
    expect(installed.keys).toEqual([{ id: idOf(oldKey), holders: 3, primaryOn: 3 }, { id: idOf(nextKey), holders: 3, primaryOn: 0 }]);
    for (const file of files) {
      expect(fileIds(file)).toEqual([idOf(oldKey), idOf(nextKey)]);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, "utf8")).not.toContain(Buffer.from(nextKey, "base64").toString("hex")); // base64 lines only
    }

    const used = await cluster[1]!.keys.use(idOf(nextKey));
    expect(sorted(used.acknowledged)).toEqual(sorted(names));
    expect(used.keys).toEqual([{ id: idOf(nextKey), holders: 3, primaryOn: 3 }, { id: idOf(oldKey), holders: 3, primaryOn: 0 }]);
    for (const file of files) expect(fileIds(file)).toEqual([idOf(nextKey), idOf(oldKey)]);

    // Every connection so far was sealed under the old key (the only one when they opened).
    const closed = cluster.map((node) => record(node, "connection-closed"));
    const removed = await cluster[2]!.keys.remove(oldKey);
    expect(sorted(removed.acknowledged)).toEqual(sorted(names));
    expect(removed.keys).toEqual([{ id: idOf(nextKey), holders: 3, primaryOn: 3 }]);
    for (const file of files) expect(fileIds(file)).toEqual([idOf(nextKey)]);

    // Connections sealed under the old key were closed and dialled again: the cluster still replicates.
    await waitFor("every node to close its connections sealed under the removed key", () => closed.every((events) => events.length > 0));
    cluster[0]!.set("app", "after", "rotation");
    await waitFor("the write after the rotation on every node", () => cluster.every((node) => node.get(cluster[0]!.name, "app", "after") === "rotation"));
    // The write can arrive through one peer while another connection is still being dialled again.
    let listed = await cluster[2]!.keys.list();
    await waitFor("every member to answer a listing again", async () => (listed = await cluster[2]!.keys.list()).acknowledged.length === 3);
    expect({ acknowledged: listed.acknowledged.length, keys: listed.keys }).toEqual({ acknowledged: 3, keys: [{ id: idOf(nextKey), holders: 3, primaryOn: 3 }] });

    const refusals: string[] = [];
    const stale = await nodes.start({ name: "rot-stale", seeds: [cluster[0]!.address], encryptKeys: oldKey, gossipIntervalMs: 100 }, { logger: { debug() {}, info() {}, error() {}, warn: (line) => void refusals.push(line) } });
    await waitFor("the stale node's refusal", () => refusals.some((line) => line.includes("no key in common")), 10_000);
    expect(cluster[0]!.nodes()).not.toContain(stale.name);
    expect(watched.flatMap((events) => [...events.suspect, ...events.dead])).toEqual([]);
  });

  test("a member that cannot apply a change is named with its reason; the others apply it", async () => {
    const oldKey = newKey();
    const nextKey = newKey();
    // The third node already prefers the next key (its file lists it first): removing it is refused there.
    const files = [keyFile("refuse-a.keys", oldKey, nextKey), keyFile("refuse-b.keys", oldKey, nextKey), keyFile("refuse-c.keys", nextKey, oldKey)];
    const cluster = await encryptedCluster("ref", files);
    const report = await cluster[0]!.keys.remove(nextKey);
    expect(sorted(report.acknowledged)).toEqual(["ref-0", "ref-1"]);
    expect(report.failed.map((failure) => failure.node)).toEqual(["ref-2"]);
    expect(report.failed[0]!.error).toContain(`key ${idOf(nextKey)} is the primary key`);
    // The refusing member's ring still counts: the next key remains on one member, its primary.
    expect(report.keys).toEqual([{ id: idOf(oldKey), holders: 3, primaryOn: 2 }, { id: idOf(nextKey), holders: 1, primaryOn: 1 }]);
    expect(fileIds(files[2]!)).toEqual([idOf(nextKey), idOf(oldKey)]);
    expect(fileIds(files[0]!)).toEqual([idOf(oldKey)]);
    // The members still all talk: they share the old key.
    cluster[2]!.set("app", "still", "talking");
    await waitFor("ref-2's write on ref-0", () => cluster[0]!.get("ref-2", "app", "still") === "talking");
  });

  test("removing this node's primary, using a key not installed, or a bad key: refused before anything is sent", async () => {
    const oldKey = newKey();
    const [node] = await encryptedCluster("self", [keyFile("self-a.keys", oldKey)]);
    await expect(node!.keys.remove(idOf(oldKey))).rejects.toThrow(new KeyringChangeError(`key ${idOf(oldKey)} is the primary key: make another key primary first (goferbroke keys use)`));
    await expect(node!.keys.use(newKey())).rejects.toThrow(/is not installed on this node .*install it first/);
    await expect(node!.keys.install("bm90IGEga2V5")).rejects.toThrow(new RangeError("the key to install: the key is 9 bytes, expected 32 (generate one with: openssl rand -base64 32)"));
    await expect(node!.keys.remove("zz")).rejects.toThrow(/the key to remove: expected a key fingerprint \(16 hex digits/);
    expect(fileIds(join(dir, "self-a.keys"))).toEqual([idOf(oldKey)]);
  });

  test("a key file that cannot be written refuses the change, which then takes no effect", async () => {
    const oldKey = newKey();
    const node = await nodes.start({ name: "unwritable", encryptKeys: oldKey }, { keyringFile: join(dir, "no-such-dir", "keys") });
    await expect(node.keys.install(newKey())).rejects.toThrow(/cannot write the key file, nothing changed: .*ENOENT/);
    expect((await node.keys.list()).keys).toEqual([{ id: idOf(oldKey), holders: 1, primaryOn: 1 }]);
  });

  test("a node without encryption refuses keys commands: key material never travels in plain", async () => {
    const plain = await nodes.start({ name: "plain" });
    await expect(plain.keys.list()).rejects.toThrow(/this node runs without encryption .*key material never travels over plain connections/);
    await expect(plain.keys.install(newKey())).rejects.toThrow(KeyringChangeError);
  });
});

describe("/v1/keyring", () => {
  const serve = (node: Node) => {
    const admin = startAdminServer(node, { port: 0, hostname: "127.0.0.1", logger: silentLogger });
    admins.push(admin);
    return async (method: string, route: string, body?: unknown) => {
      const response = await fetch(new URL(route, admin.url), { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(5000) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
  };

  test("reports, refusals (409) and bad input (400), each naming what was wrong", async () => {
    const oldKey = newKey();
    const nextKey = newKey();
    const [node] = await encryptedCluster("http", [keyFile("http-a.keys", oldKey)]);
    const call = serve(node!);
    expect(await call("POST", "/v1/keyring/install", { key: nextKey })).toEqual({ status: 200, body: { op: "install", key: idOf(nextKey), asked: 1, acknowledged: ["http-0"], failed: [], noAnswer: [], keys: [{ id: idOf(oldKey), holders: 1, primaryOn: 1 }, { id: idOf(nextKey), holders: 1, primaryOn: 0 }] } });
    expect(await call("GET", "/v1/keyring?timeoutMs=500")).toMatchObject({ status: 200, body: { op: "list", asked: 1 } });
    const primary = await call("POST", "/v1/keyring/remove", { key: idOf(oldKey) });
    expect({ status: primary.status, error: primary.body.error }).toEqual({ status: 409, error: `key ${idOf(oldKey)} is the primary key: make another key primary first (goferbroke keys use)` });
    expect((await call("POST", "/v1/keyring/rotate", { key: nextKey })).status).toBe(404);
    expect((await call("POST", "/v1/keyring/use", { fingerprint: idOf(nextKey) })).body.error).toStartWith('body must be {"key": "…", "timeoutMs": 5000}');
    expect((await call("POST", "/v1/keyring/use", { key: idOf(nextKey), timeoutMs: 0 })).body.error).toBe("timeoutMs must be a whole number of milliseconds from 1 to 60000");
    expect((await call("GET", "/v1/keyring?timeout=1s")).body.error).toBe('unknown query parameter "timeout" (known: timeoutMs)');
    const badKey = await call("POST", "/v1/keyring/install", { key: "c2hvcnQ=" });
    expect({ status: badKey.status, error: badKey.body.error }).toEqual({ status: 400, error: "the key to install: the key is 5 bytes, expected 32 (generate one with: openssl rand -base64 32)" });
    expect(fileIds(join(dir, "http-a.keys"))).toEqual([idOf(oldKey), idOf(nextKey)]);
  });

  test("a node without encryption answers 409 saying so", async () => {
    const call = serve(await nodes.start({ name: "http-plain" }));
    const listed = await call("GET", "/v1/keyring");
    expect(listed.status).toBe(409);
    expect(String(listed.body.error)).toStartWith("this node runs without encryption (no --encrypt-key-file)");
  });
});

describe("keyring messages", () => {
  const decode = (bytes: Uint8Array): Frame[] => {
    const frames: Frame[] = [];
    new FrameDecoder({ maxFrameBytes: 1 << 16 }).push(bytes, (frame) => frames.push({ ...frame, body: new Uint8Array(frame.body) }));
    return frames;
  };

  test("request and reply round-trip; the reply vector of the protocol doc", () => {
    const writer = new FrameWriter(64);
    const key = randomBytes(32);
    writeKeyringRequest(writer, 9, { op: KeyringOp.Install, key });
    const [request] = decode(writer.finish());
    expect({ type: request!.type, id: request!.correlationId }).toEqual({ type: MessageType.KeyringRequest, id: 9 });
    expect(readKeyringRequest(request!.body)).toEqual({ op: KeyringOp.Install, key: new Uint8Array(key) });
    writeKeyringReply(writer, 7, { error: "", ids: [Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)] });
    const bytes = writer.finish();
    expect(Buffer.from(bytes).toString("hex")).toBe("0000000a041300000000000700080102030405060708");
    expect(readKeyringReply(decode(bytes)[0]!.body)).toEqual({ error: "", ids: [Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)] });
  });

  test("malformed bodies are DecodeErrors naming the field", () => {
    expect(() => readKeyringRequest(Uint8Array.of(9, 0))).toThrow(/keyring\.op .*unknown op 9/);
    expect(() => readKeyringRequest(Uint8Array.of(KeyringOp.Use, 3, 1, 2, 3))).toThrow(/use carries 3 key bytes, expected 8/);
    expect(() => readKeyringRequest(Uint8Array.of(KeyringOp.List, 0, 0))).toThrow(DecodeError);
    expect(() => readKeyringReply(Uint8Array.of(0, 3, 1, 2, 3))).toThrow(/keyring\.ids .*3 bytes: expected 1 to 16 ids of 8 bytes/);
    expect(() => readKeyringReply(Uint8Array.of(0, 0))).toThrow(/keyring\.ids/);
  });
});
