// Membership in a cluster of real processes at a 200 ms gossip interval: a node killed with -9 is
// declared dead by every survivor (the time it takes is printed), a node stopped with SIGTERM is
// marked left and never dead, and restarted nodes come back alive with a new generation.
// Observed through /v1/members and the /v1/events stream of every survivor.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  api,
  killAll,
  members,
  openEventStream,
  restartNode,
  startCluster,
  stopNode,
  waitFor,
  waitHealthy,
  type EventStream,
  type MemberRow,
  type NodeProcess,
} from "./support/node-processes.ts";

setDefaultTimeout(90_000);

const NAMES = ["alpha", "bravo", "charlie", "delta", "echo"] as const;
const INTERVAL_MS = 200;
/**
 * Upper bound on detecting a crash. The detector allows a 3 s pause (acceptablePauseMs) on top
 * of the mean heartbeat interval, then a suspect waits at least 1 s and a failed probe round
 * before it is dead: about 4.5 s here. 15 s leaves room for a loaded CI machine.
 */
const DEAD_WITHIN_MS = 15_000;

/** Node-state events one survivor has raised about other nodes, with their arrival times. */
interface Watch {
  node: NodeProcess;
  stream: EventStream;
  events: { type: string; about: string; generation: number; at: number }[];
}

let nodes: NodeProcess[] = [];
const watches: Watch[] = [];

function watch(node: NodeProcess): Watch {
  const entry: Watch = { node, stream: null as unknown as EventStream, events: [] };
  entry.stream = openEventStream(node, (event, at) => {
    if (typeof event.type === "string" && event.type.startsWith("node-")) {
      entry.events.push({ type: event.type, about: String(event.node), generation: Number(event.generation), at });
    }
  });
  watches.push(entry);
  return entry;
}

const stateOf = (rows: MemberRow[], name: string): MemberRow | undefined => rows.find((row) => row.name === name);
const byName = (name: string): NodeProcess => nodes.find((node) => node.name === name)!;

beforeAll(async () => {
  nodes = await startCluster({ names: NAMES, gossipIntervalMs: INTERVAL_MS });
});

afterAll(async () => {
  for (const entry of watches) entry.stream.close();
  await killAll();
});

describe("membership of 5 processes at a 200 ms interval", () => {
  test("a node killed with -9 is marked dead by every survivor", async () => {
    const victim = byName("echo");
    const survivors = nodes.filter((node) => node !== victim);
    const watched = survivors.map(watch);
    await Promise.all(watched.map((entry) => entry.stream.ready));

    const killedAt = performance.now();
    await stopNode(victim, "SIGKILL");
    await waitFor(
      "every survivor to mark echo dead",
      async () => (await Promise.all(survivors.map((node) => members(node)))).every((rows) => stateOf(rows, "echo")?.state === "dead"),
      DEAD_WITHIN_MS,
    );
    // The event arrival times are the precise ones (polling adds up to 50 ms per sample).
    await waitFor("each survivor's node-dead event", () => watched.every((entry) => entry.events.some((e) => e.type === "node-dead" && e.about === "echo")), 2_000);
    const detection = watched.map((entry) => ({
      survivor: entry.node.name,
      deadAfterMs: Math.round(entry.events.find((e) => e.type === "node-dead" && e.about === "echo")!.at - killedAt),
      suspectAfterMs: Math.round((entry.events.find((e) => e.type === "node-suspect" && e.about === "echo")?.at ?? Number.NaN) - killedAt),
    }));
    const slowest = Math.max(...detection.map((row) => row.deadAfterMs));
    console.log(`kill -9 of echo: declared dead by all 4 survivors within ${slowest} ms (${(slowest / INTERVAL_MS).toFixed(1)} intervals)`);
    console.table(detection);
    expect(slowest).toBeLessThan(DEAD_WITHIN_MS);
    // Nobody else was convicted on the way.
    for (const rows of await Promise.all(survivors.map((node) => members(node)))) {
      for (const name of ["alpha", "bravo", "charlie", "delta"]) expect({ name, state: stateOf(rows, name)?.state }).toEqual({ name, state: "alive" });
    }
    for (const entry of watched) expect(entry.events.filter((e) => e.type === "node-dead" && e.about !== "echo")).toEqual([]);
  });

  test("a node stopped with SIGTERM is marked left by every survivor, never dead", async () => {
    const leaver = byName("delta");
    const survivors = nodes.filter((node) => node.name !== "delta" && node.name !== "echo");
    const watched = survivors.map(watch);
    await Promise.all(watched.map((entry) => entry.stream.ready));

    const stoppedAt = performance.now();
    expect(await stopNode(leaver, "SIGTERM")).toBe(0);
    await waitFor(
      "every survivor to mark delta left",
      async () => (await Promise.all(survivors.map((node) => members(node)))).every((rows) => stateOf(rows, "delta")?.state === "left"),
      5_000,
    );
    console.log(`SIGTERM of delta: marked left by all 3 survivors within ${Math.round(performance.now() - stoppedAt)} ms`);
    // Stay watching for longer than a crash takes to be convicted: a left node must not turn dead.
    const until = performance.now() + 6_000;
    while (performance.now() < until) {
      for (const rows of await Promise.all(survivors.map((node) => members(node)))) expect(stateOf(rows, "delta")?.state).toBe("left");
      await Bun.sleep(250);
    }
    for (const entry of watched) {
      const aboutDelta = entry.events.filter((e) => e.about === "delta").map((e) => e.type);
      expect({ survivor: entry.node.name, aboutDelta }).toEqual({ survivor: entry.node.name, aboutDelta: ["node-left"] });
    }
  });

  test("restarted, the stopped and the killed node are alive again with a new generation on every node", async () => {
    const before = new Map((await members(byName("alpha"))).map((row) => [row.name, row.generation]));
    const restarted: NodeProcess[] = [];
    for (const name of ["delta", "echo"]) {
      const old = byName(name);
      const reborn = await restartNode(old);
      await waitHealthy(reborn);
      nodes[nodes.indexOf(old)] = reborn;
      restarted.push(reborn);
    }
    const generations = new Map<string, number>();
    for (const node of restarted) {
      const generation = (await api<{ generation: number }>(node, "GET", "/v1/self")).body.generation;
      expect(generation).toBeGreaterThan(before.get(node.name)!);
      generations.set(node.name, generation);
    }
    await waitFor(
      "every node to list delta and echo alive with their new generations",
      async () => (await Promise.all(nodes.map((node) => members(node)))).every((rows) =>
        [...generations].every(([name, generation]) => {
          const row = stateOf(rows, name);
          return row?.state === "alive" && row.generation === generation;
        }) && rows.filter((row) => row.state === "alive").length === NAMES.length),
      10_000,
    );
  });
});
