// Keyring encryption over real sockets: two transports agree on a key, every frame after the
// handshake travels sealed (nothing readable on the wire), a wrong key is refused with a logged
// reason on both sides, and a record flipped or replayed on the path closes the connection with
// nothing it carried applied.

import { afterEach, describe, expect, test } from "bun:test";
import { MessageType, type Frame } from "../src/codec/index.ts";
import { Keyring } from "../src/transport/keyring.ts";
import { FrameRelay, type Rewrite } from "./support/frame-relay.ts";
import { closeAll, frameBytes, introduce, startNode, waitFor, type TestNode } from "./tcp-harness.ts";

const randomKey = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
const [k1, k2, k3] = [randomKey(), randomKey(), randomKey()];
const ring = (...keys: string[]) => Keyring.parse(keys.join("\n"));

const relays: FrameRelay[] = [];
afterEach(async () => {
  for (const relay of relays.splice(0)) relay.stop();
  await closeAll();
});

const marker = new TextEncoder().encode("PLAINTEXT-MARKER-0123456789");
const markerHex = Buffer.from(marker).toString("hex");

/** a dials b through a relay that applies `rewrite`; returns once the relay is in place. */
async function throughRelay(a: TestNode, b: TestNode, rewrite?: Rewrite): Promise<FrameRelay> {
  const [host, port] = b.transport.advertisedAddress.split(":") as [string, string];
  const relay = new FrameRelay({ host, port: Number(port) }, rewrite);
  relays.push(relay);
  a.host.addresses.set(b.name, relay.start());
  return relay;
}

const warnings = (node: TestNode, pattern: RegExp): string[] =>
  node.log.lines.filter((line) => line.level === "warn" && pattern.test(line.message)).map((line) => line.message);
const pushes = (node: TestNode, from: string): Frame[] => node.host.framesFrom(from).filter((frame) => frame.type === MessageType.Push);

