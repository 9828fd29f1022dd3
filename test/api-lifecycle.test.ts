// Node lifecycle and failure paths through the public API: start() that fails does not leave a
// node claiming to run, stop() always completes, a config change too large to gossip is refused
// whole, limits give WriteError, reserved names are refused, and members()/nodes()/entries()
// describe the cluster.

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Node, OptionsError, WriteError } from "../src/index.ts";
import { expectRate, Nodes, record, roundsDuring, waitFor, waitForEvent } from "./api-helpers.ts";

// Real clusters: every wait inside is bounded on its own; this only stops the runner's 5 s default
// (bunfig.toml cannot change it) from cutting a slow machine short.
setDefaultTimeout(30_000);

const nodes = new Nodes();
afterAll(() => nodes.stopAll());

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection, but it resolved");
}

describe("start and stop", () => {
  test("a start() that fails (port in use) rejects every time and stop() still resolves", async () => {
    const holder = await nodes.start({ name: "port-holder", clusterName: "api-life" });
    const port = Number(holder.address.split(":").pop());
    const clash = nodes.make({ name: "port-clash", clusterName: "api-life", address: `127.0.0.1:${port}` });
    const first = await rejection(clash.start());
    expect(first.message.length).toBeGreaterThan(0);
    // Not a silent no-op the second time: the node never ran.
    await rejection(clash.start());
    expect(clash.members().find((m) => m.name === clash.name)?.state).toBe("left");
    await clash.stop();
    // The holder was not disturbed.
    expect(holder.members()[0]?.state).toBe("alive");
  });

  test("stop() completes and the others see the node leave even when it is at maxEntriesPerNode", async () => {
    const [alpha] = await nodes.cluster(["full-alpha"], { clusterName: "api-full", gossipIntervalMs: 100 });
    const full = await nodes.start({ name: "full-bravo", clusterName: "api-full", gossipIntervalMs: 100, seeds: [alpha!.address], maxEntriesPerNode: 10 });
    await waitFor("alpha and full-bravo to see each other", () => alpha!.members().some((m) => m.name === full.name && m.state === "alive") && full.members().some((m) => m.name === alpha!.name && m.state === "alive"));
    const left = record(alpha!, "node-left");
    let written = 0;
    let refusal: unknown;
    for (let i = 0; i < 20 && refusal === undefined; i++) {
      try {
        full.set("fill", `k${i}`, i);
        written++;
      } catch (error) {
        refusal = error;
      }
    }
    expect(refusal).toBeInstanceOf(WriteError);
    expect((refusal as Error).message).toMatch(/^node full-bravo already holds \d+ entries, the limit \(maxEntriesPerNode\)$/);
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThanOrEqual(10);

    await full.stop();
    await waitForEvent(left, "alpha to see full-bravo leave", (e) => e.node === full.name, 5_000);
    // Stopped for real: its port no longer accepts connections.
    const port = Number(full.address.split(":").pop());
    const refused = await rejection(Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then((socket) => socket.end()));
    expect(refused).toBeInstanceOf(Error);
  }, 15_000);

  test("start() and stop() are idempotent", async () => {
    const node = nodes.make({ name: "twice", clusterName: "api-twice" });
    await node.start();
    const address = node.address;
    await node.start();
    expect(node.address).toBe(address);
    await node.stop();
    await node.stop();
  });
});

describe("cluster config refused whole", () => {
  // The config is a reserved entry: user limits such as maxValueBytes do not apply to it, but it
  // must still fit in one gossip message, or it could never be delivered.
  test("a change whose document does not fit in a gossip message throws WriteError and changes nothing", async () => {
    const [alpha, bravo] = (await nodes.cluster(["big-alpha", "big-bravo"], { clusterName: "api-big", gossipIntervalMs: 100, maxGossipBytes: 4096 })) as [Node, Node];
    const events = [record(alpha, "config-changed"), record(bravo, "config-changed")];
    let thrown: unknown;
    try {
      alpha.updateClusterConfig({ gossipIntervalMs: 300, app: { blob: "x".repeat(5000) } });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WriteError);
    expect((thrown as Error).message).toMatch(/^entry __gb\/config needs \d+ bytes but a gossip message holds at most 4096 \(maxGossipBytes\)$/);
    expect(alpha.clusterConfig().version).toBe(0);
    expect(alpha.clusterConfig().settings.gossipIntervalMs).toBe(100);
    expectRate((await roundsDuring([alpha], 1_000))[0]!, 1_000, 100, alpha.name); // still runs at the old interval
    await Bun.sleep(300);
    expect(events.flat()).toEqual([]);
    expect(bravo.clusterConfig().version).toBe(0);

    // A change that fits still goes through afterwards, as version 1.
    expect(alpha.updateClusterConfig({ gossipIntervalMs: 300 }).version).toBe(1);
    await waitFor("bravo at version 1", () => bravo.clusterConfig().version === 1);
  });
});

