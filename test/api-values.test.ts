// Values through the public API over real TCP: every value type arrives typed on the other nodes,
// updates and deletes arrive with their previous value and version, TTL entries expire on every
// node, and local writes raise events marked local.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Node, type Value, ValueType, WriteError } from "../src/index.ts";
import { Nodes, record, waitFor, waitForEvent } from "./api-helpers.ts";

// Real clusters: every wait inside is bounded on its own; this only stops the runner's 5 s default
// (bunfig.toml cannot change it) from cutting a slow machine short.
setDefaultTimeout(30_000);

const nodes = new Nodes();
let alpha: Node;
let bravo: Node;
let charlie: Node;

beforeAll(async () => {
  [alpha, bravo, charlie] = (await nodes.cluster(["alpha", "bravo", "charlie"], { clusterName: "api-values", gossipIntervalMs: 100 })) as [Node, Node, Node];
});

afterAll(() => nodes.stopAll());

/** Waits until `key` written by alpha is visible on bravo and charlie. */
async function seenByOthers(group: string, key: string): Promise<void> {
  await waitFor(`${group}/${key} on bravo and charlie`, () => [bravo, charlie].every((node) => node.getEntry(alpha.name, group, key) !== undefined));
}

describe("value types", () => {
  const cases: { key: string; value: Value; type: ValueType | undefined; name: string; expected: Value }[] = [
    { key: "string", value: "héllo, wörld ✓", type: undefined, name: "string", expected: "héllo, wörld ✓" },
    { key: "empty-string", value: "", type: undefined, name: "string", expected: "" },
    { key: "bytes", value: new Uint8Array([0, 1, 2, 127, 128, 255]), type: undefined, name: "bytes", expected: new Uint8Array([0, 1, 2, 127, 128, 255]) },
    { key: "int64-max", value: 2n ** 63n - 1n, type: undefined, name: "int", expected: 9223372036854775807n },
    { key: "int64-min", value: -(2n ** 63n), type: undefined, name: "int", expected: -9223372036854775808n },
    { key: "int64-from-number", value: 42, type: ValueType.Int64, name: "int", expected: 42n },
    { key: "float64", value: 3.141592653589793, type: undefined, name: "float", expected: 3.141592653589793 },
    { key: "float64-tiny", value: -1.5e-300, type: undefined, name: "float", expected: -1.5e-300 },
    { key: "float64-integral", value: 7, type: undefined, name: "float", expected: 7 },
    { key: "bool-true", value: true, type: undefined, name: "bool", expected: true },
    { key: "bool-false", value: false, type: undefined, name: "bool", expected: false },
    { key: "json-object", value: { region: "eu", limits: { max: 10 }, tags: ["a", "b", null], on: true }, type: undefined, name: "json", expected: { region: "eu", limits: { max: 10 }, tags: ["a", "b", null], on: true } },
    { key: "json-array", value: [1, "two", { three: 3 }], type: undefined, name: "json", expected: [1, "two", { three: 3 }] },
    { key: "json-null", value: null, type: undefined, name: "json", expected: null },
    { key: "json-string", value: "quoted", type: ValueType.Json, name: "json", expected: "quoted" },
  ];

  test("a set on one node is seen with the right type and value on the others", async () => {
    const added = [record(bravo, "entry-added"), record(charlie, "entry-added")];
    const versions = new Map<string, number>();
    for (const c of cases) versions.set(c.key, alpha.set("types", c.key, c.value, c.type === undefined ? {} : { type: c.type }));
    for (const c of cases) await seenByOthers("types", c.key);

    for (const node of [alpha, bravo, charlie]) {
      for (const c of cases) {
        const entry = node.getEntry(alpha.name, "types", c.key);
        expect({ node: node.name, key: c.key, type: entry?.type }).toEqual({ node: node.name, key: c.key, type: c.name as never });
        expect(entry?.value).toEqual(c.expected);
        expect(entry?.version).toBe(versions.get(c.key)!);
        expect(node.get(alpha.name, "types", c.key)).toEqual(c.expected);
      }
    }
    // Types are not merely "deep equal": a bigint stays a bigint, bytes stay a Uint8Array.
    expect(typeof bravo.get(alpha.name, "types", "int64-max")).toBe("bigint");
    expect(typeof bravo.get(alpha.name, "types", "float64-integral")).toBe("number");
    expect(bravo.get(alpha.name, "types", "bytes")).toBeInstanceOf(Uint8Array);

    // Each remote node raised one entry-added per key, carrying the same typed value.
    for (const events of added) {
      for (const c of cases) {
        const matching = events.filter((event) => event.group === "types" && event.key === c.key);
        expect(matching.length).toBe(1);
        expect(matching[0]!.valueType).toBe(c.name as never);
        expect(matching[0]!.value).toEqual(c.expected);
        expect(matching[0]!.node).toBe(alpha.name);
      }
    }
  });

  test("a value that does not fit its declared type is refused before anything changes", () => {
    expect(() => alpha.set("types", "bad-int", "12", { type: ValueType.Int64 })).toThrow(TypeError);
    expect(() => alpha.set("types", "bad-int", 2n ** 63n)).toThrow(RangeError);
    expect(() => alpha.set("types", "bad-bool", 1, { type: ValueType.Bool })).toThrow(TypeError);
    expect(alpha.getEntry(alpha.name, "types", "bad-int")).toBeUndefined();
    expect(alpha.getEntry(alpha.name, "types", "bad-bool")).toBeUndefined();
  });
});

