// The stream decoder and the frame writer: any split of the byte stream yields the same frames;
// bodies are views when a frame lies in one chunk and copies only when it spans chunks; oversize
// and version-0 headers fail before allocation and poison the decoder.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DecodeError, EncodeError, FrameDecoder, FrameWriter, HEADER_BYTES, PROTOCOL_VERSION, type Frame } from "../src/codec/index.ts";

/** Property tests run thousands of cases; give them room on a loaded CI machine. */
const SLOW = 30_000;

interface Spec {
  type: number;
  flags: number;
  correlationId: number;
  body: Uint8Array;
}

/** Frame bytes built by hand from the header layout, not by FrameWriter. */
function handFrame(spec: Spec, version = PROTOCOL_VERSION, announcedLength = spec.body.length): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + spec.body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, announcedLength);
  out[4] = version;
  out[5] = spec.type;
  view.setUint16(6, spec.flags);
  view.setUint32(8, spec.correlationId);
  out.set(spec.body, HEADER_BYTES);
  return out;
}
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
/** A copy in its own ArrayBuffer, as a socket read would deliver it. */
function ownBuffer(bytes: Uint8Array): Uint8Array {
  return bytes.slice();
}
function bodyOfLength(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 17 + 5) & 0xff);
}

const specs: Spec[] = [
  { type: 3, flags: 0, correlationId: 1, body: bodyOfLength(40, 1) },
  { type: 6, flags: 0, correlationId: 0, body: new Uint8Array(0) },
  { type: 7, flags: 0xabcd, correlationId: 0xffffffff, body: new Uint8Array(0) },
  { type: 5, flags: 1, correlationId: 0x80000001, body: bodyOfLength(1, 2) },
  { type: 255, flags: 0xffff, correlationId: 77, body: bodyOfLength(300, 3) },
  { type: 12, flags: 0, correlationId: 9, body: bodyOfLength(13, 4) },
];
const stream = concat(specs.map((s) => handFrame(s)));
/** Where each frame starts in `stream`, plus the end. */
const starts: number[] = [];
{
  let at = 0;
  for (const s of specs) {
    starts.push(at);
    at += HEADER_BYTES + s.body.length;
  }
  starts.push(at);
}

function expectFrames(frames: Frame[], expected: Spec[]): void {
  expect(frames.length).toBe(expected.length);
  frames.forEach((frame, i) => {
    const spec = expected[i]!;
    expect(frame.version).toBe(PROTOCOL_VERSION);
    expect(frame.type).toBe(spec.type);
    expect(frame.flags).toBe(spec.flags);
    expect(frame.correlationId).toBe(spec.correlationId);
    expect(frame.body.length).toBe(spec.body.length);
    expect(Buffer.from(frame.body).equals(Buffer.from(spec.body))).toBe(true);
  });
}

