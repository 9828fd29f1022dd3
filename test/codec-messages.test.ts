// Digest and deltas bodies: property round trips; bytes equal to a reference encoder written
// from the layout in docs/PROTOCOL.md; written size equal to the computed size; damaged entries
// skipped and reported while the rest decodes; damaged node headers fatal.

import { describe, expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import fc from "fast-check";
import { refString, refVaruint } from "./support/reference-encoding.ts";
import {
  BodyReader,
  DecodeError,
  type DeltaReadLimits,
  type DigestEntry,
  EncodeError,
  FrameDecoder,
  FrameWriter,
  HEADER_BYTES,
  MessageType,
  type NodeDelta,
  type WireEntry,
  deltasSize,
  digestSize,
  entrySize,
  readDeltas,
  nodeNameProblem,
  readDigest,
  writeDeltas,
  writeDigest,
} from "../src/codec/index.ts";

/** Property tests run thousands of cases; give them room on a loaded CI machine. */
const SLOW = 30_000;

// ---- reference encoder, from the protocol text ---------------------------------------------

function refDigest(entries: DigestEntry[]): number[] {
  const names = entries.map((e) => [...new TextEncoder().encode(e.node)]);
  const run = names.flat();
  return [
    ...refVaruint(entries.length),
    ...refVaruint(run.length),
    ...run,
    ...entries.flatMap((e, i) => [...refVaruint(names[i]!.length), ...refVaruint(e.generation), ...refVaruint(e.heartbeat), ...refVaruint(e.maxVersion), ...refVaruint(e.collectedUpTo)]),
  ];
}
function refEntryBody(e: WireEntry): number[] {
  const kind = e.valueType | (e.writtenAt !== undefined ? 0x20 : 0) | (e.expiresAt !== undefined ? 0x40 : 0) | (e.deleted ? 0x80 : 0);
  return [
    ...refString(e.group),
    ...refString(e.key),
    ...refVaruint(e.version),
    kind,
    ...(e.expiresAt !== undefined ? refVaruint(e.expiresAt) : []),
    ...(e.writtenAt !== undefined ? refVaruint(e.writtenAt) : []),
    ...refVaruint(e.value.length),
    ...e.value,
  ];
}
function refEntry(e: WireEntry): number[] {
  const body = refEntryBody(e);
  return [...refVaruint(body.length), ...body];
}
function refDeltas(deltas: NodeDelta[]): number[] {
  return [
    ...refVaruint(deltas.length),
    ...deltas.flatMap((d) => [
      ...refString(d.node),
      ...refVaruint(d.generation),
      ...refVaruint(d.fromVersion),
      ...refVaruint(d.collectedUpTo),
      ...refVaruint(d.maxVersion),
      ...refVaruint(d.entries.length),
      ...d.entries.flatMap(refEntry),
    ]),
  ];
}

// ---- arbitraries ------------------------------------------------------------------------------

const safe = fc.oneof(fc.maxSafeNat(), fc.integer({ min: 0, max: 300 }), fc.constantFrom(0, 127, 128, 16383, 16384, 2 ** 32, Number.MAX_SAFE_INTEGER));
const name = fc.oneof(fc.string({ unit: "binary", maxLength: 30 }), fc.constantFrom("", "node-1", "ноды-é", "😀node"));
const digestEntry: fc.Arbitrary<DigestEntry> = fc.record({ node: name, generation: safe, heartbeat: safe, maxVersion: safe, collectedUpTo: safe });
/** Names a node delta may carry (the decoder skips deltas of any other: see "node names" below). */
const nodeName = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/);
const KNOWN_TYPES = 6; // value types 0..5 are known to the limits below
const wireEntry: fc.Arbitrary<WireEntry> = fc
  .record({
    group: name,
    key: fc.oneof(fc.string({ unit: "binary", maxLength: 40 }), fc.string({ minLength: 100, maxLength: 200 })),
    version: safe,
    valueType: fc.integer({ min: 0, max: KNOWN_TYPES - 1 }),
    deleted: fc.boolean(),
    expiresAt: fc.option(safe, { nil: undefined }),
    writtenAt: fc.option(safe, { nil: undefined }),
    value: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 120, maxLength: 400 })),
  })
  .map((e) => {
    const entry: WireEntry = { group: e.group, key: e.key, version: e.version, valueType: e.valueType, deleted: e.deleted, value: e.value };
    if (e.expiresAt !== undefined) entry.expiresAt = e.expiresAt;
    if (e.writtenAt !== undefined) entry.writtenAt = e.writtenAt;
    return entry;
  });
const nodeDelta: fc.Arbitrary<NodeDelta> = fc.record({
  node: nodeName,
  generation: safe,
  fromVersion: safe,
  collectedUpTo: safe,
  maxVersion: safe,
  entries: fc.array(wireEntry, { maxLength: 6 }),
});

