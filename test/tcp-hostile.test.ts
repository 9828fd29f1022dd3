// Peers that misbehave or do not belong: garbage bytes, oversized and truncated frames, frames
// before the handshake, other clusters, wrong or missing secrets, replayed handshakes, stale
// generations, and a peer that stops reading. Each is refused or contained with a logged reason,
// and the node keeps serving a good peer afterwards.

import { afterEach, describe, expect, test } from "bun:test";
import {
  AuthScheme,
  ErrorCode,
  MessageType,
  PROTOCOL_VERSION,
  computeProof,
  decodeError,
  decodeHello,
  decodeWelcome,
  encodeHelloIntroduce,
  encodeProve,
  encodeWelcomeIntroduce,
  type Introduction,
} from "../src/codec/index.ts";
import { createRandom } from "../src/random.ts";
import {
  closeAll,
  dialByHand,
  frameBytes,
  introduce,
  introduction,
  rawConnect,
  rawListen,
  startNode,
  waitFor,
  welcomeIntroduction,
  type RawPeer,
  type TestNode,
} from "./tcp-harness.ts";

afterEach(closeAll);

const ping = (label: string) => frameBytes(MessageType.Ping, new TextEncoder().encode(label));

/** A WELCOME step 1 from a hand-made listener. */
function welcomeFrom(name: string, overrides: Partial<Introduction> = {}): Uint8Array {
  return encodeWelcomeIntroduce({ ...introduction(name, overrides), seenAt: "127.0.0.1:1" });
}

async function expectGoodPeerStillServed(node: TestNode): Promise<void> {
  const good = await startNode("good");
  introduce(node, good);
  expect(good.transport.send(node.name, ping("still there?"))).toBe("queued");
  await waitFor("the good peer's frame", () => node.host.framesFrom("good").length === 1);
  expect(node.transport.send("good", ping("yes"))).toBe("queued");
  await waitFor("the reply to the good peer", () => good.host.framesFrom(node.name).length === 1);
}

async function refusalCode(raw: RawPeer): Promise<number> {
  return decodeError((await raw.nextFrame(MessageType.Error)).body).code;
}

describe("garbage on the wire", () => {
  test("random bytes, an oversized length, junk after HELLO, an early state frame and a bad HELLO body are each refused", async () => {
    const a = await startNode("alpha");
    const random = createRandom(42);
    const randomBytes = Uint8Array.from({ length: 4096 }, () => random.int(256));
    randomBytes[0] = 0x7f; // a length far past the frame limit, whatever the seed gives

    const cases: { send: Uint8Array; log: RegExp; code: number }[] = [
      {
        send: randomBytes,
        log: /malformed frame \(before the handshake completed\): cannot decode frame\.length at offset 0: body of \d+ bytes exceeds/,
        code: ErrorCode.MalformedFrame,
      },
      {
        send: Uint8Array.from([0x00, 0x20, 0x00, 0x00, 1, MessageType.Hello, 0, 0, 0, 0, 0, 0]),
        log: /malformed frame \(before the handshake completed\): cannot decode frame\.length at offset 0: body of 2097152 bytes exceeds the 4096-byte frame limit/,
        code: ErrorCode.MalformedFrame,
      },
      {
        send: new Uint8Array([...encodeHelloIntroduce(introduction("junky")), ...new Uint8Array(12).fill(0xff)]),
        log: /malformed frame \(before the handshake completed\): cannot decode frame\.length at offset \d+/,
        code: ErrorCode.MalformedFrame,
      },
      { send: frameBytes(MessageType.Syn, new Uint8Array(3)), log: /: Syn frame before the handshake completed$/, code: ErrorCode.ProtocolViolation },
      {
        send: frameBytes(MessageType.Hello, Uint8Array.from([1, 1, 50, 0x61])),
        log: /malformed frame: cannot decode handshake\.clusterName at offset 2: length 50 exceeds the 1 bytes that remain/,
        code: ErrorCode.MalformedFrame,
      },
    ];
    for (const [index, { send, log, code }] of cases.entries()) {
      const raw = await rawConnect(a.transport.port);
      raw.write(send);
      expect(await refusalCode(raw)).toBe(code);
      await waitFor("the refused connection to close", () => raw.closed);
      const refusals = a.log.matching(/^refused peer 127\.0\.0\.1:\d+: /);
      expect(refusals.length).toBe(index + 1);
      expect(refusals.at(-1)!.message).toMatch(log);
      expect(raw.frames.filter((frame) => frame.type !== MessageType.Welcome)).toEqual([]); // nothing but WELCOME and the ERROR
    }
    expect(a.transport.stats.refusedByReason).toEqual({ MalformedFrame: 4, ProtocolViolation: 1 });
    expect(a.transport.stats.openConnections).toBe(0);
    await expectGoodPeerStillServed(a);
  });

  test("a truncated frame followed by a close is logged and discarded", async () => {
    const a = await startNode("alpha");
    const raw = await rawConnect(a.transport.port);
    const hello = encodeHelloIntroduce(introduction("cut"));
    raw.write(hello.subarray(0, hello.length - 5));
    await Bun.sleep(20);
    raw.socket!.end();
    await waitFor("the close", () => a.transport.stats.connectionsClosed === 1);
    expect(a.log.matching(new RegExp(`^127\\.0\\.0\\.1:\\d+ closed in the middle of a frame: ${hello.length - 5} bytes discarded$`)).length).toBe(1);
    expect(a.host.events).toEqual([]);
    await expectGoodPeerStillServed(a);
  });

  test("a HELLO or WELCOME after the handshake is a protocol violation that closes the connection", async () => {
    const a = await startNode("alpha");
    const raw = await rawConnect(a.transport.port);
    await dialByHand(raw, introduction("late"));
    await waitFor("the hand-made peer to be up", () => a.host.events.length === 1);
    raw.write(encodeHelloIntroduce(introduction("late")));
    expect(await refusalCode(raw)).toBe(ErrorCode.ProtocolViolation);
    await waitFor("the peer to go down", () => a.host.events.includes("down late"));
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: Hello after the handshake completed$/).length).toBe(1);
  });
});

