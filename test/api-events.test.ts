// Event delivery through the public API over real TCP: subscribing before and after start(),
// unsubscribing, isolation of throwing and rejecting handlers, the Go SDK's event names, and the
// membership events (a node crashing without a goodbye, a node leaving). The crashing node runs in
// a child process killed with SIGKILL: a real crash.

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { EventType, GO_EVENT_NUMBERS, GO_EVENTS_WITHOUT_EQUIVALENT, type GoEventNumber, type GossipEvent, type GossipEventType, type Node, UnsupportedEventError } from "../src/index.ts";
import { Nodes, record, waitFor, waitForEvent } from "./api-helpers.ts";
import { killAll, startNode, stopNode, waitHealthy } from "./support/node-processes.ts";

// Real clusters: every wait inside is bounded on its own; this only stops the runner's 5 s default
// (bunfig.toml cannot change it) from cutting a slow machine short.
setDefaultTimeout(30_000);

const nodes = new Nodes();
afterAll(async () => {
  await nodes.stopAll();
  await killAll();
});

const fast = { gossipIntervalMs: 100 } as const;

describe("subscribing", () => {
  test("on() works before and after start(); unsubscribing stops delivery", async () => {
    const early: string[] = [];
    const late: string[] = [];
    const dropped: string[] = [];
    const control: string[] = [];
    const joined: string[] = [];
    const [alpha] = await nodes.cluster(["sub-alpha"], { clusterName: "api-sub", ...fast });
    const bravo = nodes.make({ name: "sub-bravo", clusterName: "api-sub", seeds: [alpha!.address], ...fast });
    // Before start(): sees the join and the first entries.
    bravo.on("entry-added", (event) => void early.push(event.key));
    bravo.on("node-joined", (event) => void joined.push(event.node));
    await bravo.start();
    bravo.on("entry-added", (event) => void late.push(event.key));
    const unsubscribe = bravo.on("entry-added", (event) => void dropped.push(event.key));
    bravo.on("entry-added", (event) => void control.push(event.key));

    alpha!.set("sub", "one", 1);
    await waitFor("one on bravo", () => control.includes("one"));
    expect(early).toEqual(["one"]);
    expect(late).toEqual(["one"]);
    expect(dropped).toEqual(["one"]);
    expect(joined).toEqual([alpha!.name]);

    unsubscribe();
    unsubscribe(); // a second call is harmless
    alpha!.set("sub", "two", 2);
    alpha!.set("sub", "three", 3);
    await waitFor("two and three on bravo", () => control.includes("two") && control.includes("three"));
    // Handlers of one event run in the same synchronous pass, so the control proves delivery happened.
    expect(dropped).toEqual(["one"]);
    expect(early).toEqual(["one", "two", "three"]);
    expect(late).toEqual(["one", "two", "three"]);
  });

  test('"*" receives every event type; its unsubscribe stops it', async () => {
    const [alpha, bravo] = await nodes.cluster(["star-alpha", "star-bravo"], { clusterName: "api-star", ...fast });
    const seen: GossipEvent[] = [];
    const typed: GossipEvent[] = [];
    const unsubscribe = bravo!.on("*", (event) => void seen.push(event));
    bravo!.on("entry-updated", (event) => void typed.push(event));
    alpha!.set("star", "k", "a");
    await waitFor("k added on bravo", () => seen.some((e) => e.type === "entry-added"));
    alpha!.set("star", "k", "b");
    await waitFor("k updated on bravo", () => typed.length === 1);
    expect(seen.filter((e) => e.type.startsWith("entry-")).map((e) => e.type)).toEqual(["entry-added", "entry-updated"]);
    expect(seen.find((e) => e.type === "entry-updated")).toBe(typed[0]!);
    unsubscribe();
    alpha!.delete("star", "k");
    await waitFor("k deleted on bravo", () => bravo!.get(alpha!.name, "star", "k") === undefined);
    expect(seen.some((e) => e.type === "entry-deleted")).toBe(false);
  });
});

