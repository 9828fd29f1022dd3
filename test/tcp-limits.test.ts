// The limits that keep connections from holding a node's memory, descriptors and CPU: a handshake
// deadline from TCP accept (TLS included), a small frame cap before the handshake, a deadline for
// each frame that trickling bytes do not extend, maxConnections and a per-source cap on pending
// handshakes at accept, and a clear error when the gossip port is taken. Real sockets throughout.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { ErrorCode, HEADER_BYTES, MessageType, decodeError } from "../src/codec/index.ts";
import { CertificateAuthorities, SKIP_REASON, opensslPath, type NodeCertificate } from "./support/certificates.ts";
import {
  closeAll,
  dialByHand,
  frameBytes,
  introduce,
  introduction,
  rawConnect,
  rawConnectFrom,
  startNode,
  waitFor,
  type RawPeer,
  type TestNode,
} from "./tcp-harness.ts";

afterEach(closeAll);

const ping = (label: string) => frameBytes(MessageType.Ping, new TextEncoder().encode(label));

async function expectPeersExchange(a: TestNode, b: TestNode): Promise<void> {
  introduce(a, b);
  expect(b.transport.send(a.name, ping("hello"))).toBe("queued");
  await waitFor(`${b.name}'s frame to reach ${a.name}`, () => a.host.framesFrom(b.name).length === 1);
  expect(a.transport.send(b.name, ping("back"))).toBe("queued");
  await waitFor(`${a.name}'s reply to reach ${b.name}`, () => b.host.framesFrom(a.name).length === 1);
}

/** A raw peer that completed the handshake with `node` (it is up on the node's side). */
async function establishedRawPeer(node: TestNode, name: string): Promise<RawPeer> {
  const raw = await rawConnect(node.transport.port);
  await dialByHand(raw, introduction(name));
  await raw.nextFrame(MessageType.Welcome); // the listener's proof step
  await waitFor(`${name} to be connected`, () => node.transport.connectedPeers().includes(name));
  return raw;
}

describe("silent TLS sockets", () => {
  let authorities: CertificateAuthorities | null = null;
  const certs: Record<string, NodeCertificate> = {};
  beforeAll(() => {
    if (!opensslPath) return console.warn(`skipping: ${SKIP_REASON}`);
    authorities = new CertificateAuthorities(opensslPath);
    for (const name of ["alpha", "beta"]) certs[name] = authorities.nodeCertificate(name, "cluster-ca");
  });
  afterAll(() => authorities?.remove());

  test.skipIf(!opensslPath)("200 TCP connections that never send a ClientHello are all closed by the handshake deadline", async () => {
    const deadlineMs = 400;
    const a = await startNode("alpha", { tls: certs.alpha!, handshakeTimeoutMs: deadlineMs, maxPendingHandshakesPerSource: 1000 });
    const started = performance.now();
    const silent: RawPeer[] = [];
    for (let i = 0; i < 200; i++) silent.push(await rawConnect(a.transport.port));
    await waitFor("alpha to hold the 200 silent connections", () => a.transport.stats.openConnections === 200, 3_000);
    await waitFor("every silent connection to be closed", () => silent.every((peer) => peer.closed), deadlineMs + 3_000);
    const elapsed = performance.now() - started;
    console.log(`200 silent TLS connections closed ${Math.round(elapsed)} ms after the first connect (deadline ${deadlineMs} ms)`);
    expect(elapsed).toBeGreaterThanOrEqual(deadlineMs);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: no handshake within 400 ms of connecting$/).length).toBe(200);
    await waitFor("alpha to forget them", () => a.transport.stats.openConnections === 0);
    // The node still admits a real peer over TLS.
    await expectPeersExchange(a, await startNode("beta", { tls: certs.beta! }));
  }, 20_000);
});