describe("refusals", () => {
  test("nodes of protocol versions 1 and 2 (earlier builds) are refused at the handshake, naming both versions", async () => {
    const a = await startNode("alpha");
    expect(PROTOCOL_VERSION).toBe(4);
    // Version 1: a HELLO whose body names version 1.
    const v1 = await rawConnect(a.transport.port);
    v1.write(encodeHelloIntroduce(introduction("old", { protocolVersion: 1 })));
    expect(decodeError((await v1.nextFrame(MessageType.Error)).body)).toEqual({
      code: ErrorCode.UnsupportedVersion,
      message: "protocol version 1 is not supported (this node speaks 4)",
    });
    // Version 2 (the listener proved first): its HELLO step 1 has this layout, with 2 in the
    // frame header and in the body, as a version-2 build sends it.
    const v2hello = encodeHelloIntroduce(introduction("older", { protocolVersion: 2 }));
    v2hello[4] = 2;
    const v2 = await rawConnect(a.transport.port);
    v2.write(v2hello);
    expect(decodeError((await v2.nextFrame(MessageType.Error)).body)).toEqual({
      code: ErrorCode.UnsupportedVersion,
      message: "protocol version 2 is not supported (this node speaks 4)",
    });
    expect(v2.frames.filter((frame) => frame.type === MessageType.Welcome)).toEqual([]);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: protocol version [12] is not supported \(this node speaks 4\)$/).length).toBe(2);
    expect(a.host.events).toEqual([]);
    await expectGoodPeerStillServed(a);
  });

  test("a peer from another cluster is refused with the reason on both sides, and never gets state", async () => {
    const a = await startNode("alpha", { clusterName: "a" });
    const b = await startNode("beta", { clusterName: "b" });
    introduce(a, b);
    expect(b.transport.send("alpha", ping("state for alpha"))).toBe("queued");
    await waitFor("alpha to refuse", () => a.transport.stats.connectionsRefused === 1);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: cluster name 'b' differs from ours 'a'$/).length).toBe(1);
    await waitFor("beta to hear the refusal", () => b.transport.stats.refusedByPeers === 1);
    expect(b.log.matching(/^peer 127\.0\.0\.1:\d+ refused the connection \(ClusterMismatch\): "cluster name 'b' differs from ours 'a'"$/).length).toBe(1);
    expect(a.host.frames).toEqual([]);
    expect(b.host.frames).toEqual([]);
    expect(a.host.events).toEqual([]);
    expect(b.host.events).toEqual([]);
    expect(a.transport.stats.refusedByReason).toEqual({ ClusterMismatch: 1 });
  });

  test("a wrong cluster secret is refused by the listener, which checks the dialer's proof first", async () => {
    const a = await startNode("alpha", { secret: "one secret" });
    const b = await startNode("beta", { secret: "another secret" });
    introduce(a, b);
    b.transport.send("alpha", ping("x"));
    // beta dialled: it proves first, alpha checks the proof and refuses.
    await waitFor("alpha to refuse beta's proof", () => a.transport.stats.connectionsRefused === 1);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: wrong cluster secret proof$/).length).toBe(1);
    await waitFor("beta to hear it", () => b.transport.stats.refusedByPeers === 1);
    expect(a.host.frames).toEqual([]);
    expect(a.host.events).toEqual([]);
    expect(b.host.events).toEqual([]);

    // A dialer with the wrong secret that ignores the listener's proof is refused by the listener.
    const raw = await rawConnect(a.transport.port);
    await dialByHand(raw, introduction("intruder", { authScheme: AuthScheme.HmacSha256 }), "guessed secret");
    expect(await refusalCode(raw)).toBe(ErrorCode.AuthFailed);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: wrong cluster secret proof$/).length).toBe(2);
    expect(a.host.events).toEqual([]);
  });

  test("a dialer that has proven nothing receives nothing to guess the secret from offline", async () => {
    const secret = "the cluster secret";
    const a = await startNode("alpha", { secret });
    const raw = await rawConnect(a.transport.port);
    const received: Uint8Array[] = [];
    const onData = raw.onData.bind(raw);
    raw.onData = (chunk) => {
      received.push(chunk.slice());
      onData(chunk);
    };
    const intro = introduction("guesser", { authScheme: AuthScheme.HmacSha256 });
    raw.write(encodeHelloIntroduce(intro));
    const welcome = await welcomeIntroduction(raw);
    raw.write(encodeProve(MessageType.Hello, new Uint8Array(32).fill(1)));
    expect(await refusalCode(raw)).toBe(ErrorCode.AuthFailed);
    await waitFor("alpha to close", () => raw.closed);
    // Every byte alpha sent: WELCOME step 1 and the ERROR. The proof alpha would have sent does
    // not appear anywhere in them (computed here with the real secret).
    const transcript = { dialerNonce: intro.nonce, listenerNonce: welcome.nonce, dialerName: "guesser", listenerName: "alpha" };
    const listenerProof = Buffer.from(computeProof(secret, "welcome", transcript)).toString("hex");
    const stream = Buffer.concat(received).toString("hex");
    expect(stream.length).toBeGreaterThan(0);
    expect(stream.includes(listenerProof)).toBe(false);
    expect(raw.frames).toEqual([]); // nothing besides the WELCOME introduction and the ERROR

    // With the right secret, the listener's proof comes after the dialer's, and checks out.
    const honest = await rawConnect(a.transport.port);
    const honestIntro = introduction("honest", { authScheme: AuthScheme.HmacSha256 });
    honest.write(encodeHelloIntroduce(honestIntro));
    const honestWelcome = await welcomeIntroduction(honest);
    const honestTranscript = { dialerNonce: honestIntro.nonce, listenerNonce: honestWelcome.nonce, dialerName: "honest", listenerName: "alpha" };
    honest.write(encodeProve(MessageType.Hello, computeProof(secret, "hello", honestTranscript)));
    const second = decodeWelcome((await honest.nextFrame(MessageType.Welcome)).body);
    expect(second).toMatchObject({ step: "prove", proof: computeProof(secret, "welcome", honestTranscript) });
    await waitFor("the honest dialer to be admitted", () => a.host.events.length === 1);
  });

  test("a node with a secret refuses one without, saying so", async () => {
    const a = await startNode("alpha", { secret: "s" });
    const b = await startNode("beta");
    introduce(a, b);
    b.transport.send("alpha", ping("x"));
    await waitFor("alpha to refuse", () => a.transport.stats.connectionsRefused === 1);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: peer has no cluster secret and this node requires one$/).length).toBe(1);
  });

  test("matching secrets connect", async () => {
    const a = await startNode("alpha", { secret: "s" });
    const b = await startNode("beta", { secret: "s" });
    introduce(a, b);
    b.transport.send("alpha", ping("x"));
    await waitFor("the frame", () => a.host.framesFrom("beta").length === 1);
    expect(a.transport.stats.connectionsRefused + b.transport.stats.connectionsRefused).toBe(0);
  });

  test("a replayed HELLO does not authenticate", async () => {
    const secret = "cluster secret";
    const a = await startNode("alpha", { secret });
    // A legitimate dialer's handshake, recorded byte for byte.
    const first = await rawConnect(a.transport.port);
    const recorded = await dialByHand(first, introduction("carol", { authScheme: AuthScheme.HmacSha256 }), secret);
    await waitFor("carol's real handshake", () => a.host.events.length === 1);
    first.socket!.end();
    await waitFor("carol to disconnect", () => a.host.events.includes("down carol"));

    // The same bytes on a new connection: alpha's fresh nonce makes the recorded proof stale.
    const replay = await rawConnect(a.transport.port);
    replay.write(recorded[0]!);
    await replay.nextFrame(MessageType.Welcome);
    replay.write(recorded[1]!);
    expect(await refusalCode(replay)).toBe(ErrorCode.AuthFailed);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: wrong cluster secret proof$/).length).toBe(1);
    expect(a.host.events).toEqual([`up carol 127.0.0.1:1`, "down carol"]);
  });

  test("a listener that fails our check never receives the frames queued for it", async () => {
    const a = await startNode("alpha", { secret: "s" });
    const accepted: RawPeer[] = [];
    const listener = rawListen((peer) => accepted.push(peer));
    a.host.addresses.set("mallory", `127.0.0.1:${listener.port}`);
    expect(a.transport.send("mallory", ping("secret state"))).toBe("queued");
    await waitFor("alpha to dial", () => accepted.length === 1);
    const mallory = accepted[0]!;
    const hello = decodeHello((await mallory.nextFrame(MessageType.Hello)).body);
    expect(hello.step).toBe("introduce");
    mallory.write(welcomeFrom("mallory", { authScheme: AuthScheme.HmacSha256 }));
    expect(decodeHello((await mallory.nextFrame(MessageType.Hello)).body).step).toBe("prove");
    mallory.write(encodeProve(MessageType.Welcome, new Uint8Array(32)));
    expect(await refusalCode(mallory)).toBe(ErrorCode.AuthFailed);
    await waitFor("alpha to close", () => mallory.closed);
    expect(mallory.frames).toEqual([]); // the PING never left alpha
    expect(a.transport.stats.queueDepthBytes).toEqual({});
  });

  test("our own name, and an older generation of a connected node, are refused", async () => {
    const a = await startNode("alpha");
    const impostor = await rawConnect(a.transport.port);
    impostor.write(encodeHelloIntroduce(introduction("alpha")));
    expect(await refusalCode(impostor)).toBe(ErrorCode.SameNameAsOurs);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: peer announces our own node name 'alpha'$/).length).toBe(1);

    const current = await rawConnect(a.transport.port);
    await dialByHand(current, introduction("dora", { generation: 5 }));
    await waitFor("dora generation 5", () => a.host.events.length === 1);
    const stale = await rawConnect(a.transport.port);
    await dialByHand(stale, introduction("dora", { generation: 4 }));
    expect(await refusalCode(stale)).toBe(ErrorCode.StaleGeneration);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: node 'dora' is already connected with generation 5, newer than the announced 4$/).length).toBe(1);
    expect(a.host.events).toEqual(["up dora 127.0.0.1:1"]);

    // A newer generation replaces the old connection: the node restarted.
    const restarted = await rawConnect(a.transport.port);
    await dialByHand(restarted, introduction("dora", { generation: 6 }));
    await waitFor("the old incarnation's connection to close", () => current.closed);
    expect(a.host.events).toEqual(["up dora 127.0.0.1:1", "down dora", "up dora 127.0.0.1:1"]);
    expect(a.transport.send("dora", ping("to gen 6"))).toBe("queued");
    expect((await restarted.nextFrame(MessageType.Ping)).body.length).toBe(8);
  });
});

