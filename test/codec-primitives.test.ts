// Primitive encodings of the codec: round trips (property-based) and the exact bytes, checked
// against reference encoders written here from the protocol text (Buffer's big-endian writers,
// TextEncoder, and a BigInt LEB128), never against the codec's own output.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { BodyReader, DecodeError, EncodeError, FrameDecoder, FrameWriter, HEADER_BYTES, PROTOCOL_VERSION, type Frame, varuintSize } from "../src/codec/index.ts";
import { refString, refVaruint } from "./support/reference-encoding.ts";

/** Property tests run thousands of cases; give them room on a loaded CI machine. */
const SLOW = 30_000;

const RUNS = { numRuns: 300 };

// ---- reference encoders (independent of src/codec) -------------------------------------------

function be(size: 2 | 4 | 8, write: (b: Buffer) => void): number[] {
  const b = Buffer.alloc(size);
  write(b);
  return [...b];
}

// ---- helpers --------------------------------------------------------------------------------

/** Writes one frame whose body is produced by `body`, returns the whole frame's bytes. */
function frameOf(body: (w: FrameWriter) => void, type = 5): Uint8Array {
  const writer = new FrameWriter(16);
  writer.begin(type);
  body(writer);
  writer.end();
  return writer.finish();
}
/** The body bytes of a single-frame buffer, checked against the header's length field. */
function bodyOf(frame: Uint8Array): Uint8Array {
  const length = new DataView(frame.buffer, frame.byteOffset).getUint32(0);
  expect(frame.length).toBe(HEADER_BYTES + length);
  return frame.subarray(HEADER_BYTES);
}
function bodyBytes(body: (w: FrameWriter) => void): number[] {
  return [...bodyOf(frameOf(body))];
}
function readerOver(bytes: number[], baseOffset = 0): BodyReader {
  return new BodyReader(Uint8Array.from(bytes), baseOffset);
}
/** Runs fn, expects a DecodeError, and returns it for field/offset assertions. */
function decodeError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw new Error(`expected a DecodeError, got ${String(error)}`);
  }
  throw new Error("expected a DecodeError, nothing was thrown");
}
function expectDecodeError(fn: () => unknown, field: string, offset: number): DecodeError {
  const error = decodeError(fn);
  expect({ field: error.field, offset: error.offset }).toEqual({ field, offset });
  return error;
}

// ---- fixed-width integers and floats ----------------------------------------------------------

describe("fixed-width primitives", () => {
  test("u8 round trips and is one byte", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), (v) => {
        const bytes = bodyBytes((w) => w.u8(v));
        expect(bytes).toEqual([v]);
        expect(readerOver(bytes).u8("x")).toBe(v);
      }),
      RUNS,
    );
  });

  test("u16 is big-endian and round trips", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (v) => {
        const bytes = bodyBytes((w) => w.u16(v));
        expect(bytes).toEqual(be(2, (b) => b.writeUInt16BE(v)));
        expect(readerOver(bytes).u16("x")).toBe(v);
      }),
      RUNS,
    );
  });

  test("u32 is big-endian and round trips, including values above 2^31", () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff)), (v) => {
        const bytes = bodyBytes((w) => w.u32(v));
        expect(bytes).toEqual(be(4, (b) => b.writeUInt32BE(v)));
        expect(readerOver(bytes).u32("x")).toBe(v);
      }),
      RUNS,
    );
  });

  test("f64 round trips every double, including NaN, -0 and the infinities", () => {
    const specials = fc.constantFrom(Number.NaN, -0, 0, Infinity, -Infinity, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, Number.EPSILON);
    fc.assert(
      fc.property(fc.oneof(fc.double(), specials), (v) => {
        const bytes = bodyBytes((w) => w.f64(v));
        if (!Number.isNaN(v)) expect(bytes).toEqual(be(8, (b) => b.writeDoubleBE(v)));
        expect(bytes.length).toBe(8);
        expect(Object.is(readerOver(bytes).f64("x"), v)).toBe(true);
      }),
      RUNS,
    );
    // -0 keeps its sign bit on the wire.
    expect(bodyBytes((w) => w.f64(-0))).toEqual([0x80, 0, 0, 0, 0, 0, 0, 0]);
  });

  test("i64 round trips the whole signed range, extremes included", () => {
    const min = -(2n ** 63n);
    const max = 2n ** 63n - 1n;
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ min, max }), fc.constantFrom(min, max, -1n, 0n, 1n, min + 1n, max - 1n)), (v) => {
        const bytes = bodyBytes((w) => w.i64(v));
        expect(bytes).toEqual(be(8, (b) => b.writeBigInt64BE(v)));
        expect(readerOver(bytes).i64("x")).toBe(v);
      }),
      RUNS,
    );
    expect(bodyBytes((w) => w.i64(min))).toEqual([0x80, 0, 0, 0, 0, 0, 0, 0]);
    expect(bodyBytes((w) => w.i64(-1n))).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  });

  test("out-of-range integers are an EncodeError, not silent truncation", () => {
    const w = new FrameWriter();
    w.begin(1);
    for (const [fn, field] of [
      [() => w.u8(256), "u8"],
      [() => w.u8(-1), "u8"],
      [() => w.u8(1.5), "u8"],
      [() => w.u16(0x10000), "u16"],
      [() => w.u16(Number.NaN), "u16"],
      [() => w.u32(2 ** 32), "u32"],
      [() => w.u32(-1), "u32"],
      [() => w.i64(2n ** 63n), "i64"],
      [() => w.i64(-(2n ** 63n) - 1n), "i64"],
    ] as const) {
      let error: unknown;
      try {
        fn();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(EncodeError);
      expect((error as EncodeError).field).toBe(field);
    }
    expect(w.bodyLength).toBe(0); // nothing was written by the failed calls
  });

  test("fixed-width reads past the end name the field and the offset where it starts", () => {
    expectDecodeError(() => readerOver([1]).u16("a.u16"), "a.u16", 0);
    const r = readerOver([1, 2, 3, 4, 5]);
    r.u16("first");
    expectDecodeError(() => r.u32("second"), "second", 2);
    expectDecodeError(() => readerOver([1, 2, 3, 4, 5, 6, 7], 100).f64("f"), "f", 100);
    expectDecodeError(() => readerOver([]).i64("i"), "i", 0);
    expectDecodeError(() => readerOver([]).u8("b"), "b", 0);
  });
});

