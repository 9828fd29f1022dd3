// GET /v1/state keeps the encoded part of each remote node whose entries did not change
// (src/admin/dump-cache.ts): a dump polled in a loop encodes only what changed. Checked: the cache
// itself (stamps, expiry, bounds, least recently used out); a dump served from it walks none of the
// node's entries and gives the same bytes; and, between real nodes, a dump still shows every
// write, delete and expiry of a node whose part was kept.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { DumpCache, MIN_CACHED_PART_BYTES } from "../src/admin/dump-cache.ts";
import { type AdminServer, startAdminServer } from "../src/admin/index.ts";
import { type DumpedEntry, stateDumpStream } from "../src/admin/state-stream.ts";
import { createNode, type Node } from "../src/index.ts";
import { silentLogger } from "../src/log.ts";
import { ValueType } from "../src/state/index.ts";
import { waitFor } from "./support/wait.ts";

setDefaultTimeout(30_000);

const part = (size: number) => new Uint8Array(size).fill(0x61);

describe("DumpCache", () => {
  test("a part is returned for the stamp it was kept under, until its first entry expires", () => {
    let now = 1_000;
    const cache = new DumpCache(1 << 20, () => now);
    cache.put("n1", "1:10:5:5", 2_000, part(MIN_CACHED_PART_BYTES));
    expect(cache.get("n1", "1:10:5:5")?.length).toBe(MIN_CACHED_PART_BYTES);
    expect(cache.get("n1", "1:11:6:6")).toBeUndefined(); // the node changed: the part is dropped
    expect(cache.get("n1", "1:10:5:5")).toBeUndefined();
    cache.put("n1", "1:11:6:6", 2_000, part(MIN_CACHED_PART_BYTES));
    now = 2_000; // an entry of it expired
    expect(cache.get("n1", "1:11:6:6")).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });

  test("small parts, parts over a quarter of the bound and parts already expired are not kept", () => {
    const cache = new DumpCache(64 * 1024, () => 0);
    cache.put("small", "s", Infinity, part(MIN_CACHED_PART_BYTES - 1));
    cache.put("large", "s", Infinity, part(16 * 1024 + 1));
    cache.put("expired", "s", 0, part(MIN_CACHED_PART_BYTES));
    expect([cache.get("small", "s"), cache.get("large", "s"), cache.get("expired", "s")]).toEqual([undefined, undefined, undefined]);
    expect(cache.bytes).toBe(0);
  });

  test("the bound holds: the least recently used parts go first", () => {
    const cache = new DumpCache(4 * MIN_CACHED_PART_BYTES, () => 0);
    for (const name of ["a", "b", "c", "d"]) cache.put(name, "s", Infinity, part(MIN_CACHED_PART_BYTES));
    expect(cache.get("a", "s")).toBeDefined(); // a is now the most recently used
    cache.put("e", "s", Infinity, part(MIN_CACHED_PART_BYTES));
    expect(cache.bytes).toBe(4 * MIN_CACHED_PART_BYTES);
    expect(["a", "b", "c", "d", "e"].map((name) => cache.get(name, "s") !== undefined)).toEqual([true, false, true, true, true]);
  });
});

describe("the dump stream with the cache", () => {
  const entries: DumpedEntry[] = Array.from({ length: 2_000 }, (_, i) => ({ group: `g${i % 3}`, key: `k${i}`, value: new TextEncoder().encode(`value ${i}`), valueType: ValueType.String, version: i + 1 }));
  let walked = 0;
  const counted = function* () {
    for (const entry of entries) {
      walked++;
      yield entry;
    }
  };
  const read = async (stamp: string | undefined, cache: DumpCache) => await new Response(stateDumpStream([{ name: "self", entries: [], stamp: undefined }, { name: "remote", entries: counted(), stamp }], cache)).text();

  test("a node's part comes from the cache while its stamp holds: the same bytes, none of its entries walked", async () => {
    const cache = new DumpCache();
    const first = await read("s1", cache);
    expect(walked).toBe(entries.length);
    const parsed = JSON.parse(first) as Record<string, Record<string, Record<string, { value: string }>>>;
    expect(Object.keys(parsed)).toEqual(["self", "remote"]);
    expect(parsed.remote!.g1!.k1!.value).toBe("value 1");
    expect(Object.values(parsed.remote!).reduce((sum, keys) => sum + Object.keys(keys).length, 0)).toBe(entries.length);
    expect(await read("s1", cache)).toBe(first);
    expect(walked).toBe(entries.length); // served from the cache
    expect(await read("s2", cache)).toBe(first); // a new stamp: encoded again (same entries here)
    expect(walked).toBe(2 * entries.length);
    expect(await read(undefined, cache)).toBe(first); // no stamp: never cached
    expect(walked).toBe(3 * entries.length);
  });
});

describe("between two nodes", () => {
  let alpha: Node;
  let bravo: Node;
  let admin: AdminServer;
  const dump = async () => (await (await fetch(new URL("/v1/state", admin.url))).json()) as Record<string, Record<string, Record<string, { value: unknown }>>>;

  beforeAll(async () => {
    alpha = createNode({ name: "alpha", address: "127.0.0.1:0", gossipIntervalMs: 100 });
    await alpha.start();
    bravo = createNode({ name: "bravo", address: "127.0.0.1:0", seeds: [alpha.address], gossipIntervalMs: 100 });
    await bravo.start();
    admin = startAdminServer(bravo, { port: 0, hostname: "127.0.0.1", logger: silentLogger });
    for (let i = 0; i < 500; i++) alpha.set("bulk", `key-${i}`, `a value long enough to make a part worth keeping ${i}`);
    alpha.set("bulk", "short-lived", "gone soon", { ttl: 1_500 });
    await waitFor("bravo to hold alpha's entries", () => bravo.get("alpha", "bulk", "key-499") !== undefined && bravo.get("alpha", "bulk", "short-lived") !== undefined);
  });

  afterAll(async () => {
    await admin.stop();
    await bravo.stop();
    await alpha.stop();
  });

  test("writes, deletes and expiries of a node whose part was kept show in the next dump", async () => {
    const first = await dump();
    expect(Object.keys(first.alpha!.bulk!).length).toBe(501);
    expect(await dump()).toEqual(first);

    alpha.set("bulk", "key-7", "changed");
    alpha.delete("bulk", "key-8");
    await waitFor("bravo to see the change and the delete", () => bravo.get("alpha", "bulk", "key-7") === "changed" && bravo.get("alpha", "bulk", "key-8") === undefined);
    const second = await dump();
    expect(second.alpha!.bulk!["key-7"]!.value).toBe("changed");
    expect(second.alpha!.bulk!["key-8"]).toBeUndefined();

    await waitFor("the short-lived entry to expire", async () => (await dump()).alpha!.bulk!["short-lived"] === undefined, 10_000);
    expect(Object.keys((await dump()).alpha!.bulk!).length).toBe(499);
  });
});
