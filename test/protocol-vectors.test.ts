// The test vectors of docs/PROTOCOL.md: each ```hex block after a `<!-- vector: NAME -->` line is
// extracted, decoded with the codec and compared with the content the document describes (restated
// below), then that content is re-encoded and must give the same bytes. The document is the spec:
// if this fails, either the codec or the document changed.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BodyReader,
  type DeltaReadLimits,
  type Page,
  type FlowInfo,
  type Frame,
  FrameDecoder,
  FrameWriter,
  MessageType,
  AuthScheme,
  computeProof,
  decodeHello,
  decodeWelcome,
  encodeHelloIntroduce,
  encodeProve,
  type NodeDelta,
  PROTOCOL_VERSION,
  readDeltas,
  readPage,
  readSummary,
  SUMMARY_BUCKETS,
  readFlowInfo,
  readQuery,
  readQueryReply,
  QueryReplyKind,
  writeQuery,
  writeQueryReply,
  writeDeltas,
  writePage,
  writeSummary,
  writeFlowInfo,
} from "../src/codec/index.ts";
import { configSummary } from "../src/node/config-agreement.ts";

const doc = readFileSync(join(import.meta.dir, "..", "docs", "PROTOCOL.md"), "utf8");

interface Vector {
  name: string;
  /** Bytes per line (comments stripped), for line-oriented vectors like the varuint table. */
  lines: { bytes: Uint8Array; comment: string }[];
  bytes: Uint8Array;
}

function parseHex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`not hex: ${JSON.stringify(text)}`);
  return Uint8Array.from(digits.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

function extractVectors(markdown: string): Map<string, Vector> {
  const vectors = new Map<string, Vector>();
  const pattern = /<!-- vector: ([\w-]+) -->\s*\n```hex\n([\s\S]*?)\n```/g;
  for (const match of markdown.matchAll(pattern)) {
    const name = match[1]!;
    if (vectors.has(name)) throw new Error(`vector ${name} appears twice`);
    const lines = match[2]!
      .split("\n")
      .map((line) => {
        const hash = line.indexOf("#");
        return { hex: hash < 0 ? line : line.slice(0, hash), comment: hash < 0 ? "" : line.slice(hash + 1).trim() };
      })
      .filter((l) => l.hex.trim() !== "")
      .map((l) => ({ bytes: parseHex(l.hex), comment: l.comment }));
    const bytes = new Uint8Array(lines.reduce((n, l) => n + l.bytes.length, 0));
    let at = 0;
    for (const l of lines) {
      bytes.set(l.bytes, at);
      at += l.bytes.length;
    }
    vectors.set(name, { name, lines, bytes });
  }
  return vectors;
}

const vectors = extractVectors(doc);
function vector(name: string): Vector {
  const v = vectors.get(name);
  if (!v) throw new Error(`docs/PROTOCOL.md has no vector ${name}`);
  return v;
}
function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}
function singleFrame(bytes: Uint8Array): Frame {
  const frames: Frame[] = [];
  new FrameDecoder().push(bytes.slice(), (f) => frames.push(f));
  expect(frames.length).toBe(1);
  return frames[0]!;
}
function encodeFrame(type: number, correlationId: number, body: (w: FrameWriter) => void): Uint8Array {
  const writer = new FrameWriter();
  writer.begin(type, correlationId);
  body(writer);
  writer.end();
  return writer.finish();
}

const limits: DeltaReadLimits = { maxNameBytes: 256, maxKeyBytes: 256, maxValueBytes: 65536, isKnownValueType: (t) => t <= 5 };

test("the document holds exactly the expected vectors", () => {
  expect([...vectors.keys()].sort()).toEqual(["frame-ack-deltas", "frame-flow", "frame-hello-introduce", "frame-ping-empty", "frame-push-written-at", "frame-synack-page", "frame-syn-summary", "frame-welcome-prove", "frame-sealed-ping", "frame-query", "frame-query-reply", "frame-keyring-request-use", "frame-keyring-reply", "string-utf8", "varuint-table"].sort());
  // The transport and membership bodies are documented in section 7, one subsection each.
  expect(doc).toContain("### 7.1 Handshake: HELLO, WELCOME, ERROR");
  expect(doc).toContain("### 7.2 Membership: PING, PONG, PROBE, PROBE_ACK, LEAVE");
});