describe("backpressure", () => {
  test("a peer that stops reading never makes the queue grow past the high-water mark", async () => {
    const highWater = 1024 * 1024;
    const a = await startNode("alpha", { writeQueueHighWaterBytes: highWater });
    const accepted: RawPeer[] = [];
    const listener = rawListen((peer) => accepted.push(peer));
    a.host.addresses.set("sink", `127.0.0.1:${listener.port}`);
    expect(a.transport.send("sink", ping("first"))).toBe("queued");
    await waitFor("alpha to dial the sink", () => accepted.length === 1);
    const sink = accepted[0]!;
    await sink.nextFrame(MessageType.Hello);
    sink.write(welcomeFrom("sink"));
    await sink.nextFrame(MessageType.Hello); // alpha's proof step
    sink.write(encodeProve(MessageType.Welcome, new Uint8Array(0))); // ours: alpha is established
    sink.socket!.pause(); // from here on the kernel buffers fill and write() returns 0
    await waitFor("the sink to be connected", () => a.transport.connectedPeers().includes("sink"));

    const frame = frameBytes(MessageType.Push, new Uint8Array(64 * 1024));
    let overloaded = 0;
    const deadline = performance.now() + 15_000;
    for (let i = 0; i < 4000 && overloaded < 100 && performance.now() < deadline; i++) {
      if (a.transport.send("sink", frame) === "overloaded") overloaded++;
      expect(a.transport.stats.queueDepthBytes.sink!).toBeLessThanOrEqual(highWater);
      if (i % 8 === 0) await Bun.sleep(1); // let flushes run and meet the full kernel buffer
    }
    expect(overloaded).toBe(100);
    const stats = a.transport.stats;
    expect(stats.overloads).toBe(100);
    expect(stats.queueDepthBytes.sink!).toBeGreaterThan(highWater - frame.length - 1);
    expect(stats.queueDepthBytes.sink!).toBeLessThanOrEqual(highWater);
    const warnings = a.log.matching(/^write queue to sink is full/);
    expect(warnings.length).toBe(1); // rate-limited: one per peer per 10 s
    expect(warnings[0]!.level).toBe("warn");
  }, 30_000);
});
