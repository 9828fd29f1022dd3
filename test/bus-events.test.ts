// User events over real processes (issue #20 item 1): a burst of 1,000 events broadcast from one
// node reaches every live node exactly once each (the origin included), as seen on each node's
// /v1/events stream; bad names, payloads and parameters are refused with clear errors.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { api, killAll, openEventStream, runCli, startCluster, waitFor, type EventStream, type NodeProcess } from "./support/node-processes.ts";

setDefaultTimeout(120_000);

const NAMES = ["alpha", "bravo", "charlie", "delta", "echo"] as const;
const BURST = 1000;
let nodes: NodeProcess[] = [];
const streams: EventStream[] = [];
/** Per node: the user events it raised, as "origin/ltime/name". */
const received = new Map<string, string[]>();

beforeAll(async () => {
  nodes = await startCluster({ names: NAMES, gossipIntervalMs: 200 });
  for (const node of nodes) {
    const list: string[] = [];
    received.set(node.name, list);
    const stream = openEventStream(node, (event) => {
      if (event.type === "user-event") list.push(`${event.node}/${event.ltime}/${event.name}/${event.payload}`);
    });
    streams.push(stream);
  }
  await Promise.all(streams.map((stream) => stream.ready));
});

afterAll(async () => {
  for (const stream of streams) stream.close();
  await killAll();
});

describe("user events, 5 processes", () => {
  test(`a burst of ${BURST} events reaches every node exactly once each`, async () => {
    const origin = nodes[0]!;
    const ltimes: number[] = [];
    for (let start = 0; start < BURST; start += 50) {
      const answers = await Promise.all(
        Array.from({ length: Math.min(50, BURST - start) }, (_, i) => api<{ ltime: number }>(origin, "POST", `/v1/user-events/burst`, `event-${start + i}`)),
      );
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        ltimes.push(answer.body.ltime);
      }
    }
    expect(new Set(ltimes).size).toBe(BURST);
    const counted = (name: string) => received.get(name)!.filter((line) => line.includes("/burst/")).length;
    const tookMs = await waitFor(`every node to raise ${BURST} burst events`, () => nodes.every((node) => counted(node.name) >= BURST), 30_000);
    console.log(`burst of ${BURST} user events delivered to ${nodes.length} nodes in ${Math.round(tookMs)} ms after the last POST`);
    await Bun.sleep(1000); // late copies (forwarded twice) would show up now
    const expected = ltimes.map((ltime) => `alpha/${ltime}/burst`).sort();
    for (const node of nodes) {
      const lines = received.get(node.name)!.filter((line) => line.includes("/burst/"));
      expect({ node: node.name, count: lines.length }).toEqual({ node: node.name, count: BURST });
      expect(lines.map((line) => line.split("/").slice(0, 3).join("/")).sort()).toEqual(expected);
    }
  });

  test("goferbroke event sends one from the command line", async () => {
    const client = `127.0.0.1:${nodes[1]!.clientPort}`;
    const run = await runCli(["event", "--client", client, "deploy", "v2"], { timeoutMs: 20_000 });
    expect({ code: run.exitCode, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
    expect(run.stdout).toMatch(/^sent event deploy \(ltime \d+\)$/m);
    await waitFor("every node to raise deploy", () => nodes.every((node) => received.get(node.name)!.some((line) => line.startsWith("bravo/") && line.includes("/deploy/"))), 10_000);
  });

  test("bad events are refused with clear errors", async () => {
    const origin = nodes[0]!;
    const long = "n".repeat(129);
    expect(await api(origin, "POST", `/v1/user-events/${long}`, "x")).toEqual({ status: 400, body: { error: "user event name of 129 bytes is longer than 128" } });
    expect(await api(origin, "POST", "/v1/user-events/big", "x".repeat(8193))).toEqual({ status: 413, body: { error: "request body is larger than 8192 bytes" } });
    expect(await api(origin, "POST", "/v1/user-events/x?coalesce=maybe", "")).toEqual({ status: 400, body: { error: 'coalesce must be true or false; got "maybe"' } });
  });
});