describe("vectors", () => {
  test("varuint-table: each line decodes to the value in its comment and re-encodes to itself", () => {
    // The values the table is meant to hold, restated here independently of the document.
    const expected = [0, 1, 127, 128, 300, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 32, 1_700_000_000_000, Number.MAX_SAFE_INTEGER];
    const { lines } = vector("varuint-table");
    expect(lines.map((l) => Number(/^\d+/.exec(l.comment)?.[0]))).toEqual(expected);
    lines.forEach(({ bytes }, i) => {
      const value = expected[i]!;
      const reader = new BodyReader(bytes);
      expect(reader.varuint("v")).toBe(value);
      reader.expectEnd("v");
      const writer = new FrameWriter();
      writer.begin(1).varuint(value).end();
      expect(hex(writer.finish().subarray(12))).toBe(hex(bytes));
    });
  });

  test("string-utf8", () => {
    const { bytes } = vector("string-utf8");
    const text = "a\u00e9\u20ac\u{1F600}"; // a é € 😀
    const reader = new BodyReader(bytes);
    expect(reader.string("s")).toBe(text);
    reader.expectEnd("s");
    const writer = new FrameWriter();
    writer.begin(1).string(text).end();
    expect(hex(writer.finish().subarray(12))).toBe(hex(bytes));
  });

  test("frame-ping-empty", () => {
    const { bytes } = vector("frame-ping-empty");
    const frame = singleFrame(bytes);
    expect({ ...frame, body: [...frame.body] }).toEqual({ version: PROTOCOL_VERSION, type: MessageType.Ping, flags: 0, correlationId: 7, body: [] });
    expect(hex(encodeFrame(MessageType.Ping, 7, () => {}))).toBe(hex(bytes));
  });

  test("frame-synack-page", () => {
    const { bytes } = vector("frame-synack-page");
    const page: Page = {
      ranges: [{ first: 0, last: 0xffffffff }],
      entries: [
        { node: "node-1", generation: 1, heartbeat: 300, maxVersion: 128, collectedUpTo: 0 },
        { node: "node-2", generation: 1_700_000_000_000, heartbeat: 0, maxVersion: 16384, collectedUpTo: 16383 },
      ],
    };
    const frame = singleFrame(bytes);
    expect([frame.version, frame.type, frame.flags, frame.correlationId]).toEqual([PROTOCOL_VERSION, MessageType.SynAck, 0, 42]);
    const reader = new BodyReader(frame.body);
    expect(readPage(reader, 256)).toEqual(page);
    reader.expectEnd("synack");
    expect(hex(encodeFrame(MessageType.SynAck, 42, (w) => writePage(w, page)))).toBe(hex(bytes));
  });

  test("frame-ack-deltas: a live entry, a tombstone and an entry with expiry", () => {
    const { bytes } = vector("frame-ack-deltas");
    const int64Of42 = new Uint8Array(8);
    int64Of42[7] = 42;
    const deltas: NodeDelta[] = [
      {
        node: "node-1",
        generation: 1,
        fromVersion: 0,
        collectedUpTo: 0,
        maxVersion: 3,
        entries: [
          { group: "app", key: "color", version: 1, valueType: 0, deleted: false, value: new TextEncoder().encode("red") },
          { group: "app", key: "size", version: 2, valueType: 0, deleted: true, value: new Uint8Array(0) },
          { group: "app", key: "lease", version: 3, valueType: 2, deleted: false, expiresAt: 1_700_000_060_000, value: int64Of42 },
        ],
      },
    ];
    const frame = singleFrame(bytes);
    expect([frame.version, frame.type, frame.flags, frame.correlationId]).toEqual([PROTOCOL_VERSION, MessageType.Ack, 0, 42]);
    const reader = new BodyReader(frame.body);
    expect(readPage(reader, 256)).toEqual({ ranges: [], entries: [] });
    const decoded = readDeltas(reader, limits);
    reader.expectEnd("ack");
    expect(decoded.skipped).toEqual([]);
    const plain = (ds: NodeDelta[]) => ds.map((d) => ({ ...d, entries: d.entries.map((e) => ({ ...e, value: [...e.value] })) }));
    expect(plain(decoded.deltas)).toEqual(plain(deltas));
    expect("expiresAt" in decoded.deltas[0]!.entries[0]!).toBe(false);
    expect(new DataView(decoded.deltas[0]!.entries[2]!.value.buffer, decoded.deltas[0]!.entries[2]!.value.byteOffset).getBigInt64(0)).toBe(42n);
    expect(
      hex(
        encodeFrame(MessageType.Ack, 42, (w) => {
          writePage(w, { ranges: [], entries: [] });
          writeDeltas(w, deltas);
        }),
      ),
    ).toBe(hex(bytes));
  });

  test("frame-push-written-at: writtenAt on a live entry, a tombstone, and after an expiry", () => {
    const { bytes } = vector("frame-push-written-at");
    const int64Of7 = new Uint8Array(8);
    int64Of7[7] = 7;
    const deltas: NodeDelta[] = [
      {
        node: "node-1",
        generation: 1,
        fromVersion: 3,
        collectedUpTo: 0,
        maxVersion: 6,
        entries: [
          { group: "app", key: "color", version: 4, valueType: 0, deleted: false, writtenAt: 1_700_000_000_123, value: new TextEncoder().encode("blue") },
          { group: "app", key: "size", version: 5, valueType: 0, deleted: true, writtenAt: 1_700_000_000_200, value: new Uint8Array(0) },
          { group: "app", key: "lease", version: 6, valueType: 2, deleted: false, expiresAt: 1_700_000_060_000, writtenAt: 1_700_000_000_250, value: int64Of7 },
        ],
      },
    ];
    const frame = singleFrame(bytes);
    expect([frame.version, frame.type, frame.flags, frame.correlationId]).toEqual([PROTOCOL_VERSION, MessageType.Push, 0, 0]);
    const reader = new BodyReader(frame.body);
    const decoded = readDeltas(reader, limits);
    reader.expectEnd("push");
    expect(decoded.skipped).toEqual([]);
    const plain = (ds: NodeDelta[]) => ds.map((d) => ({ ...d, entries: d.entries.map((e) => ({ ...e, value: [...e.value] })) }));
    expect(plain(decoded.deltas)).toEqual(plain(deltas));
    expect(hex(encodeFrame(MessageType.Push, 0, (w) => writeDeltas(w, deltas)))).toBe(hex(bytes));
  });

  test("frame-syn-summary", () => {
    const { bytes } = vector("frame-syn-summary");
    const buckets = new Uint32Array(SUMMARY_BUCKETS);
    buckets[0] = 0x01020304;
    buckets[63] = 0xdeadbeef;
    const frame = singleFrame(bytes);
    expect([frame.version, frame.type, frame.flags, frame.correlationId]).toEqual([PROTOCOL_VERSION, MessageType.Syn, 0, 9]);
    const reader = new BodyReader(frame.body);
    expect([...readSummary(reader)]).toEqual([...buckets]);
    reader.expectEnd("syn");
    expect(hex(encodeFrame(MessageType.Syn, 9, (w) => writeSummary(w, buckets)))).toBe(hex(bytes));
  });

  test("frame-flow: rates in thousandths of an update per second", () => {
    const { bytes } = vector("frame-flow");
    const info: FlowInfo = { allowedRate: 1.5, desiredRate: 2.25, ceilingRate: 3, roundsSinceOverflow: 4 };
    const frame = singleFrame(bytes);
    expect([frame.version, frame.type, frame.flags, frame.correlationId]).toEqual([PROTOCOL_VERSION, MessageType.Flow, 0, 42]);
    const reader = new BodyReader(frame.body);
    expect(readFlowInfo(reader)).toEqual(info);
    reader.expectEnd("flow");
    expect(hex(encodeFrame(MessageType.Flow, 42, (w) => writeFlowInfo(w, info)))).toBe(hex(bytes));
  });

  test("frame-query: a QUERY asking for acks", () => {
    const { bytes } = vector("frame-query");
    const query = { origin: "a", generation: 5, id: 1, name: "load", payload: new TextEncoder().encode("1m"), timeoutMs: 2000, requestAck: true, relayFactor: 0 };
    const frame = singleFrame(bytes);
    expect([frame.version, frame.type, frame.flags, frame.correlationId]).toEqual([PROTOCOL_VERSION, MessageType.Query, 0, 0]);
    expect(readQuery(frame.body, 64)).toEqual(query);
    const writer = new FrameWriter();
    writeQuery(writer, query);
    expect(hex(writer.finish())).toBe(hex(bytes));
  });

  test("frame-query-reply: a RESPONSE sent straight to the origin", () => {
    const { bytes } = vector("frame-query-reply");
    const reply = { origin: "a", generation: 5, id: 1, responder: "b", kind: QueryReplyKind.Response, relay: false, payload: new TextEncoder().encode("0.5") };
    const frame = singleFrame(bytes);
    expect([frame.version, frame.type, frame.flags, frame.correlationId]).toEqual([PROTOCOL_VERSION, MessageType.QueryReply, 0, 0]);
    expect(readQueryReply(frame.body, 64)).toEqual(reply);
    const writer = new FrameWriter();
    writeQueryReply(writer, reply);
    expect(hex(writer.finish())).toBe(hex(bytes));
  });

  test("frame-hello-introduce: the protocol version, then the dialer's introduction", () => {
    const { bytes } = vector("frame-hello-introduce");
    const introduction = {
      protocolVersion: PROTOCOL_VERSION,
      clusterName: "c",
      nodeName: "a",
      generation: 300,
      advertisedAddress: "h:1",
      authScheme: AuthScheme.HmacSha256,
      nonce: new Uint8Array(16).fill(1),
    };
    const frame = singleFrame(bytes);
    expect([frame.version, frame.type, frame.flags, frame.correlationId]).toEqual([PROTOCOL_VERSION, MessageType.Hello, 0, 0]);
    expect(decodeHello(frame.body)).toEqual({ step: "introduce", introduction });
    expect(hex(encodeHelloIntroduce(introduction))).toBe(hex(bytes));
  });

  test("frame-welcome-prove: the listener's HMAC over label, both nonces and both names, the remembered generation and the config summary", () => {
    const { bytes } = vector("frame-welcome-prove");
    const transcript = { dialerNonce: new Uint8Array(16).fill(1), listenerNonce: new Uint8Array(16).fill(2), dialerName: "a", listenerName: "b" };
    const proof = computeProof("s3cret", "welcome", transcript);
    const frame = singleFrame(bytes);
    expect([frame.version, frame.type, frame.flags, frame.correlationId]).toEqual([PROTOCOL_VERSION, MessageType.Welcome, 0, 0]);
    const extras = { remembered: { generation: 300, heartbeat: 5, maxVersion: 7 }, config: configSummary({ version: 2, origin: "b", settings: { fanout: 3 } }) };
    expect(decodeWelcome(frame.body)).toEqual({ step: "prove", proof, ...extras });
    expect(hex(encodeProve(MessageType.Welcome, proof, extras))).toBe(hex(bytes));
  });

  test("the frame vectors' length fields match their bodies, and all of them decode in one stream", () => {
    const frames = ["frame-ping-empty", "frame-synack-page", "frame-ack-deltas", "frame-syn-summary", "frame-flow", "frame-push-written-at"].map((n) => vector(n).bytes);
    for (const f of frames) expect(new DataView(f.buffer).getUint32(0)).toBe(f.length - 12);
    const stream = Buffer.concat(frames);
    const out: Frame[] = [];
    const decoder = new FrameDecoder();
    for (let i = 0; i < stream.length; i += 5) decoder.push(Uint8Array.prototype.slice.call(stream, i, i + 5), (f) => out.push(f));
    expect(out.map((f) => f.type)).toEqual([MessageType.Ping, MessageType.SynAck, MessageType.Ack, MessageType.Syn, MessageType.Flow, MessageType.Push]);
  });
});