// ---- varuint --------------------------------------------------------------------------------

describe("varuint", () => {
  const boundaries: number[] = [0, 1, 127, 128, 255, 256, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
  for (let k = 1; k <= 7; k++) boundaries.push(2 ** (7 * k) - 1, 2 ** (7 * k));
  const values = fc.oneof(fc.maxSafeNat(), fc.integer({ min: 0, max: 20000 }), fc.constantFrom(...boundaries.filter((b) => b <= Number.MAX_SAFE_INTEGER)));

  test("encodes as minimal LEB128 and round trips over 0..2^53-1", () => {
    fc.assert(
      fc.property(values, (v) => {
        const bytes = bodyBytes((w) => w.varuint(v));
        expect(bytes).toEqual(refVaruint(v));
        expect(varuintSize(v)).toBe(bytes.length);
        const r = readerOver(bytes);
        expect(r.varuint("x")).toBe(v);
        expect(r.remaining).toBe(0);
      }),
      { numRuns: 2000 },
    );
  }, SLOW);

  test("boundary sizes: 127/128, 16383/16384 and 2^53-1", () => {
    const cases: [number, number[]][] = [
      [0, [0x00]],
      [127, [0x7f]],
      [128, [0x80, 0x01]],
      [300, [0xac, 0x02]],
      [16383, [0xff, 0x7f]],
      [16384, [0x80, 0x80, 0x01]],
      [2 ** 32, [0x80, 0x80, 0x80, 0x80, 0x10]],
      [Number.MAX_SAFE_INTEGER, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]],
    ];
    for (const [value, expected] of cases) {
      expect(bodyBytes((w) => w.varuint(value))).toEqual(expected);
      expect(readerOver(expected).varuint("x")).toBe(value);
    }
  });

  test("sequences of varuints read back in order, whether near the end of the body or not", () => {
    // The reader has a fast path when 8 bytes remain and a careful one near the end: both run.
    fc.assert(
      fc.property(fc.array(values, { maxLength: 30 }), (list) => {
        const bytes = bodyBytes((w) => {
          for (const v of list) w.varuint(v);
        });
        expect(bytes).toEqual(list.flatMap(refVaruint));
        const r = readerOver(bytes);
        for (const v of list) expect(r.varuint("x")).toBe(v);
        r.expectEnd("end");
      }),
      RUNS,
    );
  });

  test("values outside 0..2^53-1 or not integers are an EncodeError", () => {
    for (const bad of [-1, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, 1.5, Number.NaN, Infinity, -0.5]) {
      const w = new FrameWriter();
      w.begin(1);
      expect(() => w.varuint(bad)).toThrow(EncodeError);
      expect(w.bodyLength).toBe(0);
    }
  });

  // Decoding errors, each tried with padding after it (fast path) and at the very end (slow path).
  const pad = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const malformed: { name: string; bytes: number[]; padded: boolean }[] = [
    { name: "non-minimal 2-byte zero", bytes: [0x80, 0x00], padded: true },
    { name: "non-minimal 2-byte one", bytes: [0x81, 0x00], padded: true },
    { name: "non-minimal 3 bytes", bytes: [0xff, 0x80, 0x00], padded: true },
    { name: "non-minimal 5 bytes", bytes: [0xff, 0xff, 0xff, 0xff, 0x00], padded: true },
    { name: "non-minimal 6 bytes", bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x00], padded: true },
    { name: "non-minimal 8 bytes", bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], padded: true },
    { name: "2^53 (too large)", bytes: refVaruint(2n ** 53n), padded: true },
    { name: "2^56-1 (too large)", bytes: refVaruint(2n ** 56n - 1n), padded: true },
    { name: "nine bytes (too long)", bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], padded: true },
    { name: "truncated after one byte", bytes: [0x80], padded: false },
    { name: "truncated after five bytes", bytes: [0xff, 0xff, 0xff, 0xff, 0xff], padded: false },
  ];
  for (const { name, bytes, padded } of malformed) {
    test(`${name} is a DecodeError at the varint's first byte`, () => {
      // Two valid bytes first, so the offset is not trivially zero.
      const prefix = [0x05, 0x7f];
      const tails = padded ? [[], pad] : [[]];
      for (const tail of tails) {
        const r = readerOver([...prefix, ...bytes, ...tail], 40);
        expect(r.varuint("a")).toBe(5);
        expect(r.varuint("b")).toBe(127);
        const error = expectDecodeError(() => r.varuint("the.field"), "the.field", 42);
        expect(error.message).toContain("the.field");
      }
    });
  }

  test("2^53-1 is accepted both with and without trailing bytes", () => {
    const bytes = refVaruint(Number.MAX_SAFE_INTEGER);
    expect(readerOver(bytes).varuint("x")).toBe(Number.MAX_SAFE_INTEGER);
    expect(readerOver([...bytes, 0, 0, 0, 0, 0, 0, 0, 0]).varuint("x")).toBe(Number.MAX_SAFE_INTEGER);
  });
});