describe("updates and deletes", () => {
  test("entry-updated and entry-deleted on a remote node carry the previous value and version", async () => {
    const updated = record(bravo, "entry-updated");
    const deleted = record(bravo, "entry-deleted");
    const v1 = alpha.set("history", "colour", "red");
    await seenByOthers("history", "colour");

    const v2 = alpha.set("history", "colour", "green");
    expect(v2).toBeGreaterThan(v1);
    const update = await waitForEvent(updated, "entry-updated for colour on bravo", (event) => event.key === "colour");
    expect(update).toMatchObject({ node: alpha.name, group: "history", key: "colour", value: "green", valueType: "string", version: v2, local: false });
    expect(update.previous).toEqual({ value: "red", valueType: "string", version: v1 });

    // A change of type is an update too; the previous value keeps its own type.
    const v3 = alpha.set("history", "colour", 0xff0000n);
    const retyped = await waitForEvent(updated, "the retyped colour on bravo", (event) => event.key === "colour" && event.version === v3);
    expect(retyped).toMatchObject({ value: 0xff0000n, valueType: "int" });
    expect(retyped.previous).toEqual({ value: "green", valueType: "string", version: v2 });

    expect(alpha.delete("history", "colour")).toBe(true);
    const deletion = await waitForEvent(deleted, "entry-deleted for colour on bravo", (event) => event.key === "colour");
    // The deleted event names the value that went away, and its version.
    expect(deletion).toMatchObject({ node: alpha.name, group: "history", key: "colour", value: 0xff0000n, valueType: "int", version: v3, local: false });
    expect(deletion.previous).toEqual({ value: 0xff0000n, valueType: "int", version: v3 });
    await waitFor("colour gone everywhere", () => [alpha, bravo, charlie].every((node) => node.get(alpha.name, "history", "colour") === undefined));

    // Exactly one event per change on bravo.
    expect(updated.filter((event) => event.key === "colour").map((event) => event.version)).toEqual([v2, v3]);
    expect(deleted.filter((event) => event.key === "colour").length).toBe(1);
    // Deleting what is not there is a no-op.
    expect(alpha.delete("history", "colour")).toBe(false);
    expect(alpha.delete("history", "never-set")).toBe(false);
  });

  test("a key re-added after its delete is an entry-added again, without a previous value", async () => {
    const added = record(charlie, "entry-added");
    alpha.set("history", "phoenix", "first");
    await seenByOthers("history", "phoenix");
    alpha.delete("history", "phoenix");
    await waitFor("phoenix deleted on charlie", () => charlie.get(alpha.name, "history", "phoenix") === undefined);
    const version = alpha.set("history", "phoenix", "second");
    const event = await waitForEvent(added, "phoenix re-added on charlie", (e) => e.key === "phoenix" && e.version === version);
    expect(event.value).toBe("second");
    expect(event.previous).toBeUndefined();
  });
});