const limits: DeltaReadLimits = { maxNameBytes: 4096, maxKeyBytes: 4096, maxValueBytes: 1 << 20, isKnownValueType: (t) => t < KNOWN_TYPES };

// ---- helpers --------------------------------------------------------------------------------

function frameBody(type: number, write: (w: FrameWriter) => void): Uint8Array {
  const writer = new FrameWriter(64);
  writer.begin(type, 1);
  write(writer);
  writer.end();
  const bytes = writer.finish();
  let body: Uint8Array | undefined;
  new FrameDecoder().push(bytes, (f) => (body = f.body));
  return body!;
}
/** Plain data for comparison (Uint8Array → number[]). */
function plain(deltas: NodeDelta[]): unknown {
  return deltas.map((d) => ({ ...d, entries: d.entries.map((e) => ({ ...e, value: [...e.value] })) }));
}
function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

// ---- digests --------------------------------------------------------------------------------

describe("digest", () => {
  test("round trips, matches the reference bytes, and its size is digestSize()", () => {
    fc.assert(
      fc.property(fc.array(digestEntry, { maxLength: 20 }), (entries) => {
        const body = frameBody(MessageType.Syn, (w) => writeDigest(w, entries));
        expect([...body]).toEqual(refDigest(entries));
        expect(body.length).toBe(digestSize(entries));
        const reader = new BodyReader(body);
        expect(readDigest(reader, 4096)).toEqual(entries);
        reader.expectEnd("syn");
      }),
      { numRuns: 400 },
    );
  }, SLOW);

  test("names spanning several decode chunks, ASCII or not, round trip and match the reference bytes", () => {
    // The names run is decoded a chunk (about 1 KB) at a time: runs of several KB, with non-ASCII
    // names among ASCII ones, put chunk boundaries inside names and inside multi-byte characters.
    const mixedName = fc.string({ unit: fc.constantFrom("a", "b", "-", ".", "7", "é", "ж", "€", "😀"), maxLength: 40 });
    const asciiName = fc.string({ unit: fc.constantFrom("n", "o", "d", "e", "-", ".", "4", "2"), maxLength: 60 });
    const entry = (node: fc.Arbitrary<string>) => fc.record({ node, generation: safe, heartbeat: safe, maxVersion: safe, collectedUpTo: safe });
    fc.assert(
      fc.property(fc.array(fc.oneof(entry(asciiName), entry(asciiName), entry(mixedName)), { minLength: 20, maxLength: 150 }), (entries) => {
        const body = frameBody(MessageType.Syn, (w) => writeDigest(w, entries));
        expect([...body]).toEqual(refDigest(entries));
        const reader = new BodyReader(body);
        expect(readDigest(reader, 4096)).toEqual(entries);
        reader.expectEnd("syn");
      }),
      { numRuns: 150 },
    );
    // A two-byte character across each of the first byte offsets a chunk could end on.
    for (let shift = 0; shift < 40; shift++) {
      const entries: DigestEntry[] = Array.from({ length: 80 }, (_, i) => ({ node: `node-${i}`.padEnd(i === 0 ? 20 + shift : 31, "x"), generation: i, heartbeat: 1, maxVersion: 2, collectedUpTo: 0 }));
      for (const i of [32, 33, 34, 65]) entries[i]!.node = `${"y".repeat(12)}é${"z".repeat(17)}`;
      const body = frameBody(MessageType.Syn, (w) => writeDigest(w, entries));
      expect(readDigest(new BodyReader(body), 64)).toEqual(entries);
    }
  }, SLOW);

  test("a name kept from a decoded digest does not keep the digest's whole names run in memory", () => {
    // Names are cut from decoded chunks of the run; a kept name (a node's name in the cluster
    // state) must hold on to one chunk at most, never to a whole message of names.
    const entries: DigestEntry[] = Array.from({ length: 1000 }, (_, i) => ({ node: `${i}-`.padEnd(200, "n"), generation: 1, heartbeat: 1, maxVersion: 1, collectedUpTo: 0 }));
    const body = frameBody(MessageType.Syn, (w) => writeDigest(w, entries));
    const kept: string[] = [];
    Bun.gc(true);
    const before = heapStats().extraMemorySize;
    for (let i = 0; i < 40; i++) kept.push(readDigest(new BodyReader(body), 256)[i * 20]!.node);
    Bun.gc(true);
    const held = heapStats().extraMemorySize - before;
    expect(kept.map((name) => name.length)).toEqual(Array(40).fill(200));
    // 40 whole runs would be 40 × 200 KB = 8 MB; 40 chunks are 40 × 1 KB.
    expect(held).toBeLessThan(2_000_000);
  });

  test("the smallest entries (5 bytes each) are not refused by the count check", () => {
    for (const n of [1, 2, 50]) {
      const entries: DigestEntry[] = Array.from({ length: n }, () => ({ node: "", generation: 0, heartbeat: 0, maxVersion: 0, collectedUpTo: 0 }));
      const body = frameBody(MessageType.Syn, (w) => writeDigest(w, entries));
      expect(body.length).toBe(2 + 5 * n);
      expect(readDigest(new BodyReader(body), 10)).toEqual(entries);
    }
    // Smallest node deltas (6 bytes, an empty name): read through, then skipped for the name.
    const deltas: NodeDelta[] = Array.from({ length: 3 }, () => ({ node: "", generation: 0, fromVersion: 0, collectedUpTo: 0, maxVersion: 0, entries: [] }));
    const body = frameBody(MessageType.Ack, (w) => writeDeltas(w, deltas));
    expect(body.length).toBe(1 + 6 * 3);
    const decoded = readDeltas(new BodyReader(body), limits);
    expect(decoded.deltas).toEqual([]);
    expect(decoded.skipped.map((error) => [error.field, error.offset])).toEqual([["delta.node", 1], ["delta.node", 7], ["delta.node", 13]]);
  });

  test("an empty digest is two bytes: no entries, no names", () => {
    const body = frameBody(MessageType.Syn, (w) => writeDigest(w, []));
    expect([...body]).toEqual([0, 0]);
    expect(digestSize([])).toBe(2);
    const reader = new BodyReader(body);
    expect(readDigest(reader, 64)).toEqual([]);
    reader.expectEnd("syn");
  });

  test("an entry that cannot be encoded (lone surrogate, even one the next name would pair) is left out and reported; the rest is written", () => {
    const entry = (node: string, generation = 1): DigestEntry => ({ node, generation, heartbeat: 1, maxVersion: 1, collectedUpTo: 0 });
    const cases = [
      { entries: [entry("a\ud83d"), entry("ok")], bad: ['"a\\ud83d"'] },
      { entries: [entry("first"), entry("a\ud83d"), entry("\ude00b"), entry("last")], bad: ['"a\\ud83d"', '"\\ude00b"'] },
      { entries: [entry("\ude00")], bad: ['"\\ude00"'] },
      { entries: [entry("ok"), entry("too-big", 2 ** 53)], bad: ['"too-big"'] },
    ];
    for (const { entries, bad } of cases) {
      let leftOut: readonly EncodeError[] = [];
      const body = frameBody(MessageType.Syn, (w) => (leftOut = writeDigest(w, entries)));
      expect(leftOut.map((error) => [error instanceof EncodeError, error.field])).toEqual(bad.map((name) => [true, `digest entry of node ${name}`]));
      const written = entries.filter((e) => e.node.isWellFormed() && Number.isSafeInteger(e.generation));
      expect([...body]).toEqual(refDigest(written));
      expect(readDigest(new BodyReader(body), 64)).toEqual(written);
    }
  });

  test("a digest that encodes reports nothing left out", () => {
    let leftOut: readonly EncodeError[] | undefined;
    frameBody(MessageType.Syn, (w) => (leftOut = writeDigest(w, [{ node: "n", generation: 1, heartbeat: 1, maxVersion: 1, collectedUpTo: 0 }])));
    expect(leftOut).toEqual([]);
  });

  test("a count too large for the body, or a name over the limit, is a DecodeError", () => {
    const entries: DigestEntry[] = [{ node: "abc", generation: 1, heartbeat: 2, maxVersion: 3, collectedUpTo: 4 }];
    const body = [...refDigest(entries)];
    body[0] = 2; // claims two entries, holds one (9 bytes < 2 × 5)
    const e1 = caught(() => readDigest(new BodyReader(Uint8Array.from(body)), 100)) as DecodeError;
    expect(e1).toBeInstanceOf(DecodeError);
    expect([e1.field, e1.offset]).toEqual(["digest.count", 0]);
    // count, names length, "abc", then the entry: its name length is at offset 5.
    const e2 = caught(() => readDigest(new BodyReader(Uint8Array.from(refDigest(entries))), 2)) as DecodeError;
    expect([e2.field, e2.offset, e2.reason]).toEqual(["digest.nameLength", 5, "length 3 exceeds the limit of 2"]);
    const truncated = Uint8Array.from(refDigest(entries).slice(0, -1));
    const e3 = caught(() => readDigest(new BodyReader(truncated), 100)) as DecodeError;
    expect(e3).toBeInstanceOf(DecodeError);
  });

  test("names and their lengths that disagree are a DecodeError naming the field and offset", () => {
    const decode = (bytes: number[]) => caught(() => readDigest(new BodyReader(Uint8Array.from(bytes)), 64)) as DecodeError;
    const numbers = [1, 1, 1, 0];
    const cases: { name: string; bytes: number[]; field: string; offset: number }[] = [
      // Names run of 50 bytes in a 12-byte body.
      { name: "names run past the body", bytes: [1, 50, 0x61, 0x62, 1, ...numbers], field: "digest.names", offset: 1 },
      // "abc", then lengths 2 and 2: the second name has only 1 byte left.
      { name: "a name past the names run", bytes: [2, 3, 0x61, 0x62, 0x63, 2, ...numbers, 2, ...numbers], field: "digest.nameLength", offset: 10 },
      // "abcd" and one name of 3 bytes: "d" belongs to no entry.
      { name: "names left over", bytes: [1, 4, 0x61, 0x62, 0x63, 0x64, 3, ...numbers], field: "digest.names", offset: 5 },
      // "a", then 0xff "b": the second name is not UTF-8.
      { name: "invalid UTF-8 in one name", bytes: [2, 3, 0x61, 0xff, 0x62, 1, ...numbers, 2, ...numbers], field: "digest.node", offset: 3 },
      // "é" split between two names of one byte each: valid as a run, not as names.
      { name: "a character split between two names", bytes: [2, 2, 0xc3, 0xa9, 1, ...numbers, 1, ...numbers], field: "digest.node", offset: 2 },
    ];
    for (const c of cases) {
      const error = decode(c.bytes);
      expect(error, c.name).toBeInstanceOf(DecodeError);
      expect([error.field, error.offset], c.name).toEqual([c.field, c.offset]);
    }
  });
});