// ---- strings --------------------------------------------------------------------------------

describe("string", () => {
  const interesting = fc.constantFrom(
    "",
    "a",
    "héllo wörld",
    "日本語のキー",
    "emoji 😀🎉 and 𝄞",
    "\u{10FFFF}",
    "\uFEFFstarts with a byte-order mark",
    "\u0000nul inside\u0000",
    "x".repeat(42),
    "x".repeat(43),
    "é".repeat(42),
    "é".repeat(43),
    "😀".repeat(21),
    "😀".repeat(22),
    "y".repeat(64),
    "y".repeat(65),
    "z".repeat(127),
    "z".repeat(128),
    "é".repeat(64),
    "€".repeat(5461),
    "w".repeat(20000),
  );
  const strings = fc.oneof(
    fc.string({ unit: "binary", maxLength: 80 }),
    fc.string({ unit: "grapheme", maxLength: 40 }),
    fc.string({ maxLength: 100 }),
    fc.string({ unit: "binary", minLength: 100, maxLength: 3000 }),
    interesting,
  );

  test("is a varuint byte length then UTF-8, and round trips (empty, long, multi-byte, astral)", () => {
    fc.assert(
      fc.property(strings, (text) => {
        const bytes = bodyBytes((w) => w.string(text));
        expect(bytes).toEqual(refString(text));
        const r = readerOver(bytes);
        expect(r.string("s")).toBe(text);
        expect(r.remaining).toBe(0);
      }),
      { numRuns: 1000 },
    );
  }, SLOW);

  test("several strings in a row keep their boundaries", () => {
    fc.assert(
      fc.property(fc.array(strings, { maxLength: 8 }), (list) => {
        const bytes = bodyBytes((w) => {
          for (const s of list) w.string(s);
        });
        expect(bytes).toEqual(list.flatMap(refString));
        const r = readerOver(bytes);
        for (const s of list) expect(r.string("s")).toBe(s);
        r.expectEnd("end");
      }),
      RUNS,
    );
  });

  test("a leading U+FEFF survives (the decoder must not strip it as a BOM)", () => {
    for (const text of ["\uFEFF", "\uFEFFab", "\uFEFF" + "é".repeat(50), "\uFEFF".repeat(30)]) {
      expect(readerOver(refString(text)).string("s")).toBe(text);
    }
  });

  test("a lone surrogate is an EncodeError (it would come back as U+FFFD)", () => {
    for (const text of ["\uD800", "a\uDC00", "abc\uD83D", "x".repeat(50) + "\uD800", "\uDE00😀"]) {
      const w = new FrameWriter();
      w.begin(1);
      let error: unknown;
      try {
        w.string(text);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(EncodeError);
      expect((error as EncodeError).field).toBe("string");
    }
  });

  const invalidUtf8: [string, number[]][] = [
    ["lone continuation byte", [0x80]],
    ["0xff", [0x61, 0xff, 0x62]],
    ["overlong NUL", [0xc0, 0x80]],
    ["overlong slash", [0xe0, 0x80, 0xaf]],
    ["UTF-16 surrogate encoded", [0xed, 0xa0, 0x80]],
    ["above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ["truncated 3-byte sequence", [0x61, 0xe2, 0x82]],
    ["truncated 4-byte sequence at the end", [0xf0, 0x9f, 0x98]],
    ["five-byte form", [0xf8, 0x88, 0x80, 0x80, 0x80]],
    ["invalid byte after 70 ASCII bytes (long-string path)", [...Array(70).fill(0x61), 0xfe]],
    ["invalid byte in the middle of 200 bytes", [...Array(100).fill(0x62), 0xc3, 0x28, ...Array(100).fill(0x63)]],
  ];
  for (const [name, utf8] of invalidUtf8) {
    test(`invalid UTF-8 (${name}) is a DecodeError at the string's length prefix`, () => {
      const bytes = [...refString("ok"), ...refVaruint(utf8.length), ...utf8, ...refString("after")];
      const r = readerOver(bytes, 7);
      expect(r.string("first")).toBe("ok");
      const error = expectDecodeError(() => r.string("entry.key"), "entry.key", 7 + 3);
      expect(error.reason).toContain("UTF-8");
    });
  }

  test("a length past the end or over the limit is a DecodeError before anything is read", () => {
    expectDecodeError(() => readerOver([0x05, 0x61, 0x62]).string("s"), "s", 0);
    expectDecodeError(() => readerOver([0x7f, 0x7f, ...refVaruint(2 ** 40), 0x61]).string("s2", 10), "s2", 0);
    const r = readerOver([0x00, ...refVaruint(2 ** 40), 0x61], 3);
    expect(r.string("empty")).toBe("");
    expectDecodeError(() => r.string("huge"), "huge", 4);
    expectDecodeError(() => readerOver(refString("abcdef")).string("limited", 5), "limited", 0);
    expect(readerOver(refString("abcde")).string("limited", 5)).toBe("abcde");
  });
});

// ---- blobs ----------------------------------------------------------------------------------

describe("blob", () => {
  test("is a varuint length then the bytes, and round trips (empty, small, large)", () => {
    const blobs = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 16000, maxLength: 70000 }));
    fc.assert(
      fc.property(blobs, (blob) => {
        const frame = frameOf((w) => w.blob(blob));
        const body = bodyOf(frame);
        expect([...body]).toEqual([...refVaruint(blob.length), ...blob]);
        const decoded = new BodyReader(body).blob("b");
        expect(decoded).toEqual(blob);
      }),
      { numRuns: 150 },
    );
  }, SLOW);

  test("a decoded blob is a view into the frame chunk, not a copy", () => {
    const value = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
    const chunk = frameOf((w) => w.string("key").blob(value).blob(new Uint8Array(0)));
    let frame: Frame | undefined;
    new FrameDecoder().push(chunk, (f) => (frame = f));
    const reader = new BodyReader(frame!.body);
    reader.string("k");
    const blob = reader.blob("v");
    const empty = reader.blob("e");
    expect(blob).toEqual(value);
    expect(blob.buffer).toBe(chunk.buffer);
    expect(empty.buffer).toBe(chunk.buffer);
    // Same memory: a change to the chunk shows through the blob.
    const at = blob.byteOffset - chunk.byteOffset;
    chunk[at] = chunk[at]! ^ 0xff;
    expect(blob[0]).toBe(value[0]! ^ 0xff);
  });

  test("a blob longer than what remains, or than its limit, is a DecodeError at its prefix", () => {
    expectDecodeError(() => readerOver([0x05, 0xaa, 0xbb]).blob("x"), "x", 0);
    const r = readerOver([0x01, 0xaa, 0x03, 0x01, 0x02], 9);
    expect([...r.blob("first")]).toEqual([0xaa]);
    expectDecodeError(() => r.blob("second"), "second", 11);
    expectDecodeError(() => readerOver([0x04, 1, 2, 3, 4]).blob("limited", 3), "limited", 0);
  });
});