describe("TTL", () => {
  // Several keys with deadlines spread over one gossip interval: whichever node's round comes
  // first after a deadline (the owner's or this one's), the change must be reported as an expiry.
  test("TTL entries expire on every node: entry-expired remotely, get() undefined everywhere", async () => {
    const expiredOnBravo = record(bravo, "entry-expired");
    const deletedOnBravo = record(bravo, "entry-deleted");
    const expiredOnAlpha = record(alpha, "entry-expired");
    const keys = Array.from({ length: 8 }, (_, i) => ({ key: `token-${i}`, ttl: 600 + i * 13, value: `secret-${i}` }));
    const writtenAt = Date.now();
    const versions = new Map(keys.map(({ key, ttl, value }) => [key, alpha.set("session", key, value, { ttl })]));
    alpha.set("session", "keeper", "stays");
    for (const { key } of keys) await seenByOthers("session", key);
    await seenByOthers("session", "keeper");
    for (const node of [alpha, bravo, charlie]) expect(node.get(alpha.name, "session", "token-0")).toBe("secret-0");

    await waitFor("every token gone from every node", () => keys.every(({ key }) => [alpha, bravo, charlie].every((node) => node.get(alpha.name, "session", key) === undefined)), 5_000);
    // Not before its time (the wall clock is shared on loopback).
    expect(Date.now() - writtenAt).toBeGreaterThanOrEqual(600);
    await Bun.sleep(300); // room for a late or duplicate event to show up

    expect(deletedOnBravo.filter((e) => e.group === "session").map((e) => e.key)).toEqual([]);
    for (const { key, value } of keys) {
      const events = expiredOnBravo.filter((e) => e.key === key);
      expect({ key, count: events.length }).toEqual({ key, count: 1 });
      expect(events[0]).toMatchObject({ node: alpha.name, group: "session", key, value, valueType: "string", version: versions.get(key)!, local: false });
      expect(events[0]!.time).toBeGreaterThanOrEqual(writtenAt + 600);
      expect(expiredOnAlpha.filter((e) => e.key === key).map((e) => [e.node, e.local])).toEqual([[alpha.name, true]]);
    }
    // The entry without a TTL is untouched.
    for (const node of [alpha, bravo, charlie]) expect(node.get(alpha.name, "session", "keeper")).toBe("stays");
  }, 15_000);

  test("a TTL must be a positive number of milliseconds, at most a year", () => {
    const expected = (ttl: string) => `ttl must be a positive number of milliseconds, at most ${365 * 24 * 3600 * 1000} (a year), got ${ttl}`;
    for (const ttl of [0, -5, 1e300, 365 * 24 * 3600 * 1000 + 1, Number.POSITIVE_INFINITY, Number.NaN]) {
      expect(() => alpha.set("session", "bad", "x", { ttl })).toThrow(new WriteError(expected(String(ttl))));
    }
    expect(alpha.get(alpha.name, "session", "bad")).toBeUndefined();
  });
});