describe("handler failures", () => {
  test("a throwing handler and a rejecting async handler do not stop the others; each is reported as an error event", async () => {
    const [alpha, bravo] = await nodes.cluster(["fail-alpha", "fail-bravo"], { clusterName: "api-fail", ...fast });
    const before: string[] = [];
    const after: string[] = [];
    const errors = record(bravo!, "error");
    bravo!.on("entry-added", (event) => void before.push(event.key));
    bravo!.on("entry-added", (event) => {
      throw new Error(`sync failure on ${event.key}`);
    });
    bravo!.on("entry-added", async (event) => {
      await Bun.sleep(1);
      throw new Error(`async failure on ${event.key}`);
    });
    bravo!.on("entry-added", (event) => (event.key === "plain" ? Promise.reject("a plain string") : undefined));
    bravo!.on("entry-added", (event) => void after.push(event.key));
    // A handler of error events that fails itself is only logged: no loop, no second report.
    bravo!.on("error", () => {
      throw new Error("the error handler fails too");
    });

    alpha!.set("fail", "first", 1);
    await waitFor("two error events for first", () => errors.filter((e) => e.error.message.endsWith("first")).length === 2);
    expect(before).toEqual(["first"]);
    expect(after).toEqual(["first"]);
    const messages = errors.map((e) => e.error.message).sort();
    expect(messages).toEqual(["async failure on first", "sync failure on first"]);
    for (const event of errors) {
      expect(event).toMatchObject({ type: "error", node: bravo!.name, source: "handler for entry-added" });
      expect(event.error).toBeInstanceOf(Error);
    }

    // Gossip goes on and every handler keeps being called for later events.
    alpha!.set("fail", "plain", 2);
    await waitFor("three error events for plain", () => errors.filter((e) => /plain/.test(e.error.message)).length === 3);
    expect(before).toEqual(["first", "plain"]);
    expect(after).toEqual(["first", "plain"]);
    // A rejection with something that is not an Error is wrapped in one.
    const wrapped = errors.find((e) => e.error.message === "a plain string");
    expect(wrapped?.error).toBeInstanceOf(Error);
    await Bun.sleep(100);
    expect(errors.length).toBe(5); // 2 for first, 3 for plain: nothing reported twice, no loop
    expect(bravo!.get(alpha!.name, "fail", "plain")).toBe(2);
  });
});

