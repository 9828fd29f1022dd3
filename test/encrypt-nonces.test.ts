// The property "no nonce ever repeats under one key", checked on the sealing code itself: every
// record a stream seals opens only under the key of its connection and direction and the nonce
// of its own record number, record numbers only grow, and keys differ between connections and
// directions. Each record is opened here independently with node:crypto, not with the code
// under test, so a stream that reused a nonce (or a key) would be caught.

import { expect, test } from "bun:test";
import { createDecipheriv } from "node:crypto";
import { HEADER_BYTES, MessageType, type ProofTranscript } from "../src/codec/index.ts";
import { newNonce } from "../src/transport/admission.ts";
import { Keyring } from "../src/transport/keyring.ts";
import { SEALED_PLAIN_LIMIT, SealedStream, directionKey, recordNonce } from "../src/transport/sealed-frames.ts";

const keyring = Keyring.parse(Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"));
const transcriptOf = (): ProofTranscript => ({ dialerNonce: newNonce(), listenerNonce: newNonce(), dialerName: "a", listenerName: "b" });

/** Splits sealed output into records and opens each with `key` and the nonce of `first + i`; throws if one does not open. */
function openAll(sealed: Uint8Array, key: Uint8Array, first: number): number {
  let at = 0;
  let n = first;
  while (at < sealed.length) {
    const view = new DataView(sealed.buffer, sealed.byteOffset + at);
    const bodyLength = view.getUint32(0);
    expect(view.getUint8(5)).toBe(MessageType.Sealed);
    const body = sealed.subarray(at + HEADER_BYTES, at + HEADER_BYTES + bodyLength);
    const decipher = createDecipheriv("aes-256-gcm", key, recordNonce(n));
    decipher.setAAD(sealed.subarray(at, at + HEADER_BYTES));
    decipher.setAuthTag(body.subarray(body.length - 16));
    decipher.update(body.subarray(0, body.length - 16));
    decipher.final(); // throws unless key and nonce are exactly these
    at += HEADER_BYTES + bodyLength;
    n++;
  }
  return n;
}

test("every record of a stream uses the next nonce under its direction's key: none repeats", () => {
  const transcript = transcriptOf();
  const stream = new SealedStream(keyring.primary, transcript, "dialer", 1 << 20);
  const sendKey = directionKey(keyring.primary, transcript, "dialer");
  let expectedNext = 0;
  // Random batch sizes, some spanning several records.
  for (let i = 0; i < 300; i++) {
    const size = i % 37 === 0 ? SEALED_PLAIN_LIMIT * 2 + (i % 5) : 1 + Math.floor(Math.random() * 2000);
    const before = stream.recordsSealed;
    expect(before).toBe(expectedNext);
    expectedNext = openAll(stream.seal(new Uint8Array(size)), sendKey, before);
    expect(stream.recordsSealed).toBe(expectedNext);
  }
  expect(expectedNext).toBeGreaterThan(300);
});

test("each connection and each direction seals under its own key", () => {
  const keys = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const transcript = transcriptOf();
    for (const role of ["dialer", "listener"] as const) keys.add(Buffer.from(directionKey(keyring.primary, transcript, role)).toString("hex"));
  }
  expect(keys.size).toBe(400);
  // The ring key itself never seals: no derived key equals it.
  expect(keys.has(Buffer.from(keyring.primary.key).toString("hex"))).toBe(false);
});

test("a stream opens the other side's records in order, and refuses a replayed, reordered or foreign one", () => {
  const transcript = transcriptOf();
  const dialer = new SealedStream(keyring.primary, transcript, "dialer", 1 << 20);
  const listener = new SealedStream(keyring.primary, transcript, "listener", 1 << 20);
  const frame = (n: number) => Uint8Array.from([0, 0, 0, 1, 3, MessageType.Push, 0, 0, 0, 0, 0, 0, n]);
  const record = (bytes: Uint8Array) => ({ version: 3, type: MessageType.Sealed, flags: 0, correlationId: 0, body: bytes.subarray(HEADER_BYTES) });
  const [r0, r1, r2] = [dialer.seal(frame(0)), dialer.seal(frame(1)), dialer.seal(frame(2))];
  const got: number[] = [];
  listener.open(record(r0), (f) => got.push(f.body[0]!));
  expect(() => listener.open(record(r0), () => got.push(-1))).toThrow(/record 1 failed authentication/); // replay
  expect(() => listener.open(record(r2), () => got.push(-1))).toThrow(/record 1 failed authentication/); // reordered
  listener.open(record(r1), (f) => got.push(f.body[0]!));
  // Its own records, reflected back, do not open either: the directions have different keys.
  expect(() => listener.open(record(listener.seal(frame(9))), () => got.push(-1))).toThrow(/failed authentication/);
  expect(got).toEqual([0, 1]);
});