describe("writes", () => {
  test("limits and reserved names are refused with clear errors", async () => {
    const node = await nodes.start({ name: "limits", clusterName: "api-limits", maxKeyBytes: 8, maxValueBytes: 1024 });
    const cases: [() => unknown, new (...args: never[]) => Error, string][] = [
      [() => node.set("g", "k".repeat(9), "v"), WriteError, 'key "kkkkkkkkk…" is longer than 8 bytes (maxKeyBytes)'],
      [() => node.set("g".repeat(9), "k", "v"), WriteError, 'group "ggggggggg…" is longer than 8 bytes (maxKeyBytes)'],
      [() => node.set("g", "k", "v".repeat(1025)), WriteError, "value of 1025 bytes for g/k exceeds 1024 bytes (maxValueBytes)"],
      [() => node.set("g", "k", new Uint8Array(1025)), WriteError, "value of 1025 bytes for g/k exceeds 1024 bytes (maxValueBytes)"],
      [() => node.set("", "k", "v"), WriteError, "group must not be empty"],
      [() => node.set("g", "", "v"), WriteError, "key must not be empty"],
      [() => node.set("__gb", "k", "v"), Error, 'group "__gb" is reserved for GoferBroke\'s own entries'],
      [() => node.delete("__gb", "config"), Error, 'group "__gb" is reserved for GoferBroke\'s own entries'],
    ];
    for (const [run, type, message] of cases) {
      let thrown: unknown;
      try {
        run();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(type);
      expect((thrown as Error).message).toBe(message);
    }
    expect(node.entries(node.name)).toEqual([]);
    // At the limits exactly: accepted.
    node.set("g".repeat(8), "k".repeat(8), "v".repeat(1024));
    expect(node.get(node.name, "g".repeat(8), "k".repeat(8))).toBe("v".repeat(1024));
  });

  // The node's own bookkeeping entries (address, config, status) must not eat into the limits
  // the application was given: options that createNode() accepts must give a node that starts,
  // holds maxEntriesPerNode entries of the application's, and stops.
  test("the smallest limits createNode() accepts still give a working node", async () => {
    const cases = [
      { name: "tiny-entries", maxEntriesPerNode: 1 },
      { name: "tiny-values", maxValueBytes: 16 },
      { name: "tiny-keys", maxKeyBytes: 1 },
    ];
    const outcomes: string[] = [];
    for (const options of cases) {
      let node: Node;
      try {
        node = nodes.make({ clusterName: "api-tiny", ...options });
      } catch (error) {
        if (error instanceof OptionsError) continue; // refusing the options up front is fine too
        throw error;
      }
      try {
        await node.start();
        node.set("g", "k", "v");
        outcomes.push(`${options.name}: ok`);
      } catch (error) {
        outcomes.push(`${options.name}: ${(error as Error).message}`);
      } finally {
        await node.stop();
      }
    }
    expect(outcomes).toEqual(outcomes.map((line) => `${line.split(":")[0]}: ok`));
  });

  test("createNode() validates before anything starts", () => {
    expect(() => nodes.make({ gossipIntervalMs: 1 })).toThrow(OptionsError);
  });
});

describe("reads and membership", () => {
  test("nodes(), members(), entries() and getEntry() describe the cluster", async () => {
    const [alpha, bravo] = (await nodes.cluster(["view-alpha", "view-bravo"], { clusterName: "api-view", gossipIntervalMs: 100 })) as [Node, Node];
    const v = alpha.set("app", "colour", "teal");
    alpha.set("app", "size", 3n);
    await waitFor("alpha's entries on bravo", () => bravo.entries(alpha.name).length === 2);

    expect(bravo.nodes().sort()).toEqual([alpha.name, bravo.name].sort());
    expect(bravo.entries(alpha.name).sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { group: "app", key: "colour", value: "teal", type: "string", version: v },
      { group: "app", key: "size", value: 3n, type: "int", version: v + 1 },
    ]);
    expect(bravo.entries("nobody")).toEqual([]);
    expect(bravo.getEntry("nobody", "app", "colour")).toBeUndefined();

    const members = bravo.members();
    const self = members.find((m) => m.name === bravo.name)!;
    const peer = members.find((m) => m.name === alpha.name)!;
    expect(self).toMatchObject({ state: "alive", phi: 0, generation: bravo.generation, address: bravo.address, heartbeatAgeMs: 0 });
    expect(peer).toMatchObject({ state: "alive", generation: alpha.generation, address: alpha.address });
    expect(peer.phi).toBeGreaterThanOrEqual(0);
    expect(peer.phi).toBeLessThan(8);
    // Evidence of alpha's life keeps arriving (its heartbeats to the monitor ring): a second later
    // the latest is still fresh. The heartbeat counter itself is reconciled only along with other
    // changes since protocol 4 (summaries hash no heartbeats).
    await Bun.sleep(1_000);
    await waitFor("fresh evidence of alpha's life on bravo", () => (bravo.members().find((m) => m.name === alpha.name)?.heartbeatAgeMs ?? Number.POSITIVE_INFINITY) < 500);
    expect(peer.maxVersion).toBeGreaterThanOrEqual(v + 1);
    expect(alpha.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(alpha.address).not.toBe("127.0.0.1:0");
  });
});