// ---- deltas ---------------------------------------------------------------------------------

describe("deltas", () => {
  test("round trip, match the reference bytes, and their size is deltasSize()", () => {
    fc.assert(
      fc.property(fc.array(nodeDelta, { maxLength: 5 }), (deltas) => {
        const body = frameBody(MessageType.Ack, (w) => writeDeltas(w, deltas));
        expect([...body]).toEqual(refDeltas(deltas));
        expect(body.length).toBe(deltasSize(deltas));
        const reader = new BodyReader(body);
        const decoded = readDeltas(reader, limits);
        reader.expectEnd("ack");
        expect(decoded.skipped).toEqual([]);
        expect(plain(decoded.deltas)).toEqual(plain(deltas));
        // entrySize() per entry agrees with the reference too
        for (const d of deltas) for (const e of d.entries) expect(entrySize(e)).toBe(refEntry(e).length);
      }),
      { numRuns: 300 },
    );
  }, SLOW);

  test("entries whose size crosses a length-prefix boundary (127/128, 16383/16384) encode exactly", () => {
    // Non-ASCII keys make the UTF-8 size larger than the writer's first estimate, so some of
    // these need their prefix widened after writing; ASCII ones sit exactly on the boundary.
    const keys = ["k", "é".repeat(10), "😀".repeat(8), "€".repeat(30)];
    for (const key of keys) {
      for (const base of [128, 16384]) {
        // Around 128 every size; around 16384 (large values, slower to check) every third one.
        for (let size = base - 40; size <= base + 10; size += base === 128 ? 1 : 3) {
          for (const [expiresAt, writtenAt] of [[undefined, undefined], [1_700_000_000_000, undefined], [undefined, 1_700_000_000_000], [1_700_000_060_000, 1_700_000_000_000]]) {
            const entry: WireEntry = { group: "g", key, version: 5, valueType: 1, deleted: false, value: new Uint8Array(size) };
            if (expiresAt !== undefined) entry.expiresAt = expiresAt;
            if (writtenAt !== undefined) entry.writtenAt = writtenAt;
            const deltas: NodeDelta[] = [{ node: "n", generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: 5, entries: [entry, entry] }];
            const body = frameBody(MessageType.Ack, (w) => writeDeltas(w, deltas));
            expect(Buffer.from(body).equals(Buffer.from(refDeltas(deltas)))).toBe(true);
            expect(body.length).toBe(deltasSize(deltas));
          }
        }
      }
    }
  }, SLOW);

  test("decoded values are views into the frame body", () => {
    const deltas: NodeDelta[] = [
      { node: "n", generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: 2, entries: [
        { group: "g", key: "a", version: 1, valueType: 1, deleted: false, value: Uint8Array.of(1, 2, 3) },
        { group: "g", key: "b", version: 2, valueType: 1, deleted: true, value: new Uint8Array(0) },
      ] },
    ];
    const body = frameBody(MessageType.Ack, (w) => writeDeltas(w, deltas));
    const decoded = readDeltas(new BodyReader(body), limits);
    for (const e of decoded.deltas[0]!.entries) expect(e.value.buffer).toBe(body.buffer);
  });

  test("SYN-ACK: a digest then deltas in one body, read with one reader", () => {
    fc.assert(
      fc.property(fc.array(digestEntry, { maxLength: 5 }), fc.array(nodeDelta, { maxLength: 3 }), (digest, deltas) => {
        const body = frameBody(MessageType.SynAck, (w) => {
          writeDigest(w, digest);
          writeDeltas(w, deltas);
        });
        expect([...body]).toEqual([...refDigest(digest), ...refDeltas(deltas)]);
        expect(body.length).toBe(digestSize(digest) + deltasSize(deltas));
        const reader = new BodyReader(body);
        expect(readDigest(reader, 4096)).toEqual(digest);
        expect(plain(readDeltas(reader, limits).deltas)).toEqual(plain(deltas));
        reader.expectEnd("synack");
      }),
      { numRuns: 150 },
    );
  }, SLOW);

  test("the same entry with and without writtenAt: each round trips, matches the reference bytes, and differs only by the flag and the varuint", () => {
    const header = { node: "n", generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: 1 };
    /** Writes one entry, checks its bytes and size, and reads it back. */
    const roundTrip = (entry: WireEntry): WireEntry => {
      const deltas: NodeDelta[] = [{ ...header, entries: [entry] }];
      const body = frameBody(MessageType.Push, (w) => writeDeltas(w, deltas));
      expect([...body]).toEqual(refDeltas(deltas));
      expect(body.length).toBe(deltasSize(deltas));
      const reader = new BodyReader(body);
      const decoded = readDeltas(reader, limits);
      reader.expectEnd("push");
      expect(decoded.skipped).toEqual([]);
      return decoded.deltas[0]!.entries[0]!;
    };
    const plainOne = (e: WireEntry) => ({ ...e, value: [...e.value] });
    fc.assert(
      fc.property(wireEntry, safe, (generated, writtenAt) => {
        const { writtenAt: _dropped, ...without } = generated;
        const stamped: WireEntry = { ...without, writtenAt };
        const back = roundTrip(stamped);
        expect(plainOne(back)).toEqual(plainOne(stamped));
        expect(back.writtenAt).toBe(writtenAt);
        const bare = roundTrip(without);
        expect(plainOne(bare)).toEqual(plainOne(without));
        expect("writtenAt" in bare).toBe(false);
        // The reference layout: same bytes but the kind's bit 5 and the varuint after the expiry.
        const stampedBody = refEntryBody(stamped);
        const bareBody = refEntryBody(without);
        const kindAt = refString(without.group).length + refString(without.key).length + refVaruint(without.version).length;
        expect(stampedBody[kindAt]).toBe(bareBody[kindAt]! | 0x20);
        const timeAt = kindAt + 1 + (without.expiresAt === undefined ? 0 : refVaruint(without.expiresAt).length);
        const removed = [...stampedBody.slice(0, timeAt), ...stampedBody.slice(timeAt + refVaruint(writtenAt).length)];
        removed[kindAt] = bareBody[kindAt]!;
        expect(removed).toEqual(bareBody);
      }),
      { numRuns: 300 },
    );
  }, SLOW);

  test("an entry that cannot be encoded is left out and reported, the rest of the message is written; a delta left with none is left out whole", () => {
    const good = (key: string, version: number): WireEntry => ({ group: "g", key, version, valueType: 0, deleted: false, value: Uint8Array.of(0x61) });
    const badType: WireEntry = { ...good("type", 2), valueType: 16 };
    const badKey: WireEntry = good("k\ud800", 3);
    const badExpiry: WireEntry = { ...good("ttl", 4), expiresAt: 1e300 };
    const header = { generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: 9 };
    const deltas: NodeDelta[] = [
      { node: "mixed", ...header, entries: [good("a", 1), badType, badKey, badExpiry, good("b", 5)] },
      { node: "all-bad", ...header, entries: [badKey] },
      { node: "empty", ...header, entries: [] },
      { node: "bad\udc00", ...header, entries: [good("c", 6)] },
      { node: "fine", ...header, entries: [good("d", 7)] },
    ];
    let leftOut: readonly EncodeError[] = [];
    const body = frameBody(MessageType.Ack, (w) => (leftOut = writeDeltas(w, deltas)));
    expect(leftOut.map((error) => [error instanceof EncodeError, error.field])).toEqual([
      [true, 'entry "g"/"type" of node "mixed"'],
      [true, 'entry "g"/"k\\ud800" of node "mixed"'],
      [true, 'entry "g"/"ttl" of node "mixed"'],
      [true, 'entry "g"/"k\\ud800" of node "all-bad"'],
      [true, 'delta of node "bad\\udc00"'],
    ]);
    expect(leftOut[0]!.reason).toContain("16 is not an integer in 0..15");
    expect(leftOut[1]!.reason).toContain("lone UTF-16 surrogate");
    expect(leftOut[2]!.reason).toContain("1e+300 is not an integer in 0..2^53-1");
    expect(leftOut[4]!.reason).toContain("(1 entries left out)");
    const written: NodeDelta[] = [
      { node: "mixed", ...header, entries: [good("a", 1), good("b", 5)] },
      { node: "empty", ...header, entries: [] },
      { node: "fine", ...header, entries: [good("d", 7)] },
    ];
    expect([...body]).toEqual(refDeltas(written));
    expect(plain(readDeltas(new BodyReader(body), limits).deltas)).toEqual(plain(written));
  });

  test("deltas that encode report nothing left out", () => {
    let leftOut: readonly EncodeError[] | undefined;
    frameBody(MessageType.Ack, (w) => (leftOut = writeDeltas(w, [{ node: "n", generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: 0, entries: [] }])));
    expect(leftOut).toEqual([]);
  });
});

