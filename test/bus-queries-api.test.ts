// Queries through the module API (issue #20 item 2), on real nodes over TCP on 127.0.0.1: acks and
// answers come back as they are given, filters choose whom to ask, handlers that fail, run late or
// answer too much are reported as errors with the reason, a node without a handler says so, and a
// stopped responder is named as missing when the timeout ends the query.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Node, QueryItem, QuerySummary } from "../src/index.ts";
import { Nodes } from "./api-helpers.ts";

setDefaultTimeout(30_000);

const nodes = new Nodes();
let cluster: Node[] = [];
const byName = (name: string): Node => cluster.find((node) => node.name === name)!;

beforeAll(async () => {
  cluster = await nodes.cluster(["q-a", "q-b", "q-c", "web-1", "web-2"], { gossipIntervalMs: 100 });
  for (const node of cluster) {
    node.onQuery("whoami", ({ payload, from }) => `${node.name} got ${new TextDecoder().decode(payload)} from ${from}`);
    node.onQuery("slow-on-c", async () => {
      if (node.name === "q-c") await Bun.sleep(5_000);
      return "quick";
    });
  }
  byName("q-b").onQuery("fails", () => {
    throw new Error("disk on fire");
  });
  byName("q-b").onQuery("too-big", () => new Uint8Array(8193));
  byName("web-1").set("role", "tier", "frontend");
  byName("web-2").set("role", "tier", "frontend");
  byName("q-c").set("role", "tier", "backend");
  // Entry filters are evaluated on the origin's replica: wait until q-a holds every role entry.
  const a = byName("q-a");
  const deadline = performance.now() + 10_000;
  while (["web-1", "web-2", "q-c"].some((name) => a.get(name, "role", "tier") === undefined)) {
    if (performance.now() > deadline) throw new Error("role entries did not reach q-a in 10 s");
    await Bun.sleep(50);
  }
});

afterAll(async () => {
  await nodes.stopAll();
});