describe("keyring encryption between transports", () => {
  test("frames arrive intact, and nothing after the handshake is readable on the wire", async () => {
    const a = await startNode("a", { keyring: ring(k1) });
    const b = await startNode("b", { keyring: ring(k1) });
    const relay = await throughRelay(a, b);
    // Larger than one record (64 KiB): a frame spanning records arrives whole.
    const big = new Uint8Array(200_000).map((_, i) => i % 251);
    expect(a.transport.send("b", frameBytes(MessageType.Push, marker))).toBe("queued");
    await waitFor("the first frame", () => pushes(b, "a").length === 1);
    a.transport.send("b", frameBytes(MessageType.Push, big));
    b.transport.send("a", frameBytes(MessageType.Push, marker));
    await waitFor("frames both ways", () => pushes(b, "a").length === 2 && pushes(a, "b").length === 1);
    expect(pushes(b, "a")[0]!.body).toEqual(marker);
    expect(pushes(b, "a")[1]!.body).toEqual(big);
    expect(pushes(a, "b")[0]!.body).toEqual(marker);
    // On the wire: four handshake frames, then only SEALED records, none containing the marker.
    for (const direction of ["toTarget", "toClient"] as const) {
      const types = relay.seen[direction].map((bytes) => bytes[5]);
      expect(types.slice(0, 2)).toEqual(direction === "toTarget" ? [MessageType.Hello, MessageType.Hello] : [MessageType.Welcome, MessageType.Welcome]);
      expect(types.slice(2).length).toBeGreaterThan(0);
      expect(types.slice(2).every((type) => type === MessageType.Sealed)).toBe(true);
      for (const bytes of relay.seen[direction]) expect(Buffer.from(bytes).toString("hex")).not.toContain(markerHex);
    }
  });

  test("two rings with one key in common connect (the listener prefers its own order)", async () => {
    const a = await startNode("a", { keyring: ring(k1, k2) });
    const b = await startNode("b", { keyring: ring(k3, k2) });
    introduce(a, b);
    a.transport.send("b", frameBytes(MessageType.Push, marker));
    await waitFor("a frame over the shared key", () => pushes(b, "a").length === 1);
    expect(pushes(b, "a")[0]!.body).toEqual(marker);
  });

  test("a wrong key is refused, with the reason logged on both sides", async () => {
    const a = await startNode("a", { keyring: ring(k1), reconnectBaseMs: 5_000, reconnectMaxMs: 5_000 });
    const b = await startNode("b", { keyring: ring(k2) });
    introduce(a, b);
    a.transport.send("b", frameBytes(MessageType.Push, marker));
    const idA = ring(k1).primary.idHex;
    const idB = ring(k2).primary.idHex;
    const reason = `no key in common: the peer holds keys ${idA}, this node ${idB}`;
    await waitFor("refusals logged", () => warnings(b, /no key in common/).length > 0 && warnings(a, /refused the connection/).length > 0);
    expect(warnings(b, /no key in common/)[0]).toMatch(new RegExp(`^refused peer 127\\.0\\.0\\.1:\\d+: ${reason}$`));
    expect(warnings(a, /refused the connection/)[0]).toMatch(new RegExp(`^peer b \\(127\\.0\\.0\\.1:\\d+\\) refused the connection \\(AuthFailed\\): "${reason}"$`));
    expect(pushes(b, "a").length).toBe(0);
    expect(b.transport.connectedPeers()).toEqual([]);
  });

  test("encrypted and plain nodes refuse each other by name", async () => {
    const a = await startNode("a", { reconnectBaseMs: 5_000, reconnectMaxMs: 5_000 });
    const b = await startNode("b", { keyring: ring(k1) });
    introduce(a, b);
    a.transport.send("b", frameBytes(MessageType.Push, marker));
    await waitFor("refusals logged", () => warnings(b, /refused peer/).length > 0 && warnings(a, /refused the connection/).length > 0);
    expect(warnings(b, /refused peer/)[0]).toMatch(/: peer uses no authentication \(plain\) and this node an encryption keyring$/);
    expect(warnings(a, /refused the connection/)[0]).toMatch(/\(AuthFailed\): "peer uses no authentication \(plain\) and this node an encryption keyring"$/);
    expect(pushes(b, "a").length).toBe(0);
  });

  test("a flipped ciphertext bit closes the connection and applies nothing of the record", async () => {
    const a = await startNode("a", { keyring: ring(k1), reconnectBaseMs: 5_000, reconnectMaxMs: 5_000 });
    const b = await startNode("b", { keyring: ring(k1) });
    let sealedSeen = 0;
    await throughRelay(a, b, (frame, bytes, direction) => {
      if (direction !== "toTarget" || frame.type !== MessageType.Sealed || ++sealedSeen !== 1) return bytes;
      bytes[bytes.length - 20]! ^= 0x01; // a ciphertext bit of the first record after the handshake
      return bytes;
    });
    a.transport.send("b", frameBytes(MessageType.Push, marker));
    await waitFor("the tampered record refused", () => warnings(b, /SEALED record 0 failed authentication/).length === 1);
    await waitFor("the connection closed", () => b.transport.stats.openConnections === 0);
    expect(pushes(b, "a").length).toBe(0);
    expect(b.host.frames.length).toBe(0);
  });

  test("a replayed record closes the connection; only the original is applied", async () => {
    const a = await startNode("a", { keyring: ring(k1), reconnectBaseMs: 5_000, reconnectMaxMs: 5_000 });
    const b = await startNode("b", { keyring: ring(k1) });
    let sealedSeen = 0;
    await throughRelay(a, b, (frame, bytes, direction) => {
      if (direction !== "toTarget" || frame.type !== MessageType.Sealed || ++sealedSeen !== 1) return bytes;
      const twice = new Uint8Array(bytes.length * 2);
      twice.set(bytes);
      twice.set(bytes, bytes.length);
      return twice;
    });
    a.transport.send("b", frameBytes(MessageType.Push, marker));
    await waitFor("the replay refused", () => warnings(b, /SEALED record 1 failed authentication/).length === 1);
    await waitFor("the connection closed", () => b.transport.stats.openConnections === 0);
    expect(pushes(b, "a").length).toBe(1);
  });
});