// ---- damaged entries are skipped --------------------------------------------------------------

describe("damaged entries inside an intact length prefix", () => {
  const good1: WireEntry = { group: "app", key: "first", version: 10, valueType: 0, deleted: false, value: Uint8Array.of(0x61) };
  const good2: WireEntry = { group: "app", key: "third", version: 12, valueType: 2, deleted: false, expiresAt: 99, value: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) };
  const header = { node: "node-a", generation: 5, fromVersion: 9, collectedUpTo: 0, maxVersion: 12 };

  /**
   * Body bytes for [good1, middle, good2] where middle is given as raw entry-body bytes, plus
   * the offset at which the middle entry's body starts, computed from the reference layout.
   */
  function bodyWithMiddle(middleBody: number[]): { body: Uint8Array; middleAt: number } {
    const head = [
      ...refVaruint(1),
      ...refString(header.node),
      ...refVaruint(header.generation),
      ...refVaruint(header.fromVersion),
      ...refVaruint(header.collectedUpTo),
      ...refVaruint(header.maxVersion),
      ...refVaruint(3),
      ...refEntry(good1),
    ];
    const prefix = refVaruint(middleBody.length);
    const bytes = [...head, ...prefix, ...middleBody, ...refEntry(good2)];
    return { body: Uint8Array.from(bytes), middleAt: head.length + prefix.length };
  }
  function expectSkip(middleBody: number[], field: string, offsetInEntry: number): void {
    const { body, middleAt } = bodyWithMiddle(middleBody);
    // Read at a base offset too, as when the deltas follow a digest in a SYN-ACK.
    for (const base of [0, 1000]) {
      const reader = new BodyReader(body, base);
      const { deltas, skipped } = readDeltas(reader, limits);
      reader.expectEnd("ack");
      expect(deltas.length).toBe(1);
      expect({ ...deltas[0]!, entries: [] }).toEqual({ ...header, entries: [] });
      expect(plain(deltas)).toEqual(plain([{ ...header, entries: [good1, good2] }]));
      expect(skipped.length).toBe(1);
      expect(skipped[0]).toBeInstanceOf(DecodeError);
      expect({ field: skipped[0]!.field, offset: skipped[0]!.offset }).toEqual({ field, offset: base + middleAt + offsetInEntry });
    }
  }
  const groupKeyVersion = [...refString("app"), ...refString("key"), ...refVaruint(11)]; // 4 + 4 + 1 bytes

  test("unknown value type: skipped, reported at the kind byte", () => {
    expectSkip([...groupKeyVersion, 0x09, ...refVaruint(1), 0x41], "entry.kind", 9);
  });

  test("a value type this build knows nothing of, with expiry and tombstone bits set", () => {
    expectSkip([...groupKeyVersion, 0x80 | 0x40 | 0x0f, ...refVaruint(5), 0x00], "entry.kind", 9);
  });

  test("reserved kind bit 4 set: skipped, reported at the kind byte, with or without the other flags", () => {
    expectSkip([...groupKeyVersion, 0x10, 0x00], "entry.kind", 9);
    expectSkip([...groupKeyVersion, 0x10 | 0x01, 0x00], "entry.kind", 9);
    // Bit 5 (writtenAt) with bit 4: still skipped at the kind byte, before the writtenAt is read.
    expectSkip([...groupKeyVersion, 0x10 | 0x20, ...refVaruint(1_700_000_000_000), 0x00], "entry.kind", 9);
    expectSkip([...groupKeyVersion, 0x80 | 0x40 | 0x20 | 0x10, ...refVaruint(5), ...refVaruint(6), 0x00], "entry.kind", 9);
  });

  test("a damaged writtenAt (non-minimal, or missing): skipped, reported at the writtenAt", () => {
    expectSkip([...groupKeyVersion, 0x20, 0x80, 0x00, 0x00], "entry.writtenAt", 10);
    expectSkip([...groupKeyVersion, 0x20], "entry.writtenAt", 10);
    // After an expiry: the writtenAt follows it.
    expectSkip([...groupKeyVersion, 0x40 | 0x20, ...refVaruint(300), 0xff, 0x00], "entry.writtenAt", 12);
  });

  test("invalid UTF-8 in the key: skipped, reported at the key", () => {
    expectSkip([...refString("app"), 0x03, 0x61, 0xff, 0x62, ...refVaruint(11), 0x00, 0x00], "entry.key", 4);
  });

  test("invalid UTF-8 in the group: skipped, reported at the group", () => {
    expectSkip([0x02, 0xc0, 0x80, ...refString("key"), ...refVaruint(11), 0x00, 0x00], "entry.group", 0);
  });

  test("a non-minimal version varint: skipped", () => {
    expectSkip([...refString("app"), ...refString("key"), 0x8b, 0x00, 0x00, 0x00], "entry.version", 8);
  });

  test("a value longer than the entry: skipped", () => {
    expectSkip([...groupKeyVersion, 0x00, 0x05, 0x01, 0x02], "entry.value", 10);
  });

  test("trailing bytes after the value: skipped", () => {
    expectSkip([...groupKeyVersion, 0x00, 0x01, 0x41, 0xee, 0xee], "entry", 12);
  });

  test("an empty entry: skipped", () => {
    expectSkip([], "entry.group", 0);
  });

  test("a value over maxValueBytes: skipped", () => {
    const { body } = bodyWithMiddle([...groupKeyVersion, 0x01, 0x03, 0x01, 0x02, 0x03]);
    const { deltas, skipped } = readDeltas(new BodyReader(body), { ...limits, maxValueBytes: 2 });
    // good2's 8-byte value is over the limit too; good1's 1-byte value is not.
    expect(deltas[0]!.entries.map((e) => e.key)).toEqual(["first"]);
    expect(skipped.map((e) => e.field)).toEqual(["entry.value", "entry.value"]);
  });

  test("skipping the same damage in many entries keeps every good one (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 30 }), (pattern) => {
        const bytes: number[] = [...refVaruint(1), ...refString("n"), 1, 0, 0, 0, ...refVaruint(pattern.length)];
        const expectedKeys: string[] = [];
        pattern.forEach((good, i) => {
          if (good) {
            const e: WireEntry = { group: "g", key: `k${i}`, version: i, valueType: 1, deleted: false, value: Uint8Array.of(i) };
            bytes.push(...refEntry(e));
            expectedKeys.push(e.key);
          } else {
            const damaged = [...refString("g"), 0x01, 0xfe, i, 0x0c, 0x00]; // key is the lone byte 0xfe
            bytes.push(...refVaruint(damaged.length), ...damaged);
          }
        });
        const { deltas, skipped } = readDeltas(new BodyReader(Uint8Array.from(bytes)), limits);
        expect(deltas[0]!.entries.map((e) => e.key)).toEqual(expectedKeys);
        expect(skipped.length).toBe(pattern.filter((g) => !g).length);
        expect(skipped.every((e) => e.field === "entry.key")).toBe(true);
      }),
      { numRuns: 200 },
    );
  }, SLOW);
});