async function collect(iterable: AsyncIterable<QueryItem>): Promise<{ items: QueryItem[]; summary: QuerySummary }> {
  const items: QueryItem[] = [];
  for await (const item of iterable) items.push(item);
  const last = items.at(-1);
  if (last?.type !== "summary") throw new Error(`the last item was ${JSON.stringify(last)}, not the summary`);
  const { type: _, ...summary } = last;
  return { items, summary };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("node.query", () => {
  test("every node acks and answers, this one included, and the query ends as soon as all did", async () => {
    const started = performance.now();
    const { items, summary } = await collect(byName("q-a").query("whoami", "hello", { timeoutMs: 5_000, requestAck: true }));
    expect(performance.now() - started).toBeLessThan(4_000);
    const all = cluster.map((node) => node.name).sort();
    expect([...summary.asked].sort()).toEqual(all);
    expect([...summary.acked].sort()).toEqual(all);
    expect([...summary.responded].sort()).toEqual(all);
    expect({ missing: summary.missing, errors: summary.errors, timedOut: summary.timedOut }).toEqual({ missing: [], errors: [], timedOut: false });
    const responses = items.filter((item) => item.type === "response");
    expect(responses.map((item) => text(item.payload)).sort()).toEqual(all.map((name) => `${name} got hello from q-a`));
    // Each node's ack comes before its answer.
    for (const name of all) {
      const ackAt = items.findIndex((item) => item.type === "ack" && item.from === name);
      const answerAt = items.findIndex((item) => item.type === "response" && item.from === name);
      expect({ name, ackFirst: ackAt >= 0 && ackAt < answerAt }).toEqual({ name, ackFirst: true });
    }
  });

  test("node names, patterns and entry conditions choose whom to ask", async () => {
    const a = byName("q-a");
    expect((await a.query("whoami", "", { nodes: ["q-b", "web-*"], timeoutMs: 3_000 }).summary).asked.sort()).toEqual(["q-b", "web-1", "web-2"]);
    expect((await a.query("whoami", "", { nodes: ["q-?"], timeoutMs: 3_000 }).summary).asked.sort()).toEqual(["q-a", "q-b", "q-c"]);
    const frontend = await a.query("whoami", "", { filter: { group: "role", key: "tier", value: "frontend" }, timeoutMs: 3_000 }).summary;
    expect({ asked: frontend.asked.sort(), responded: frontend.responded.sort() }).toEqual({ asked: ["web-1", "web-2"], responded: ["web-1", "web-2"] });
    const anyRole = await a.query("whoami", "", { filter: [{ group: "role", key: "tier" }], nodes: ["q-*"], timeoutMs: 3_000 }).summary;
    expect(anyRole.asked).toEqual(["q-c"]);
    const nobody = await a.query("whoami", "", { nodes: ["nobody"], timeoutMs: 3_000 }).summary;
    expect({ asked: nobody.asked, timedOut: nobody.timedOut }).toEqual({ asked: [], timedOut: false });
  });

  test("a failing, late, oversized or missing handler is an error naming the reason", async () => {
    const b = byName("q-b");
    const ask = async (name: string, timeoutMs = 3_000) => (await byName("q-a").query(name, "", { nodes: ["q-b"], timeoutMs }).summary).errors;
    expect(await ask("fails")).toEqual([{ from: "q-b", error: 'handler for query "fails" on q-b failed: disk on fire' }]);
    expect(await ask("too-big")).toEqual([{ from: "q-b", error: 'handler for query "too-big" on q-b answered 8193 bytes, more than 8192' }]);
    expect(await ask("nothing-here")).toEqual([{ from: "q-b", error: 'no handler for query "nothing-here" on q-b' }]);
    const started = performance.now();
    const late = await byName("q-a").query("slow-on-c", "", { nodes: ["q-b", "q-c"], timeoutMs: 1_000 }).summary;
    expect(late.responded).toEqual(["q-b"]);
    expect(late.errors).toEqual([{ from: "q-c", error: 'handler for query "slow-on-c" on q-c did not answer within 900 ms' }]);
    expect({ missing: late.missing, timedOut: late.timedOut }).toEqual({ missing: [], timedOut: false });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(() => b.onQuery("fails", () => "again")).toThrow('query "fails" already has a handler on this node');
  });

  test("bad queries are refused with clear errors", () => {
    const a = byName("q-a");
    expect(() => a.query("", "x")).toThrow("query name must be a non-empty string");
    expect(() => a.query("n".repeat(129), "x")).toThrow("query name of 129 bytes is longer than 128");
    expect(() => a.query("big", new Uint8Array(8193))).toThrow('query "big": payload of 8193 bytes is larger than 8192');
    expect(() => a.query("t", "", { timeoutMs: 0 })).toThrow("query timeoutMs must be a whole number of ms from 1 to 60000; got 0");
    expect(() => a.query("t", "", { timeoutMs: 60_001 })).toThrow("got 60001");
    expect(() => a.query("t", "", { relayFactor: 6 })).toThrow("query relayFactor must be a whole number from 0 to 5; got 6");
    expect(() => a.query("t", "", { filter: { group: "", key: "k" } })).toThrow("must be {group, key, value?}");
    expect(() => a.query("t", "", { nodes: "web-*" as never })).toThrow("query nodes must be a list of node names or patterns");
  });

  test("with a relay factor every node still answers once", async () => {
    const summary = await byName("q-b").query("whoami", "relayed", { relayFactor: 2, requestAck: true, timeoutMs: 5_000 }).summary;
    expect(summary.responded.length).toBe(cluster.length);
    expect(summary.acked.length).toBe(cluster.length);
  });

  test("a responder that stops mid-query is named missing when the timeout ends it", async () => {
    const c = byName("q-c");
    const run = byName("q-a").query("slow-on-c", "", { timeoutMs: 2_000, nodes: ["q-b", "q-c"] });
    await Bun.sleep(200);
    await c.stop();
    const started = performance.now();
    const summary = await run.summary;
    expect(summary.responded).toEqual(["q-b"]);
    expect({ missing: summary.missing, timedOut: summary.timedOut }).toEqual({ missing: ["q-c"], timedOut: true });
    expect(summary.elapsedMs).toBeGreaterThanOrEqual(1_990);
    expect(performance.now() - started).toBeLessThan(2_500);
  });
});