describe("frames before and after the handshake", () => {
  test("a frame announcing more than 4 KiB before the handshake is refused on its header alone", async () => {
    const a = await startNode("alpha");
    const raw = await rawConnect(a.transport.port);
    const header = frameBytes(MessageType.Hello, new Uint8Array(5000)).subarray(0, HEADER_BYTES);
    raw.write(header); // the header only: the node must not wait for the 5000 bytes
    const error = decodeError((await raw.nextFrame(MessageType.Error)).body);
    expect(error.code).toBe(ErrorCode.MalformedFrame);
    expect(error.message).toMatch(/before the handshake completed.*body of 5000 bytes exceeds the 4096-byte frame limit/);
    await waitFor("the connection to close", () => raw.closed);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: malformed frame \(before the handshake completed\)/).length).toBe(1);
  });

  test("after the handshake the configured frame limit applies: a 64 KiB frame is delivered", async () => {
    const a = await startNode("alpha");
    const raw = await establishedRawPeer(a, "bulk");
    raw.write(frameBytes(MessageType.Push, new Uint8Array(64 * 1024).fill(7)));
    await waitFor("the 64 KiB frame", () => a.host.framesFrom("bulk").length === 1);
    expect(a.host.framesFrom("bulk")[0]!.body.length).toBe(64 * 1024);
  });

  test("a frame dribbled a byte at a time is cut off at the frame deadline, although bytes keep coming", async () => {
    const frameTimeoutMs = 400;
    const a = await startNode("alpha", { frameTimeoutMs, idleTimeoutMs: 60_000 });
    const raw = await establishedRawPeer(a, "dribbler");
    const frame = frameBytes(MessageType.Push, new Uint8Array(1000));
    const started = performance.now();
    // One byte every 20 ms would take 20 s for this frame; each byte would reset an idle timer.
    for (let i = 0; i < frame.length && !raw.closed && performance.now() - started < 5_000; i++) {
      raw.socket!.write(frame.subarray(i, i + 1));
      await Bun.sleep(20);
    }
    expect(raw.closed).toBe(true);
    const elapsed = performance.now() - started;
    console.log(`dribbling peer cut off after ${Math.round(elapsed)} ms (frameTimeoutMs ${frameTimeoutMs})`);
    expect(elapsed).toBeGreaterThanOrEqual(frameTimeoutMs);
    expect(elapsed).toBeLessThan(frameTimeoutMs + 2_000);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: a frame was still incomplete 400 ms after its first byte \(\d+ bytes received\)$/).length).toBe(1);
    expect(a.host.framesFrom("dribbler")).toEqual([]);
    await waitFor("the dribbler to be down", () => a.host.events.includes("down dribbler"));
  });

  test("a steady stream whose reads always end inside a frame is not cut off: each new frame gets its own deadline", async () => {
    const frameTimeoutMs = 300;
    const a = await startNode("alpha", { frameTimeoutMs });
    const raw = await establishedRawPeer(a, "streamer");
    const frames = Array.from({ length: 12 }, (_, i) => frameBytes(MessageType.Push, new Uint8Array(20).fill(i)));
    const stream = Buffer.concat(frames);
    // Chunks of one frame's size, shifted by half a frame: every chunk completes one frame and
    // begins the next, for 12 × 100 ms, four times the frame deadline.
    const size = frames[0]!.length;
    raw.socket!.write(stream.subarray(0, size / 2));
    for (let at = size / 2; at < stream.length; at += size) {
      await Bun.sleep(100);
      raw.socket!.write(stream.subarray(at, at + size));
    }
    await waitFor("all 12 frames", () => a.host.framesFrom("streamer").length === 12);
    expect(raw.closed).toBe(false);
    expect(a.transport.stats.connectionsRefused).toBe(0);
  });
});

describe("connection limits at accept", () => {
  test("maxConnections: connections beyond it are closed at once, with one warning line; real peers connect once slots free", async () => {
    const a = await startNode("alpha", { maxConnections: 4, handshakeTimeoutMs: 500, maxPendingHandshakesPerSource: 100 });
    const peers: RawPeer[] = [];
    for (let i = 0; i < 10; i++) peers.push(await rawConnect(a.transport.port));
    const started = performance.now();
    await waitFor("the 6 connections over the limit to close", () => peers.filter((peer) => peer.closed).length === 6, 2_000);
    expect(performance.now() - started).toBeLessThan(400); // at accept, not at the handshake deadline
    expect(a.transport.stats.openConnections).toBe(4);
    expect(a.transport.stats.refusedByReason.ConnectionLimit).toBe(6);
    const warnings = a.log.matching(/^refused a connection from 127\.0\.0\.1: 4 connections open, the limit \(maxConnections\) is 4/);
    expect(warnings.length).toBe(1); // rate-limited
    expect(warnings[0]!.level).toBe("warn");
    // The four silent ones end at the handshake deadline; then a real peer gets in.
    await waitFor("the silent connections to reach the deadline", () => peers.every((peer) => peer.closed), 3_000);
    await expectPeersExchange(a, await startNode("beta"));
  });

  test("pending handshakes per source: one address cannot take more slots, another address still connects", async () => {
    const a = await startNode("alpha", { maxPendingHandshakesPerSource: 3, handshakeTimeoutMs: 3_000 });
    const flood: { readonly closed: boolean }[] = [];
    for (let i = 0; i < 8; i++) flood.push(await rawConnectFrom(a.transport.port, "127.0.0.2"));
    await waitFor("the 5 connections over the per-source cap to close", () => flood.filter((socket) => socket.closed).length === 5, 2_000);
    expect(a.transport.stats.refusedByReason.PendingHandshakesPerSource).toBe(5);
    expect(a.log.matching(/^refused a connection from 127\.0\.0\.2: it already has 3 handshakes in progress \(at most 3 per address\)/).length).toBe(1);
    // 127.0.0.2's three pending handshakes are still open; a peer from 127.0.0.1 is not affected.
    expect(flood.filter((socket) => !socket.closed).length).toBe(3);
    await expectPeersExchange(a, await startNode("beta"));
  });
});

test("a gossip port already in use fails start() naming the address and EADDRINUSE", async () => {
  const a = await startNode("alpha");
  const clash = startNode("beta", { listen: { host: "127.0.0.1", port: a.transport.port } });
  await expect(clash).rejects.toThrow(new RegExp(`^cannot listen for peers on 127\\.0\\.0\\.1:${a.transport.port}: the address is already in use \\(EADDRINUSE\\)$`));
});