describe("encryption (7.3)", () => {
  test("frame-keyring-request-use and frame-keyring-reply: a key named by its id, and the ids a member holds", async () => {
    const { KeyringOp, readKeyringReply, readKeyringRequest, writeKeyringReply, writeKeyringRequest } = await import("../src/codec/index.ts");
    const id = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const request = singleFrame(vector("frame-keyring-request-use").bytes);
    expect([request.type, request.correlationId]).toEqual([MessageType.KeyringRequest, 7]);
    expect(readKeyringRequest(request.body)).toEqual({ op: KeyringOp.Use, key: id });
    const reply = singleFrame(vector("frame-keyring-reply").bytes);
    expect([reply.type, reply.correlationId]).toEqual([MessageType.KeyringReply, 7]);
    expect(readKeyringReply(reply.body)).toEqual({ error: "", ids: [id] });
    const writer = new FrameWriter(64);
    writeKeyringRequest(writer, 7, { op: KeyringOp.Use, key: id });
    expect(hex(writer.finish())).toBe(hex(vector("frame-keyring-request-use").bytes));
    writeKeyringReply(writer, 7, { error: "", ids: [id] });
    expect(hex(writer.finish())).toBe(hex(vector("frame-keyring-reply").bytes));
  });

  test("frame-sealed-ping: the dialer's record 0 sealing a PING, from the documented key, nonces and names", async () => {
    const { Keyring } = await import("../src/transport/keyring.ts");
    const { SealedStream } = await import("../src/transport/sealed-frames.ts");
    const ring = Keyring.parse(Buffer.alloc(32, 3).toString("base64"));
    const transcript = { dialerNonce: new Uint8Array(16).fill(1), listenerNonce: new Uint8Array(16).fill(2), dialerName: "a", listenerName: "b" };
    const ping = encodeFrame(MessageType.Ping, 7, () => {});
    const { bytes } = vector("frame-sealed-ping");
    expect(hex(new SealedStream(ring.primary, transcript, "dialer", 1 << 20).seal(ping))).toBe(hex(bytes));
    const opened: Frame[] = [];
    new SealedStream(ring.primary, transcript, "listener", 1 << 20).open(singleFrame(bytes), (frame) => opened.push(frame));
    expect(opened.map((frame) => [frame.type, frame.correlationId, frame.body.length])).toEqual([[MessageType.Ping, 7, 0]]);
  });
});