describe("writes the wire cannot carry", () => {
  // Each of these used to be stored, and then every message carrying it failed to encode: none of
  // alpha's later writes reached any peer again. Now they are refused before anything is stored.
  const lone = "bad\ud800";
  const refused: { what: string; write: () => unknown; error: Error }[] = [
    { what: "a key with a lone surrogate", write: () => alpha.set("poison", lone, "x"), error: new WriteError(`key "bad\\ud800" contains a lone UTF-16 surrogate`) },
    { what: "a group with a lone surrogate", write: () => alpha.set(lone, "k", "x"), error: new WriteError(`group "bad\\ud800" contains a lone UTF-16 surrogate`) },
    { what: "a string value with a lone surrogate", write: () => alpha.set("poison", "string", lone), error: new TypeError("value of type string contains a lone UTF-16 surrogate") },
    { what: "a TTL past the wire's range", write: () => alpha.set("poison", "ttl", "x", { ttl: 1e300 }), error: new WriteError(`ttl must be a positive number of milliseconds, at most ${365 * 24 * 3600 * 1000} (a year), got 1e+300`) },
  ];

  test("are refused with an error naming the argument, nothing is stored, and later writes still reach every peer", async () => {
    const events = record(alpha, "entry-added");
    for (const { what, write, error } of refused) {
      let thrown: unknown;
      try {
        write();
      } catch (caught) {
        thrown = caught;
      }
      expect({ what, type: (thrown as Error)?.constructor, message: (thrown as Error)?.message }).toEqual({ what, type: error.constructor, message: error.message });
    }
    expect(alpha.entries(alpha.name).filter((entry) => entry.group === "poison" || entry.group === lone)).toEqual([]);
    expect(events).toEqual([]);
    // Nothing was stored, so there is nothing to delete (this used to throw the same EncodeError).
    expect(alpha.delete("poison", lone)).toBe(false);
    const version = alpha.set("poison", "after", "still flows");
    await seenByOthers("poison", "after");
    for (const node of [bravo, charlie]) expect(node.getEntry(alpha.name, "poison", "after")).toMatchObject({ value: "still flows", version });
    for (const node of [bravo, charlie]) {
      expect(node.entries(alpha.name).filter((entry) => entry.group === lone || entry.group === "poison").map((entry) => entry.key)).toEqual(["after"]);
    }
  });
});

describe("local events", () => {
  test("local writes raise events marked local: true; the same changes arrive elsewhere as local: false", async () => {
    const local = { added: record(alpha, "entry-added"), updated: record(alpha, "entry-updated"), deleted: record(alpha, "entry-deleted") };
    const remote = { added: record(charlie, "entry-added"), updated: record(charlie, "entry-updated"), deleted: record(charlie, "entry-deleted") };
    const v1 = alpha.set("local", "mine", 1);
    // Local events are raised synchronously, inside set() and delete().
    expect(local.added.map((e) => [e.key, e.node, e.local, e.version])).toEqual([["mine", alpha.name, true, v1]]);
    expect((await waitForEvent(remote.added, "mine added on charlie", (e) => e.key === "mine")).local).toBe(false);

    const v2 = alpha.set("local", "mine", 2);
    expect(local.updated.map((e) => [e.key, e.node, e.local, e.version, e.previous?.version])).toEqual([["mine", alpha.name, true, v2, v1]]);
    expect((await waitForEvent(remote.updated, "mine updated on charlie", (e) => e.key === "mine")).local).toBe(false);

    expect(alpha.delete("local", "mine")).toBe(true);
    expect(local.deleted.map((e) => [e.key, e.node, e.local, e.value])).toEqual([["mine", alpha.name, true, 2]]);
    expect((await waitForEvent(remote.deleted, "mine deleted on charlie", (e) => e.key === "mine")).local).toBe(false);

    // Writes made by other nodes are never local on this one.
    const bravoVersion = bravo.set("local", "theirs", "b");
    const seen = await waitForEvent(local.added, "bravo's write on alpha", (e) => e.key === "theirs");
    expect(seen).toMatchObject({ node: bravo.name, local: false, version: bravoVersion });
  });
});