// ---- damaged node headers are fatal -----------------------------------------------------------

describe("damaged node headers", () => {
  const delta: NodeDelta = { node: "node-a", generation: 5, fromVersion: 0, collectedUpTo: 0, maxVersion: 1, entries: [
    { group: "g", key: "k", version: 1, valueType: 0, deleted: false, value: Uint8Array.of(0x61) },
  ] };
  const good = refDeltas([delta]);
  function fails(bytes: number[], field: string, offset: number): void {
    const error = caught(() => readDeltas(new BodyReader(Uint8Array.from(bytes)), limits)) as DecodeError;
    expect(error).toBeInstanceOf(DecodeError);
    expect({ field: error.field, offset: error.offset }).toEqual({ field, offset });
  }

  test("a node count that cannot fit", () => {
    fails([0x05, ...good.slice(1)], "deltas.count", 0);
  });

  test("an entry count that cannot fit", () => {
    const at = 1 + 7 + 4; // count, "node-a", generation/from/collected/max
    const bytes = [...good];
    expect(bytes[at]).toBe(1);
    bytes[at] = 100;
    fails(bytes, "delta.entryCount", at);
  });

  test("an entry length running past the body is fatal, not skipped", () => {
    const at = 1 + 7 + 4 + 1;
    const bytes = [...good];
    bytes[at] = 0x7f;
    fails(bytes, "entry.length", at);
  });

  test("a truncated node header", () => {
    // count (0), "node-a" (1..7), generation (8), fromVersion would be at 9
    fails(good.slice(0, 9), "delta.fromVersion", 9);
  });

});

