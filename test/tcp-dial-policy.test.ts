// Which peers a node dials (TransportHost.dialPolicy): real nodes over TCP on 127.0.0.1. A node
// that left is never dialled again, not even once its state is removed; a dead node is dialled
// only quietly (the occasional dead-peer round), so its refused connections are debug lines, not
// warnings. Every node is stopped in afterAll; every wait is bounded.

import { afterAll, describe, expect, test } from "bun:test";
import { createNode, type Node } from "../src/index.ts";
import type { LogFields, Logger } from "../src/log.ts";
import { waitFor, withTimeout } from "./api-helpers.ts";

interface LogLine {
  level: "debug" | "info" | "warn" | "error";
  message: string;
}

function recordingLogger(lines: LogLine[]): Logger {
  const at = (level: LogLine["level"]) => (message: string, _fields?: LogFields) => void lines.push({ level, message });
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

const started: Node[] = [];

afterAll(async () => {
  for (const node of started.splice(0)) await withTimeout(node.stop(), 5_000, `stopping ${node.name}`).catch(() => {});
});

/** Three nodes at 100 ms rounds, each logging into its own list; waits until all see all alive. */
async function cluster(prefix: string, options: Record<string, unknown> = {}): Promise<{ nodes: Node[]; logs: LogLine[][] }> {
  const nodes: Node[] = [];
  const logs: LogLine[][] = [];
  for (const name of ["alpha", "bravo", "charlie"]) {
    const lines: LogLine[] = [];
    const seeds = nodes.length === 0 ? [] : [nodes[0]!.address];
    const node = createNode({ name: `${prefix}-${name}`, address: "127.0.0.1:0", clusterName: prefix, seeds, gossipIntervalMs: 100, ...options }, { logger: recordingLogger(lines) });
    started.push(node);
    await node.start();
    nodes.push(node);
    logs.push(lines);
  }
  const allAlive = () => nodes.every((node) => node.members().filter((member) => member.state === "alive").length === nodes.length);
  await waitFor("three nodes to see each other alive", allAlive, 10_000);
  return { nodes, logs };
}

const cannotReach = (lines: LogLine[], name: string): LogLine[] => lines.filter((line) => line.message.startsWith(`cannot reach ${name} `));

describe("dialling peers that left or died", () => {
  test("a node that left is never dialled again, also after its state was removed", async () => {
    const { nodes, logs } = await cluster("dial-left");
    const [alpha, bravo, charlie] = nodes as [Node, Node, Node];
    // Removal after 300 ms instead of 30 s, so that the test sees what happens after it.
    for (const survivor of [alpha, bravo]) {
      const membership = survivor.internals.node.membership;
      membership.updateSettings({ ...membership.settings, leftRemovalMs: 300 });
    }
    await charlie.stop();
    const gone = (node: Node) => !node.members().some((member) => member.name === charlie.name);
    await waitFor("alpha and bravo to remove charlie", () => gone(alpha) && gone(bravo), 5_000);
    // 20 more rounds: the removed node's name is still a peer the transport has a learned address for.
    await Bun.sleep(2_000);
    for (const i of [0, 1]) {
      expect(cannotReach(logs[i]!, charlie.name)).toEqual([]);
      expect(nodes[i]!.internals.transport.connectedPeers()).not.toContain(charlie.name);
    }
    expect(alpha.internals.node.membership.lastKnownStatus(charlie.name)).toBe("left");
  }, 20_000);

  test("a dead node is dialled only quietly: its refused connections are logged at debug level", async () => {
    const detection = { acceptablePauseMs: 0, minStdDeviationMs: 10, probeTimeoutMs: 100 };
    const { nodes, logs } = await cluster("dial-dead", detection);
    const [alpha, bravo, charlie] = nodes as [Node, Node, Node];
    await Bun.sleep(600); // the detectors learn the rhythm
    // A crash: the transport stops, no LEAVE, no status entry.
    await charlie.internals.transport.stop();
    const dead = (node: Node) => node.members().find((member) => member.name === charlie.name)?.state === "dead";
    await waitFor("alpha and bravo to mark charlie dead", () => dead(alpha) && dead(bravo), 10_000);
    const since = logs.map((lines) => lines.length);
    // The dead-peer round picks charlie now and then (1 in 10 rounds here): it is still tried.
    await waitFor(
      "a retry of charlie that was refused",
      () => [0, 1].some((i) => cannotReach(logs[i]!.slice(since[i]), charlie.name).length > 0),
      10_000,
    );
    for (const i of [0, 1]) {
      const afterDeath = cannotReach(logs[i]!.slice(since[i]), charlie.name);
      expect(afterDeath.every((line) => line.level === "debug")).toBe(true);
    }
  }, 30_000);
});