/** Feeds chunks cut at the given points; returns the frames and, for each, the chunk it came from (or -1 when copied). */
function feed(bytes: Uint8Array, cuts: number[], decoder = new FrameDecoder()): { frames: Frame[]; chunkOf: number[]; chunks: Uint8Array[] } {
  const points = [0, ...[...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
  const chunks: Uint8Array[] = [];
  for (let i = 0; i + 1 < points.length; i++) chunks.push(ownBuffer(bytes.subarray(points[i], points[i + 1])));
  const frames: Frame[] = [];
  const chunkOf: number[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk, (f) => {
      frames.push(f);
      chunkOf.push(chunks.findIndex((c) => c.buffer === f.body.buffer));
    });
    expect(decoder.bufferedBytes).toBeLessThanOrEqual(decoder.maxFrameBytes + HEADER_BYTES);
  }
  expect(decoder.bufferedBytes).toBe(0);
  return { frames, chunkOf, chunks };
}

/** For a two-chunk cut, whether frame i lies wholly inside one chunk. */
function insideOneChunk(frameIndex: number, cuts: number[]): boolean {
  const from = starts[frameIndex]!;
  const to = starts[frameIndex + 1]!;
  return cuts.every((c) => c <= from || c >= to);
}

describe("FrameDecoder splits", () => {
  test("every two-way split point gives the same frames (0-length bodies and splits inside headers included)", () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const { frames, chunkOf } = feed(stream, [cut]);
      expectFrames(frames, specs);
      frames.forEach((frame, i) => {
        if (insideOneChunk(i, [cut])) {
          // A view into the chunk that held it.
          expect(chunkOf[i]).toBeGreaterThanOrEqual(0);
        } else {
          // Spanned the cut: a copy, in a buffer of exactly the frame's size.
          expect(chunkOf[i]).toBe(-1);
          expect(frame.body.buffer.byteLength).toBe(HEADER_BYTES + frame.body.length);
        }
      });
    }
  });

  test("the split points that fall inside a header are all exercised", () => {
    // Guard for the test above: each header byte boundary of each frame is some cut.
    const insideHeaders = starts.slice(0, -1).flatMap((s) => Array.from({ length: HEADER_BYTES - 1 }, (_, k) => s + k + 1));
    expect(insideHeaders.every((c) => c > 0 && c < stream.length)).toBe(true);
    for (const cut of insideHeaders) expectFrames(feed(stream, [cut]).frames, specs);
  });

  test("one byte at a time", () => {
    const cuts = Array.from({ length: stream.length }, (_, i) => i);
    const decoder = new FrameDecoder();
    let maxBuffered = 0;
    const frames: Frame[] = [];
    for (let i = 0; i < stream.length; i++) {
      decoder.push(stream.slice(i, i + 1), (f) => frames.push(f));
      maxBuffered = Math.max(maxBuffered, decoder.bufferedBytes);
    }
    expectFrames(frames, specs);
    expect(maxBuffered).toBe(HEADER_BYTES + 300 - 1);
    // and through the helper, which also checks identity
    const { chunkOf } = feed(stream, cuts);
    // Every non-empty frame spans several 1-byte chunks: all copies. Empty-body frames too
    // (their 12 header bytes spanned 12 chunks).
    expect(chunkOf.every((c) => c === -1)).toBe(true);
  });

  test("many frames in one chunk are all views into that chunk", () => {
    const many: Spec[] = Array.from({ length: 2000 }, (_, i) => ({ type: (i % 12) + 1, flags: i & 0xffff, correlationId: i * 2654435761 >>> 0, body: bodyOfLength(i % 50, i) }));
    const chunk = concat(many.map((s) => handFrame(s)));
    const frames: Frame[] = [];
    new FrameDecoder().push(chunk, (f) => frames.push(f));
    expectFrames(frames, many);
    for (const f of frames) expect(f.body.buffer).toBe(chunk.buffer);
  });

  test("empty chunks change nothing", () => {
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    decoder.push(new Uint8Array(0), (f) => frames.push(f));
    decoder.push(stream.slice(0, 5), (f) => frames.push(f));
    decoder.push(new Uint8Array(0), (f) => frames.push(f));
    decoder.push(stream.slice(5), (f) => frames.push(f));
    decoder.push(new Uint8Array(0), (f) => frames.push(f));
    expectFrames(frames, specs);
  });

  test("random three-way (and more) splits give the same frames; views exactly for frames inside a chunk", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: stream.length }), { minLength: 2, maxLength: 6 }), (cuts) => {
        const { frames, chunkOf, chunks } = feed(stream, cuts);
        expectFrames(frames, specs);
        frames.forEach((frame, i) => {
          if (insideOneChunk(i, cuts)) expect(frame.body.buffer).toBe(chunks[chunkOf[i]!]!.buffer);
          else expect(chunkOf[i]).toBe(-1);
        });
      }),
      { numRuns: 1000 },
    );
  }, SLOW);

  test("random frame lists under random splits (property)", () => {
    const spec = fc.record({
      type: fc.integer({ min: 1, max: 255 }),
      flags: fc.integer({ min: 0, max: 0xffff }),
      correlationId: fc.integer({ min: 0, max: 0xffffffff }),
      body: fc.uint8Array({ maxLength: 64 }),
    });
    fc.assert(
      fc.property(fc.array(spec, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 5 }), (list, rawCuts) => {
        const bytes = concat(list.map((s) => handFrame(s)));
        const cuts = rawCuts.map((c) => c % (bytes.length + 1));
        expectFrames(feed(bytes, cuts).frames, list);
      }),
      { numRuns: 500 },
    );
  }, SLOW);
});