// ---- node names ---------------------------------------------------------------------------------

describe("node names in deltas", () => {
  const entry: WireEntry = { group: "g", key: "k", version: 1, valueType: 0, deleted: false, value: Uint8Array.of(0x61) };
  const delta = (node: string): NodeDelta => ({ node, generation: 5, fromVersion: 0, collectedUpTo: 0, maxVersion: 2, entries: [entry, { ...entry, key: "k2", version: 2 }] });

  test("a delta the receiver skips whole (skipsWhole) is passed over unread and counted; the deltas around it are read", () => {
    const body = Uint8Array.from(refDeltas([delta("before"), { ...delta("flooded"), fromVersion: 7 }, delta("after")]));
    const asked: string[] = [];
    const decoded = readDeltas(new BodyReader(body), {
      ...limits,
      skipsWhole: (node, generation, fromVersion) => {
        asked.push(`${node}@${generation}+${fromVersion}`);
        return node === "flooded";
      },
    });
    expect(asked).toEqual(["before@5+0", "flooded@5+7", "after@5+0"]);
    expect(decoded.deltas.map((d) => [d.node, d.entries.length])).toEqual([["before", 2], ["after", 2]]);
    expect({ unread: decoded.unread, skipped: decoded.skipped }).toEqual({ unread: 2, skipped: [] });
  });

  test("a delta of a name that breaks the node-name rule is skipped with its entries and a reason; the deltas around it are read", () => {
    const bad = ["", "a\nb", "\u202eevil", "has space", "é", "x".repeat(65), "tab\t"];
    for (const name of bad) {
      const body = Uint8Array.from(refDeltas([delta("before"), delta(name), delta("after")]));
      const decoded = readDeltas(new BodyReader(body), limits);
      expect(decoded.deltas.map((d) => [d.node, d.entries.length])).toEqual([["before", 2], ["after", 2]]);
      expect(decoded.skipped).toHaveLength(1);
      const error = decoded.skipped[0]!;
      expect([error.field, error.offset]).toEqual(["delta.node", refDeltas([delta("before")]).length]);
      expect(error.reason).toBe(`${nodeNameProblem(name)}; its 2 entries are skipped`);
      expect(error.reason).not.toMatch(/[^\x20-\x7e]/); // printable in a log line
    }
  });

  test("a name of invalid UTF-8, or over maxNameBytes, is skipped the same way", () => {
    const good = refDeltas([delta("node-a"), delta("after")]);
    const broken = [...good];
    broken[2] = 0xff; // first byte of "node-a" (count at 0, length at 1)
    const invalid = readDeltas(new BodyReader(Uint8Array.from(broken)), limits);
    expect(invalid.deltas.map((d) => d.node)).toEqual(["after"]);
    expect(invalid.skipped.map((error) => [error.field, error.offset, error.reason])).toEqual([["delta.node", 1, `${nodeNameProblem("\ufffdode-a")}; its 2 entries are skipped`]]);
    const long = readDeltas(new BodyReader(Uint8Array.from(good)), { ...limits, maxNameBytes: 5 });
    expect(long.deltas.map((d) => d.node)).toEqual(["after"]);
    expect(long.skipped.map((error) => [error.field, error.offset, error.reason])).toEqual([["delta.node", 1, "node name of 6 bytes exceeds the limit of 5; its 2 entries are skipped"]]);
  });

  test("every valid name is read back as written", () => {
    fc.assert(
      fc.property(fc.array(nodeName, { maxLength: 5 }), (names) => {
        const decoded = readDeltas(new BodyReader(Uint8Array.from(refDeltas(names.map(delta)))), limits);
        expect(decoded.skipped).toEqual([]);
        expect(decoded.deltas.map((d) => d.node)).toEqual(names);
      }),
      { numRuns: 200 },
    );
  });
});

test("frame bodies from FrameDecoder decode as messages when split across chunks (copy path)", () => {
  const deltas: NodeDelta[] = [{ node: "x", generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: 1, entries: [
    { group: "g", key: "k", version: 1, valueType: 1, deleted: false, value: Uint8Array.of(9, 8, 7) },
  ] }];
  const writer = new FrameWriter();
  writer.begin(MessageType.Ack);
  writeDeltas(writer, deltas);
  writer.end();
  const bytes = writer.finish();
  const decoder = new FrameDecoder();
  let body: Uint8Array | undefined;
  decoder.push(bytes.slice(0, HEADER_BYTES + 3), () => {});
  decoder.push(bytes.slice(HEADER_BYTES + 3), (f) => (body = f.body));
  expect(plain(readDeltas(new BodyReader(body!), limits).deltas)).toEqual(plain(deltas));
});