describe("Go SDK event names", () => {
  test("EventType maps the Go names onto the event types", () => {
    expect(EventType.NewDeltaAdded).toBe("entry-added");
    expect(EventType.DeltaUpdated).toBe("entry-updated");
    expect(EventType.NewParticipantAdded).toBe("node-joined");
    expect(EventType.ParticipantMarkedDead).toBe("node-dead");
    // Every name maps to a different event type.
    const values = Object.values(EventType);
    expect(new Set(values).size).toBe(values.length);
  });

  test("onEvent(NewDeltaAdded / DeltaUpdated / NewParticipantAdded) receives the same events as on()", async () => {
    const [alpha] = await nodes.cluster(["go-alpha"], { clusterName: "api-go", ...fast });
    const bravo = nodes.make({ name: "go-bravo", clusterName: "api-go", seeds: [alpha!.address], ...fast });
    const viaGo = { added: [] as GossipEvent[], updated: [] as GossipEvent[], joined: [] as GossipEvent[] };
    const viaOn = { added: [] as GossipEvent[], updated: [] as GossipEvent[], joined: [] as GossipEvent[] };
    bravo.onEvent(EventType.NewDeltaAdded, (event) => void viaGo.added.push(event));
    bravo.onEvent(EventType.DeltaUpdated, (event) => void viaGo.updated.push(event));
    bravo.onEvent(EventType.NewParticipantAdded, (event) => void viaGo.joined.push(event));
    // The Go SDK's numbers subscribe to the same events.
    const viaNumber = { added: [] as GossipEvent[], joined: [] as GossipEvent[] };
    bravo.onEvent(1, (event) => void viaNumber.added.push(event));
    bravo.onEvent(3, (event) => void viaNumber.joined.push(event));
    bravo.on("entry-added", (event) => void viaOn.added.push(event));
    bravo.on("entry-updated", (event) => void viaOn.updated.push(event));
    bravo.on("node-joined", (event) => void viaOn.joined.push(event));
    await bravo.start();
    // onEvent also works after start(), unlike the Go SDK's.
    const lateGo: GossipEvent[] = [];
    const unsubscribe = bravo.onEvent(EventType.NewDeltaAdded, (event) => void lateGo.push(event));

    await waitFor("bravo to see alpha join", () => viaOn.joined.length === 1);
    alpha!.set("go", "flag", false);
    await waitFor("flag added on bravo", () => viaOn.added.length === 1);
    alpha!.set("go", "flag", true);
    await waitFor("flag updated on bravo", () => viaOn.updated.length === 1);

    expect(viaGo.joined).toEqual(viaOn.joined);
    expect(viaNumber).toEqual({ added: viaOn.added, joined: viaOn.joined });
    expect(viaGo.joined[0]).toMatchObject({ type: "node-joined", node: alpha!.name, generation: alpha!.generation });
    expect(viaGo.added).toEqual(viaOn.added);
    expect(viaGo.added[0]).toMatchObject({ type: "entry-added", node: alpha!.name, key: "flag", value: false });
    expect(viaGo.updated).toEqual(viaOn.updated);
    expect(viaGo.updated[0]).toMatchObject({ type: "entry-updated", key: "flag", value: true, previous: { value: false } });
    expect(lateGo).toEqual(viaOn.added);
    unsubscribe();
    alpha!.set("go", "other", 1);
    await waitFor("other on bravo", () => viaOn.added.length === 2);
    expect(lateGo.length).toBe(1);
  });

  test("every Go event number 1-15 either subscribes to its equivalent or is refused, naming the Go event and what to use", () => {
    const node = nodes.make({ name: "go-numbers" });
    const outcome: Record<number, string> = {};
    for (let number = 1; number <= 15; number++) {
      try {
        node.onEvent(number as GoEventNumber, () => {})();
        outcome[number] = GO_EVENT_NUMBERS[number as GoEventNumber];
      } catch (error) {
        expect(error).toBeInstanceOf(UnsupportedEventError);
        outcome[number] = (error as Error).message;
      }
    }
    expect(Object.keys(outcome).length).toBe(15);
    expect(outcome[1]).toBe("entry-added");
    expect(outcome[5]).toBe("node-dead");
    expect(outcome[4]).toStartWith("Go event ParticipantUpdated (4) is declared by the Go SDK but never fired, and has no equivalent here: ");
    expect(outcome[12]).toContain('"gossip-overload"');
    // Each refused number is named in its message, and so is each Go name of the table.
    const refused = Object.entries(GO_EVENTS_WITHOUT_EQUIVALENT);
    expect(refused.length).toBe(11);
    for (const [name, { number }] of refused) {
      expect(outcome[number]).toContain(`Go event ${name} (${number})`);
      expect(() => node.onEvent(name as GossipEventType, () => {})).toThrow(`Go event ${name} (${number})`);
    }
  });

  test("unknown event types are refused instead of never firing", () => {
    const node = nodes.make({ name: "go-unknown" });
    expect(() => node.on("entry-addded" as GossipEventType, () => {})).toThrow('unknown event type "entry-addded": expected "*" or one of entry-added, ');
    expect(() => node.onEvent(99 as GoEventNumber, () => {})).toThrow("unknown event 99: expected an event type (entry-added, ");
    // A Go name missing from EventType, as plain JavaScript would pass it.
    const goName = (EventType as Record<string, GossipEventType>).ParticipantUpdated!;
    expect(() => node.onEvent(goName, () => {})).toThrow("; EventType has no entry for the Go events that never fire (ParticipantUpdated, ReceivedNewDialFromNode,");
    expect(() => node.onEvent("NewDeltaAdded" as GossipEventType, () => {})()).not.toThrow();
  });

  test("onEvent(ParticipantMarkedDead) fires on the survivors when a node crashes without leaving", async () => {
    // Fast detection: no acceptable pause, a small deviation floor, short probes.
    const detection = { clusterName: "api-dead", gossipIntervalMs: 100, acceptablePauseMs: 0, minStdDeviationMs: 10, probeTimeoutMs: 100 };
    const survivors: Node[] = [];
    const dead: GossipEvent[][] = [];
    const suspect: GossipEvent[][] = [];
    const left: GossipEvent[][] = [];
    const cluster = await nodes.cluster(["dead-alpha", "dead-bravo"], detection, (node) => {
      const deadEvents: GossipEvent[] = [];
      node.onEvent(EventType.ParticipantMarkedDead, (event) => void deadEvents.push(event));
      dead.push(deadEvents);
      suspect.push(record(node, "node-suspect"));
      left.push(record(node, "node-left"));
    });
    const [alpha, bravo] = cluster as [Node, Node];
    survivors.push(alpha, bravo);
    // The same cluster settings as alpha and bravo: a new node with others is refused (config agreement).
    const charlieFlags = ["--cluster-name=api-dead", "--acceptable-pause=0ms", "--min-std-deviation=10ms", "--probe-timeout=100ms"];
    const charlieProcess = await startNode({ name: "dead-charlie", seeds: [alpha.address], gossipIntervalMs: 100, flags: charlieFlags });
    await waitHealthy(charlieProcess);
    const charlieOn = (node: Node) => node.members().find((m) => m.name === "dead-charlie");
    await waitFor("alpha and bravo to see charlie alive", () => survivors.every((node) => charlieOn(node)?.state === "alive"), 10_000);
    const charlie = { name: "dead-charlie", generation: charlieOn(alpha)!.generation };
    // Let the detectors learn the rhythm, and check nobody is convicted while all are healthy.
    await Bun.sleep(600);
    expect(dead.flat()).toEqual([]);

    try {
      // A crash: no LEAVE is sent, the status entry is never written, the kernel closes the sockets.
      await stopNode(charlieProcess, "SIGKILL");
      const crashedAt = performance.now();
      await waitFor("alpha and bravo to mark charlie dead", () => dead[0]!.length > 0 && dead[1]!.length > 0, 10_000);
      const detectionMs = performance.now() - crashedAt;

      for (const [i, node] of survivors.entries()) {
        expect(dead[i]!.map((e) => e.node)).toEqual([charlie.name]);
        const event = dead[i]![0]!;
        expect(event).toMatchObject({ type: "node-dead", node: charlie.name, generation: charlie.generation });
        expect((event as { phi: number }).phi).toBeGreaterThanOrEqual(8);
        // Suspected first, never reported as leaving.
        expect(suspect[i]!.map((e) => e.node)).toContain(charlie.name);
        expect(left[i]!).toEqual([]);
        expect(node.members().find((m) => m.name === charlie.name)?.state).toBe("dead");
        expect(node.members().find((m) => m.name !== charlie.name && m.name !== node.name)?.state).toBe("alive");
      }
      expect(detectionMs).toBeLessThan(10_000);
    } finally {
      await stopNode(charlieProcess, "SIGKILL");
    }
  }, 20_000);

  test("onEvent(ParticipantLeft) fires on a graceful stop, and no death is reported", async () => {
    const [alpha, bravo] = (await nodes.cluster(["left-alpha", "left-bravo"], { clusterName: "api-left", ...fast, acceptablePauseMs: 0, minStdDeviationMs: 10 })) as [Node, Node];
    const leftEvents: GossipEvent[] = [];
    alpha.onEvent(EventType.ParticipantLeft, (event) => void leftEvents.push(event));
    const deadEvents = record(alpha, "node-dead");
    await bravo.stop();
    const event = await waitForEvent(leftEvents, "bravo's leave on alpha", (e) => e.node === bravo.name);
    expect(event).toMatchObject({ type: "node-left", node: bravo.name, generation: bravo.generation });
    await Bun.sleep(1_000);
    expect(deadEvents).toEqual([]);
    expect(alpha.members().find((m) => m.name === bravo.name)?.state).toBe("left");
  });
});
