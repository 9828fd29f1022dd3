// TcpTransport between real sockets on 127.0.0.1: exchange, simultaneous dials, large
// transfers through partial writes, seeds that come up late, timeouts, and stop().

import { afterEach, describe, expect, test } from "bun:test";
import { MessageType } from "../src/codec/index.ts";
import { Keyring } from "../src/transport/keyring.ts";
import { closeAll, frameBytes, freePort, introduce, rawConnect, startNode, waitFor, type TestNode } from "./tcp-harness.ts";

afterEach(closeAll);

const text = new TextEncoder();
const ping = (label: string) => frameBytes(MessageType.Ping, text.encode(label));
const labels = (node: TestNode, from: string) => node.host.framesFrom(from).map((frame) => new TextDecoder().decode(frame.body));

describe("TcpTransport", () => {
  test("two transports exchange frames both ways over one connection", async () => {
    const a = await startNode("alpha");
    const b = await startNode("beta");
    introduce(a, b);
    expect(a.transport.send("beta", ping("a1"))).toBe("queued");
    expect(a.transport.send("beta", ping("a2"))).toBe("queued");
    await waitFor("beta to receive alpha's frames", () => labels(b, "alpha").length === 2);
    expect(b.transport.send("alpha", ping("b1"))).toBe("queued");
    await waitFor("alpha to receive beta's frame", () => labels(a, "beta").length === 1);
    expect(labels(b, "alpha")).toEqual(["a1", "a2"]);
    expect(labels(a, "beta")).toEqual(["b1"]);
    expect(a.host.events).toEqual([`up beta ${b.transport.advertisedAddress}`]);
    expect(b.host.events).toEqual([`up alpha ${a.transport.advertisedAddress}`]);
    const stats = a.transport.stats;
    expect(stats.openConnections).toBe(1);
    expect(b.transport.stats.openConnections).toBe(1);
    expect(stats.framesOut).toBe(4); // HELLO, HELLO proof, two pings
    expect(stats.framesIn).toBe(3); // WELCOME introduction, WELCOME proof, one ping
    expect(stats.bytesOut).toBeGreaterThan(0);
    expect(stats.bytesIn).toBeGreaterThan(0);
    expect(a.transport.addressSeenByPeers).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  test("a name with no connection and no known address is unreachable", async () => {
    const a = await startNode("alpha");
    expect(a.transport.send("nobody", ping("x"))).toBe("unreachable");
  });

  test("three transports joined through a seed all reach each other", async () => {
    const a = await startNode("alpha");
    const b = await startNode("beta", { seeds: [a.transport.advertisedAddress] });
    const c = await startNode("gamma", { seeds: [a.transport.advertisedAddress] });
    await waitFor("alpha to accept both seeds' dialers", () => a.transport.connectedPeers().length === 2);
    introduce(a, b, c);
    const nodes = [a, b, c];
    for (const from of nodes) for (const to of nodes) {
      if (from !== to) expect(from.transport.send(to.name, ping(`${from.name}->${to.name}`))).toBe("queued");
    }
    for (const to of nodes) for (const from of nodes) {
      if (from === to) continue;
      await waitFor(`${from.name} -> ${to.name}`, () => labels(to, from.name).includes(`${from.name}->${to.name}`));
    }
    for (const node of nodes) {
      expect(node.transport.connectedPeers().sort()).toEqual(nodes.filter((n) => n !== node).map((n) => n.name).sort());
    }
  });

  test("simultaneous dials leave exactly one connection per pair, the one dialled by the smaller name", async () => {
    const a = await startNode("alpha");
    const b = await startNode("beta");
    introduce(a, b);
    // Both sides dial in the same tick, before either handshake can complete.
    expect(a.transport.send("beta", ping("from alpha"))).toBe("queued");
    expect(b.transport.send("alpha", ping("from beta"))).toBe("queued");
    await waitFor(
      "the duplicate connection to close on both sides",
      () => a.transport.stats.openConnections === 1 && b.transport.stats.openConnections === 1 && a.transport.stats.connectionsOpened === 2,
    );
    for (const node of [a, b]) {
      expect(node.transport.stats.connectionsOpened).toBe(2);
      expect(node.transport.stats.connectionsClosed).toBe(1);
      expect(node.log.matching(/closing duplicate connection to \w+ \(keeping the one dialled by alpha\)/).length).toBe(1);
      expect(node.host.events.length).toBe(1); // one "up", no flapping
    }
    await waitFor("both queued frames", () => labels(b, "alpha").length === 1 && labels(a, "beta").length === 1);
    // And the surviving connection carries traffic both ways.
    a.transport.send("beta", ping("after"));
    b.transport.send("alpha", ping("after"));
    await waitFor("traffic after the race", () => labels(b, "alpha").length === 2 && labels(a, "beta").length === 2);
    expect(a.transport.stats.openConnections).toBe(1);
  });

  // Found in the key-rotation test: when the connection that loses a duplicate race was the one
  // just established, its handshake's last frame (the WELCOME proof, still queued) was moved onto
  // the winner with its data frames; the peer read a WELCOME after the handshake and refused the
  // winner too. Both ends redial at once after a key removal, so this happened there.
  for (const mode of ["plain", "encrypted"] as const) {
    test(`repeated simultaneous dials (${mode}): no handshake frame crosses over to the surviving connection, nothing refused`, async () => {
      const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
      const overrides = mode === "encrypted" ? { keyring: Keyring.parse(key) } : {};
      for (let round = 0; round < 20; round++) {
        const a = await startNode("alpha", overrides);
        const b = await startNode("beta", overrides);
        introduce(a, b);
        // Beta dials a little later each round, so some round has beta's dial complete at alpha
        // just after alpha's own dial did: the losing connection is then the one just established.
        a.transport.send("beta", ping(`a${round}`));
        for (let turn = 0; turn < round; turn++) await new Promise((resolve) => setImmediate(resolve));
        b.transport.send("alpha", ping(`b${round}`));
        await waitFor(`round ${round}: both frames delivered`, () => labels(b, "alpha").length === 1 && labels(a, "beta").length === 1);
        await waitFor(`round ${round}: one connection left on each side`, () => a.transport.stats.openConnections === 1 && b.transport.stats.openConnections === 1);
        for (const node of [a, b]) {
          expect({ round, node: node.name, refused: node.transport.stats.connectionsRefused, refusedByPeers: node.transport.stats.refusedByPeers, warnings: node.log.matching(/refused/) }).toEqual({
            round,
            node: node.name,
            refused: 0,
            refusedByPeers: 0,
            warnings: [],
          });
        }
        await closeAll();
      }
    }, 30_000);
  }

  test("a multi-megabyte frame sequence arrives byte-exact through partial writes", async () => {
    const a = await startNode("alpha", { writeQueueHighWaterBytes: 2 * 1024 * 1024 });
    const b = await startNode("beta");
    introduce(a, b);
    const frameCount = 48;
    const bodies: Uint8Array[] = [];
    for (let i = 0; i < frameCount; i++) {
      const body = crypto.getRandomValues(new Uint8Array(512 * 1024 - 7 * i)); // odd sizes split anywhere
      body[0] = i;
      bodies.push(body);
    }
    let next = 0;
    const deadline = performance.now() + 20_000;
    while (next < frameCount && performance.now() < deadline) {
      const result = a.transport.send("beta", frameBytes(MessageType.Push, bodies[next]!));
      if (result === "queued") next++;
      else await Bun.sleep(2); // past the high-water mark: let the socket drain
      expect(a.transport.stats.queueDepthBytes.beta ?? 0).toBeLessThanOrEqual(2 * 1024 * 1024);
    }
    expect(next).toBe(frameCount);
    await waitFor("all large frames", () => b.host.framesFrom("alpha").length === frameCount, 20_000);
    const received = b.host.framesFrom("alpha");
    for (let i = 0; i < frameCount; i++) {
      expect(received[i]!.body.length).toBe(bodies[i]!.length);
      expect(Buffer.compare(received[i]!.body, bodies[i]!)).toBe(0);
    }
    expect(b.transport.stats.bytesIn).toBeGreaterThan(frameCount * 400 * 1024);
    // The queue reached its mark: the kernel took less than we offered, so partial writes happened.
    expect(a.transport.stats.overloads).toBeGreaterThan(0);
  }, 30_000);

  test("a seed that is down at start is retried with backoff until it answers", async () => {
    const port = freePort();
    const a = await startNode("alpha", { seeds: [`127.0.0.1:${port}`] });
    await waitFor("a few failed attempts", () => a.log.matching(/cannot reach seed/).length >= 3);
    expect(a.log.matching(/cannot reach seed/).filter((line) => line.level === "warn").length).toBe(1);
    const b = await startNode("beta", { listen: { host: "127.0.0.1", port } });
    await waitFor("alpha to reach the late seed", () => a.transport.connectedPeers().includes("beta"), 5_000);
    // beta completes its side when alpha's proof arrives, a moment after alpha completes.
    await waitFor("beta to see alpha", () => b.host.events.length === 1);
    expect(b.host.events).toEqual([`up alpha ${a.transport.advertisedAddress}`]);
    expect(a.log.matching(/reached 127\.0\.0\.1:\d+ \(beta\) after \d+ failed attempts/).length).toBe(1);
  });

  test("the host's dial policy: a peer that left is not dialled, a dead one is dialled quietly", async () => {
    const a = await startNode("alpha", { reconnectBaseMs: 10, reconnectMaxMs: 10 });
    // Three names at addresses where nobody listens: every dial is refused.
    for (const name of ["live", "dead", "left"]) a.host.addresses.set(name, `127.0.0.1:${freePort()}`);
    a.host.dialPolicies.set("dead", "quiet");
    a.host.dialPolicies.set("left", "never");
    const refusals = (name: string) => a.log.matching(new RegExp(`^cannot reach ${name} at `));
    expect(a.transport.send("left", ping("bye"))).toBe("unreachable");
    for (const name of ["live", "dead"]) expect(a.transport.send(name, ping("hello"))).toBe("queued");
    await waitFor("both dials to be refused", () => refusals("live").length === 1 && refusals("dead").length === 1);
    expect(refusals("live").map((line) => line.level)).toEqual(["warn"]);
    expect(refusals("dead").map((line) => line.level)).toEqual(["debug"]);
    // Later sends: the dead peer is tried again (still quietly); the one that left never is.
    await Bun.sleep(30);
    expect(a.transport.send("dead", ping("again"))).toBe("queued");
    await waitFor("the second dial to be refused", () => refusals("dead").length === 2);
    expect(refusals("dead").every((line) => line.level === "debug")).toBe(true);
    expect(a.transport.send("left", ping("bye"))).toBe("unreachable");
    expect(refusals("left")).toEqual([]);
    expect(a.transport.stats.connectionsOpened).toBe(0);
  });

  test("a seed list naming this node itself is recognised and not dialled again", async () => {
    const port = freePort();
    const a = await startNode("alpha", { listen: { host: "127.0.0.1", port }, seeds: [`localhost:${port}`] });
    await waitFor("self-dial detection", () => a.log.matching(/is this node itself/).length === 1);
    await Bun.sleep(300); // several backoff periods: no new attempt
    expect(a.transport.stats.connectionsOpened).toBe(2); // the one self-connection, both ends
    expect(a.transport.stats.connectionsRefused).toBe(0);
  });

  test("an idle connection is closed, and the next send dials again", async () => {
    const a = await startNode("alpha", { idleTimeoutMs: 150 });
    const b = await startNode("beta", { idleTimeoutMs: 10_000 });
    introduce(a, b);
    a.transport.send("beta", ping("one"));
    await waitFor("first frame", () => labels(b, "alpha").length === 1);
    await waitFor("idle close on both sides", () => a.host.events.includes("down beta") && b.host.events.includes("down alpha"), 3_000);
    expect(a.log.matching(/closing idle connection to beta/).length).toBe(1);
    expect(a.transport.send("beta", ping("two"))).toBe("queued");
    await waitFor("frame after reconnect", () => labels(b, "alpha").length === 2);
  });

  test("a peer that never says HELLO is cut off after the handshake timeout", async () => {
    const a = await startNode("alpha", { handshakeTimeoutMs: 150 });
    const raw = await rawConnect(a.transport.port);
    await waitFor("the silent connection to close", () => raw.closed, 3_000);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: no handshake within 150 ms of connecting$/).length).toBe(1);
    expect(a.transport.stats.refusedByReason).toEqual({ HandshakeTimeout: 1 });
  });

  test("stop() flushes queued frames, then closes; the peer sees it go down", async () => {
    const a = await startNode("alpha");
    const b = await startNode("beta");
    introduce(a, b);
    a.transport.send("beta", ping("hello"));
    await waitFor("connection up", () => labels(b, "alpha").length === 1);
    const body = new Uint8Array(256 * 1024);
    for (let i = 0; i < 12; i++) expect(a.transport.send("beta", frameBytes(MessageType.Push, body))).toBe("queued");
    expect(a.transport.sendAll(frameBytes(MessageType.Leave, new Uint8Array(0)))).toBe(1);
    await a.transport.stop();
    await waitFor("beta to see alpha leave", () => b.host.events.includes("down alpha"));
    const frames = b.host.framesFrom("alpha");
    expect(frames.length).toBe(14);
    expect(frames.at(-1)!.type).toBe(MessageType.Leave);
    expect(a.host.events).toEqual([`up beta ${b.transport.advertisedAddress}`, "down beta"]);
    expect(a.transport.send("beta", ping("late"))).toBe("unreachable");
  });

  test("stop() delivers frames sent to a peer with no connection yet: the dial on the way completes first", async () => {
    const a = await startNode("alpha");
    const b = await startNode("beta");
    const c = await startNode("gamma");
    introduce(a, b, c);
    // A goodbye to two peers never talked to, then stop at once (what a leaving node does).
    for (const peer of ["beta", "gamma"]) expect(a.transport.send(peer, frameBytes(MessageType.Leave, new Uint8Array(0)))).toBe("queued");
    await a.transport.stop();
    for (const peer of [b, c]) {
      await waitFor(`${peer.name} to get the goodbye`, () => peer.host.framesFrom("alpha").length === 1);
      expect(peer.host.framesFrom("alpha")[0]!.type).toBe(MessageType.Leave);
    }
    expect(a.transport.stats.openConnections).toBe(0);
  });
});
