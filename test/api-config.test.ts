// Cluster-wide configuration through the public API over real TCP: a change made on one node
// reaches every node, raises config-changed there, and really changes how often each node gossips
// (measured by counting rounds); a node that joins later adopts the newer version; invalid changes
// are refused with an OptionsError before anything is gossiped.

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type ConfigEvent, type Node, OptionsError } from "../src/index.ts";
import { expectRate, Nodes, record, roundsDuring, waitFor } from "./api-helpers.ts";

// Real clusters: every wait inside is bounded on its own; this only stops the runner's 5 s default
// (bunfig.toml cannot change it) from cutting a slow machine short.
setDefaultTimeout(30_000);

const nodes = new Nodes();
afterAll(() => nodes.stopAll());

/** Rounds expected in `windowMs` at `intervalMs`, and the tolerance allowed around it. */
describe("updateClusterConfig", () => {
  test("a gossip interval change reaches every node, raises config-changed, and changes each node's round rate", async () => {
    const slowMs = 500;
    const fastMs = 100;
    const windowMs = 2_000;
    const configEvents: ConfigEvent[][] = [];
    const cluster = await nodes.cluster(["cfg-alpha", "cfg-bravo", "cfg-charlie"], { clusterName: "api-cfg", gossipIntervalMs: slowMs }, (node) => {
      configEvents.push(record(node, "config-changed"));
    });
    const [alpha] = cluster as [Node, Node, Node];
    expect(cluster.map((node) => node.clusterConfig().version)).toEqual([0, 0, 0]);

    const slow = await roundsDuring(cluster, windowMs);
    cluster.forEach((node, i) => expectRate(slow[i]!, windowMs, slowMs, `${node.name} before`));

    const document = alpha.updateClusterConfig({ gossipIntervalMs: fastMs });
    expect(document.version).toBe(1);
    expect(document.origin).toBe(alpha.name);
    expect(document.settings.gossipIntervalMs).toBe(fastMs);
    // The node that made the change raises the event at once; the others when it arrives.
    expect(configEvents[0]!.length).toBe(1);
    await waitFor("config-changed on every node", () => configEvents.every((events) => events.length === 1), 5_000);
    // The origin lists exactly what it changed. (The others may list more: see docs/API.md on
    // "changed" and start-up settings that differed between nodes, such as seeds.)
    expect(configEvents[0]![0]!.changed).toEqual(["gossipIntervalMs"]);
    for (const [i, node] of cluster.entries()) {
      expect(configEvents[i]![0]).toMatchObject({ type: "config-changed", node: alpha.name, version: 1 });
      expect(configEvents[i]![0]!.changed).toContain("gossipIntervalMs");
      expect(node.clusterConfig()).toEqual({ version: 1, origin: alpha.name, settings: expect.objectContaining({ gossipIntervalMs: fastMs }) });
    }

    const fast = await roundsDuring(cluster, windowMs);
    cluster.forEach((node, i) => expectRate(fast[i]!, windowMs, fastMs, `${node.name} after`));
    // And nothing more was raised: one change, one event per node.
    expect(configEvents.map((events) => events.length)).toEqual([1, 1, 1]);
  }, 20_000);

  test("a node that joins later adopts the newer config version", async () => {
    const [alpha, bravo] = (await nodes.cluster(["late-alpha", "late-bravo"], { clusterName: "api-late", gossipIntervalMs: 100 })) as [Node, Node];
    alpha.updateClusterConfig({ gossipIntervalMs: 150 });
    const document = alpha.updateClusterConfig({ app: { maxConnections: 1000 }, acceptablePauseMs: 2500 });
    expect(document.version).toBe(2);
    await waitFor("bravo at version 2", () => bravo.clusterConfig().version === 2);

    // Charlie starts with its own (older, version 0) settings and knows only bravo: it gets the
    // document second-hand, yet the event names the node that made the change.
    const charlie = nodes.make({ name: "late-charlie", clusterName: "api-late", seeds: [bravo.address], gossipIntervalMs: 400, acceptablePauseMs: 3000 });
    const events = record(charlie, "config-changed");
    expect(charlie.clusterConfig().version).toBe(0);
    await charlie.start();
    await waitFor("charlie at version 2", () => charlie.clusterConfig().version === 2, 5_000);

    const adopted = charlie.clusterConfig();
    expect(adopted).toEqual(alpha.clusterConfig());
    expect(adopted.settings).toMatchObject({ gossipIntervalMs: 150, acceptablePauseMs: 2500, app: { maxConnections: 1000 } });
    // Version 1 may be skipped, version 2 is what it ends on; each event names alpha.
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.at(-1)).toMatchObject({ node: alpha.name, version: 2 });
    for (const event of events) expect(event.node).toBe(alpha.name);
    expect(events.at(-1)!.changed).toEqual(expect.arrayContaining(["gossipIntervalMs", "acceptablePauseMs", "app"]));
    // The adopted interval is the one its engine runs at.
    const rounds = await roundsDuring([charlie], 1_500);
    expectRate(rounds[0]!, 1_500, 150, charlie.name);
    // The older nodes did not go back to charlie's start-up settings.
    await Bun.sleep(300);
    expect(alpha.clusterConfig().version).toBe(2);
    expect(bravo.clusterConfig().settings.gossipIntervalMs).toBe(150);
  }, 20_000);

  test("concurrent changes of the same version settle on one document everywhere", async () => {
    const [alpha, bravo] = (await nodes.cluster(["race-alpha", "race-bravo"], { clusterName: "api-race", gossipIntervalMs: 100 })) as [Node, Node];
    alpha.updateClusterConfig({ app: { from: "alpha" } });
    bravo.updateClusterConfig({ app: { from: "bravo" } });
    await waitFor("both on one document", () => JSON.stringify(alpha.clusterConfig()) === JSON.stringify(bravo.clusterConfig()), 5_000);
    // Equal versions: the larger origin name wins.
    expect(alpha.clusterConfig()).toMatchObject({ version: 1, origin: bravo.name, settings: { app: { from: "bravo" } } });
  });

  test("an invalid change is refused with an OptionsError and nothing changes", async () => {
    const [alpha, bravo] = (await nodes.cluster(["bad-alpha", "bad-bravo"], { clusterName: "api-badcfg", gossipIntervalMs: 100 })) as [Node, Node];
    const events = record(bravo, "config-changed");
    const cases: [Record<string, unknown>, string][] = [
      [{ gossipIntervalMs: 10 }, "invalid option gossipIntervalMs: expected a number from 100 to 60000 (ms), got 10"],
      [{ name: "other" }, "invalid option name: not a cluster setting (it is set per node)"],
      [{ gossipInterval: 200 }, "invalid option gossipInterval: unknown option (did you mean gossipIntervalMs?)"],
      [{ app: "not an object" }, 'invalid option app: expected a JSON object of at most 65536 bytes, got "not an object"'],
      [{ clusterName: "another" }, "invalid option clusterName: cannot change at run time (this cluster is api-badcfg)"],
      [{ fanout: 0, probeFanout: 99 }, "invalid option fanout: expected a number from 1 to 16, got 0; invalid option probeFanout: expected a number from 0 to 16, got 99"],
    ];
    for (const [patch, message] of cases) {
      let thrown: unknown;
      try {
        alpha.updateClusterConfig(patch);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(OptionsError);
      expect((thrown as Error).message).toBe(message);
    }
    expect(alpha.clusterConfig().version).toBe(0);
    await Bun.sleep(300);
    expect(events).toEqual([]);
    expect(bravo.clusterConfig().version).toBe(0);
  });

  test("a key given as undefined is not given: it does not blank the setting anywhere", async () => {
    const [alpha, bravo] = (await nodes.cluster(["undef-alpha", "undef-bravo"], { clusterName: "api-undef", gossipIntervalMs: 100 })) as [Node, Node];
    const document = alpha.updateClusterConfig({ gossipIntervalMs: undefined, fanout: 2 });
    expect(document.settings.gossipIntervalMs).toBe(100);
    expect(document.settings.fanout).toBe(2);
    expect(alpha.clusterConfig().settings.gossipIntervalMs).toBe(100);
    await waitFor("bravo at version 1", () => bravo.clusterConfig().version === 1);
    expect(bravo.clusterConfig().settings).toMatchObject({ gossipIntervalMs: 100, fanout: 2 });
    // Runs at the interval it had: a blanked interval would have been refused or fallen back to the default (1 s).
    expectRate((await roundsDuring([bravo], 1_000))[0]!, 1_000, 100, bravo.name);
  });
});