// ---- counts ---------------------------------------------------------------------------------

describe("count", () => {
  test("a count whose elements cannot fit in the remaining bytes is a DecodeError", () => {
    // 3 elements of at least 5 bytes need 15 bytes; 14 remain after the count.
    const bytes = [0xee, 0x03, ...Array(14).fill(0)];
    const r = readerOver(bytes, 20);
    r.u8("pad");
    const error = expectDecodeError(() => r.count("digest.count", 5), "digest.count", 21);
    expect(error.reason).toContain("cannot fit");
    // With one more byte it fits.
    const ok = readerOver([0x03, ...Array(15).fill(0)]);
    expect(ok.count("digest.count", 5)).toBe(3);
  });

  test("a huge count is refused before any allocation could be sized by it", () => {
    expectDecodeError(() => readerOver([...refVaruint(Number.MAX_SAFE_INTEGER), 0, 0]).count("c", 1), "c", 0);
    expectDecodeError(() => readerOver(refVaruint(2 ** 32)).count("c", 1), "c", 0);
  });

  test("zero elements always fit", () => {
    expect(readerOver([0x00]).count("c", 100)).toBe(0);
  });
});

// ---- frames ---------------------------------------------------------------------------------

describe("frames", () => {
  const frames = fc.record({
    type: fc.integer({ min: 0, max: 255 }),
    flags: fc.integer({ min: 0, max: 0xffff }),
    correlationId: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0x80000000, 0xffffffff)),
    body: fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.constant(new Uint8Array(0))),
  });

  test("header layout is length, version, type, flags, correlation id (big-endian), then the body", () => {
    fc.assert(
      fc.property(frames, ({ type, flags, correlationId, body }) => {
        const writer = new FrameWriter(0);
        writer.begin(type, correlationId, flags).raw(body);
        expect(writer.end()).toBe(HEADER_BYTES + body.length);
        const bytes = writer.finish();
        const expected = [
          ...be(4, (b) => b.writeUInt32BE(body.length)),
          PROTOCOL_VERSION,
          type,
          ...be(2, (b) => b.writeUInt16BE(flags)),
          ...be(4, (b) => b.writeUInt32BE(correlationId)),
          ...body,
        ];
        expect([...bytes]).toEqual(expected);
        const decoded: Frame[] = [];
        new FrameDecoder().push(bytes, (f) => decoded.push(f));
        expect(decoded.length).toBe(1);
        expect(decoded[0]!.version).toBe(PROTOCOL_VERSION);
        expect(decoded[0]!.type).toBe(type);
        expect(decoded[0]!.flags).toBe(flags);
        expect(decoded[0]!.correlationId).toBe(correlationId);
        expect(decoded[0]!.body).toEqual(body);
      }),
      { numRuns: 500 },
    );
  }, SLOW);

  test("a header field out of range is an EncodeError and leaves the writer usable", () => {
    const writer = new FrameWriter();
    expect(() => writer.begin(256)).toThrow(EncodeError);
    expect(() => writer.begin(-1)).toThrow(EncodeError);
    expect(() => writer.begin(1, 2 ** 32)).toThrow(EncodeError);
    expect(() => writer.begin(1, -1)).toThrow(EncodeError);
    expect(() => writer.begin(1, 0, 0x10000)).toThrow(EncodeError);
    expect(writer.length).toBe(0);
    writer.begin(1).u8(9).end();
    expect([...writer.finish()]).toEqual([0, 0, 0, 1, PROTOCOL_VERSION, 1, 0, 0, 0, 0, 0, 0, 9]);
  });

  test("a writer with zero initial capacity grows", () => {
    const writer = new FrameWriter(0);
    writer.begin(2).blob(new Uint8Array(5000)).end();
    expect(writer.finish().length).toBe(HEADER_BYTES + 2 + 5000);
  });
});