describe("FrameDecoder errors", () => {
  test("a header announcing more than maxFrameBytes fails with frame.length before any allocation", () => {
    const good = handFrame({ type: 6, flags: 0, correlationId: 0, body: bodyOfLength(10, 1) });
    const evil = handFrame({ type: 3, flags: 0, correlationId: 1, body: new Uint8Array(0) }, PROTOCOL_VERSION, 0xfffffff0);
    // Whole header in one chunk, after a good frame.
    {
      const decoder = new FrameDecoder({ maxFrameBytes: 1024 });
      const frames: Frame[] = [];
      let error: unknown;
      try {
        decoder.push(concat([good, evil]), (f) => frames.push(f));
      } catch (e) {
        error = e;
      }
      expect(frames.length).toBe(1);
      expect(error).toBeInstanceOf(DecodeError);
      expect((error as DecodeError).field).toBe("frame.length");
      expect((error as DecodeError).offset).toBe(good.length);
      expect(decoder.bufferedBytes).toBe(0);
    }
    // Header trickling in byte by byte: nothing beyond the 12-byte scratch is ever held.
    {
      const decoder = new FrameDecoder({ maxFrameBytes: 1024 });
      decoder.push(good, () => {});
      let error: unknown;
      for (let i = 0; i < evil.length && !error; i++) {
        try {
          decoder.push(evil.slice(i, i + 1), () => {});
          expect(decoder.bufferedBytes).toBeLessThan(HEADER_BYTES);
        } catch (e) {
          error = e;
          expect(i).toBe(HEADER_BYTES - 1); // fails the moment the length can be judged
        }
      }
      expect((error as DecodeError).field).toBe("frame.length");
      expect((error as DecodeError).offset).toBe(good.length);
      expect(decoder.bufferedBytes).toBe(0);
    }
    // Header at the tail of a chunk (the held-tail path).
    {
      const decoder = new FrameDecoder({ maxFrameBytes: 1024 });
      expect(() => decoder.push(concat([good, evil.subarray(0, HEADER_BYTES)]), () => {})).toThrow(DecodeError);
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  test("a body of exactly maxFrameBytes is accepted, one more byte is not", () => {
    const max = 500;
    const exact = handFrame({ type: 5, flags: 0, correlationId: 0, body: bodyOfLength(max, 9) });
    const frames: Frame[] = [];
    const decoder = new FrameDecoder({ maxFrameBytes: max });
    decoder.push(exact.slice(0, 100), (f) => frames.push(f));
    expect(decoder.bufferedBytes).toBe(100);
    decoder.push(exact.slice(100), (f) => frames.push(f));
    expect(frames.length).toBe(1);
    const over = handFrame({ type: 5, flags: 0, correlationId: 0, body: bodyOfLength(max + 1, 9) });
    const error = (() => {
      try {
        new FrameDecoder({ maxFrameBytes: max }).push(over, () => {});
      } catch (e) {
        return e as DecodeError;
      }
      return undefined;
    })();
    expect(error?.field).toBe("frame.length");
    expect(error?.offset).toBe(0);
  });

  test("version 0 fails with frame.version at the version byte's stream offset", () => {
    const good = handFrame(specs[0]!);
    const bad = handFrame(specs[3]!, 0);
    for (const cut of [0, 3, good.length, good.length + 4, good.length + 5, good.length + 11]) {
      const decoder = new FrameDecoder();
      const bytes = concat([good, bad]);
      let error: unknown;
      const frames: Frame[] = [];
      try {
        decoder.push(bytes.slice(0, cut), (f) => frames.push(f));
        decoder.push(bytes.slice(cut), (f) => frames.push(f));
      } catch (e) {
        error = e;
      }
      expect(frames.length).toBe(1);
      expect(error).toBeInstanceOf(DecodeError);
      expect((error as DecodeError).field).toBe("frame.version");
      expect((error as DecodeError).offset).toBe(good.length + 4);
    }
  });

  test("after an error, push() keeps throwing, even for valid input", () => {
    const decoder = new FrameDecoder();
    const bad = handFrame(specs[0]!, 0);
    let first: unknown;
    try {
      decoder.push(bad, () => {});
    } catch (e) {
      first = e;
    }
    expect(first).toBeInstanceOf(DecodeError);
    const frames: Frame[] = [];
    for (let i = 0; i < 3; i++) {
      let again: unknown;
      try {
        decoder.push(handFrame(specs[1]!), (f) => frames.push(f));
      } catch (e) {
        again = e;
      }
      expect(again).toBe(first);
    }
    expect(() => decoder.push(new Uint8Array(0), () => {})).toThrow(DecodeError);
    expect(frames.length).toBe(0);
  });
});

describe("FrameWriter", () => {
  test("writes several frames into one buffer that decodes back to them", () => {
    const writer = new FrameWriter(8);
    for (const s of specs) {
      writer.begin(s.type, s.correlationId, s.flags).raw(s.body);
      expect(writer.bodyLength).toBe(s.body.length);
      expect(writer.end()).toBe(HEADER_BYTES + s.body.length);
    }
    const bytes = writer.finish();
    // Identical to the hand-built stream: the header layout is what the spec says.
    expect(Buffer.from(bytes).equals(Buffer.from(stream))).toBe(true);
    expect(writer.length).toBe(0);
  });

  test("end() with a body over the limit throws EncodeError, drops that frame and leaves the writer usable", () => {
    const writer = new FrameWriter(16, 100);
    writer.begin(6, 1).raw(bodyOfLength(10, 1)).end();
    writer.begin(5, 2).raw(bodyOfLength(101, 2));
    let error: unknown;
    try {
      writer.end();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EncodeError);
    expect((error as EncodeError).field).toBe("frame.length");
    expect(writer.length).toBe(HEADER_BYTES + 10);
    writer.begin(7, 3).raw(bodyOfLength(100, 3)).end(); // exactly the limit is fine
    const frames: Frame[] = [];
    new FrameDecoder({ maxFrameBytes: 100 }).push(writer.finish(), (f) => frames.push(f));
    expect(frames.map((f) => f.correlationId)).toEqual([1, 3]);
    expect(frames[1]!.body).toEqual(bodyOfLength(100, 3));
  });

  test("abandon() drops the open frame only", () => {
    const writer = new FrameWriter();
    writer.begin(6, 1).u8(1).end();
    writer.begin(7, 2).raw(bodyOfLength(50, 1));
    writer.abandon();
    expect(writer.length).toBe(HEADER_BYTES + 1);
    writer.abandon(); // harmless between frames
    writer.begin(8, 3).end();
    const frames: Frame[] = [];
    new FrameDecoder().push(writer.finish(), (f) => frames.push(f));
    expect(frames.map((f) => [f.type, f.correlationId, f.body.length])).toEqual([
      [6, 1, 1],
      [8, 3, 0],
    ]);
  });

  test("misuse of begin/end/finish is an EncodeError", () => {
    const writer = new FrameWriter();
    expect(() => writer.end()).toThrow(EncodeError);
    writer.begin(1);
    expect(() => writer.begin(2)).toThrow(EncodeError);
    expect(() => writer.finish()).toThrow(EncodeError);
    writer.end();
    expect(writer.finish().length).toBe(HEADER_BYTES);
  });

  test("beginSection/endSection write a minimal length prefix whatever the estimate", () => {
    const lengths = [0, 1, 127, 128, 129, 16383, 16384, 20000];
    const estimates = [0, 1, 127, 128, 16383, 16384, 2 ** 21, 2 ** 40];
    for (const length of lengths) {
      for (const estimate of estimates) {
        const content = bodyOfLength(length, length);
        const writer = new FrameWriter(4);
        writer.begin(1).u8(0xee);
        const mark = writer.beginSection(estimate);
        writer.raw(content);
        writer.endSection(mark);
        writer.u8(0xdd).end();
        const body = writer.finish().subarray(HEADER_BYTES);
        // Expected: 0xee, minimal LEB128 of the length, the content, 0xdd.
        const prefix: number[] = [];
        let v = length;
        do {
          prefix.push(v >= 0x80 ? (v & 0x7f) | 0x80 : v);
          v = Math.floor(v / 0x80);
        } while (v > 0);
        expect(body.length).toBe(1 + prefix.length + length + 1);
        expect([...body.subarray(0, 1 + prefix.length)]).toEqual([0xee, ...prefix]);
        expect(Buffer.from(body.subarray(1 + prefix.length, 1 + prefix.length + length)).equals(Buffer.from(content))).toBe(true);
        expect(body[body.length - 1]).toBe(0xdd);
      }
    }
  });

  test("finish() returns bytes the writer no longer touches", () => {
    const writer = new FrameWriter();
    writer.begin(1).u8(0xaa).end();
    const first = writer.finish();
    writer.begin(2).u8(0xbb).end();
    writer.finish();
    expect([...first]).toEqual([0, 0, 0, 1, PROTOCOL_VERSION, 1, 0, 0, 0, 0, 0, 0, 0xaa]);
  });
});
