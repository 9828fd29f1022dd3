// Reads a frame body in place. Every length and count is checked against the bytes that remain
// before anything is sliced or allocated; a violation throws a DecodeError naming the field and
// its offset. Blobs come back as views into the body, never copies.

import { DecodeError } from "./errors.ts";
import { MAX_VARUINT_BYTES } from "./varuint.ts";

// ignoreBOM: by default a TextDecoder strips a leading U+FEFF, so a string starting with it would
// not survive a round trip. The protocol carries strings verbatim.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Strings up to this many bytes take the ASCII path first (see string()). */
const SHORT_STRING_BYTES = 64;
const NON_ASCII = /[^\x00-\x7f]/;

type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;
/**
 * Bytes → string, one char per byte. On ASCII bytes (checked after) that equals UTF-8 decoding.
 * Buffer's latin1Slice builds the string natively from a range of any Uint8Array, with no
 * temporary view; it is probed once, and String.fromCharCode is the fallback.
 */
const latin1: Latin1Slice = (() => {
  const native = typeof Buffer === "function" ? (Buffer.prototype as unknown as { latin1Slice?: Latin1Slice }).latin1Slice : undefined;
  try {
    if (native && native.call(new Uint8Array([0x61, 0x62, 0x63]), 1, 3) === "bc") return native;
  } catch {
    // fall through to the portable version
  }
  return function (this: Uint8Array, start: number, end: number): string {
    return String.fromCharCode.apply(null, this.subarray(start, end) as unknown as number[]);
  };
})();

export class BodyReader {
  private viewCache: DataView | null = null;
  private position = 0;
  /** Where reading stops: the body's end, or the end of the section entered last. */
  private end: number;

  /** baseOffset: where this body starts inside the enclosing frame body, for error offsets. */
  constructor(
    private readonly body: Uint8Array,
    readonly baseOffset = 0,
  ) {
    this.end = body.length;
  }

  get offset(): number {
    return this.position;
  }

  /** Bytes left before the end of the body (or of the current section). */
  get remaining(): number {
    return this.end - this.position;
  }

  /** Throws unless every byte of the body (or section) was consumed: trailing bytes mean a format mismatch. */
  expectEnd(field: string): void {
    if (this.position !== this.end) {
      throw new DecodeError(field, this.baseOffset + this.position, `${this.remaining} unexpected trailing bytes`);
    }
  }

  /**
   * Reads a varuint byte length and narrows the reader to that many following bytes, so that a
   * length-prefixed structure is read in place, with no sub-reader or view. Returns the outer limit,
   * to hand back to leaveSection().
   */
  enterSection(field: string): number {
    const start = this.position;
    const length = this.varuint(field);
    if (length > this.end - this.position) {
      throw new DecodeError(field, this.baseOffset + start, `length ${length} exceeds the ${this.end - this.position} bytes that remain`);
    }
    const outerEnd = this.end;
    this.end = this.position + length;
    return outerEnd;
  }

  /** Moves to the end of the current section, skipping what was not read, and restores the outer limit. */
  leaveSection(outerEnd: number): void {
    this.position = this.end;
    this.end = outerEnd;
  }

  u8(field: string): number {
    if (this.position >= this.end) this.short(field, 1);
    return this.body[this.position++]!;
  }

  u16(field: string): number {
    if (this.position + 2 > this.end) this.short(field, 2);
    const value = this.view().getUint16(this.position);
    this.position += 2;
    return value;
  }

  u32(field: string): number {
    if (this.position + 4 > this.end) this.short(field, 4);
    const value = this.view().getUint32(this.position);
    this.position += 4;
    return value;
  }

  f64(field: string): number {
    if (this.position + 8 > this.end) this.short(field, 8);
    const value = this.view().getFloat64(this.position);
    this.position += 8;
    return value;
  }

  i64(field: string): bigint {
    if (this.position + 8 > this.end) this.short(field, 8);
    const value = this.view().getBigInt64(this.position);
    this.position += 8;
    return value;
  }

  varuint(field: string): number {
    // Unrolled for up to 6 bytes (every value below 2^42) when 8 bytes remain, so no byte needs a
    // bounds check; anything unusual (near the end, 7-8 bytes, non-minimal) takes longVaruint,
    // which also produces the errors.
    const body = this.body;
    const p = this.position;
    if (p + MAX_VARUINT_BYTES > this.end) return this.longVaruint(field);
    let byte = body[p]!;
    if (byte < 0x80) {
      this.position = p + 1;
      return byte;
    }
    let value = byte & 0x7f;
    byte = body[p + 1]!;
    value |= (byte & 0x7f) << 7;
    if (byte < 0x80) {
      if (byte === 0) return this.longVaruint(field);
      this.position = p + 2;
      return value;
    }
    byte = body[p + 2]!;
    value |= (byte & 0x7f) << 14;
    if (byte < 0x80) {
      if (byte === 0) return this.longVaruint(field);
      this.position = p + 3;
      return value;
    }
    byte = body[p + 3]!;
    value |= (byte & 0x7f) << 21;
    if (byte < 0x80) {
      if (byte === 0) return this.longVaruint(field);
      this.position = p + 4;
      return value;
    }
    byte = body[p + 4]!;
    value += (byte & 0x7f) * 0x10000000;
    if (byte < 0x80) {
      if (byte === 0) return this.longVaruint(field);
      this.position = p + 5;
      return value;
    }
    byte = body[p + 5]!;
    value += (byte & 0x7f) * 0x800000000;
    if (byte < 0x80) {
      if (byte === 0) return this.longVaruint(field);
      this.position = p + 6;
      return value;
    }
    return this.longVaruint(field);
  }

  /** A count of elements that each take at least minElementBytes: bounded by what remains. */
  count(field: string, minElementBytes: number): number {
    const start = this.position;
    const value = this.varuint(field);
    if (value * minElementBytes > this.end - this.position) {
      throw new DecodeError(field, this.baseOffset + start, `count ${value} cannot fit in the ${this.remaining} bytes that remain`);
    }
    return value;
  }

  /** A length-prefixed byte blob, returned as a view into the body. */
  blob(field: string, maxBytes = Number.MAX_SAFE_INTEGER): Uint8Array {
    const from = this.lengthPrefixed(field, maxBytes);
    return this.body.subarray(from, this.position);
  }

  /** A length-prefixed UTF-8 string; invalid UTF-8 is a decode error, not a replacement char. */
  string(field: string, maxBytes = Number.MAX_SAFE_INTEGER): string {
    const start = this.position;
    const from = this.lengthPrefixed(field, maxBytes);
    return decodeUtf8(this.body, from, this.position, field, this.baseOffset + start);
  }

  /** A length-prefixed run of strings stored back to back, whose lengths the format carries elsewhere. */
  stringRun(field: string): StringRun {
    const from = this.lengthPrefixed(field, Number.MAX_SAFE_INTEGER);
    return new StringRun(this.body.subarray(from, this.position), this.baseOffset + from);
  }

  /** Reads a varuint length, checks it, and skips the bytes; returns where they start. */
  private lengthPrefixed(field: string, maxBytes: number): number {
    const start = this.position;
    const length = this.varuint(field);
    if (length > maxBytes) throw new DecodeError(field, this.baseOffset + start, `length ${length} exceeds the limit of ${maxBytes}`);
    const from = this.position;
    if (length > this.end - from) throw new DecodeError(field, this.baseOffset + start, `length ${length} exceeds the ${this.end - from} bytes that remain`);
    this.position = from + length;
    return from;
  }

  /** The multi-byte varuint path: bits 0-27 in integer arithmetic, bits 28-55 in exact doubles. */
  private longVaruint(field: string): number {
    const start = this.position;
    const body = this.body;
    const end = this.end;
    let position = start;
    let value = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (position >= end) throw new DecodeError(field, this.baseOffset + start, "varint runs past the end of the body");
      const byte = body[position++]!;
      value |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        if (byte === 0 && shift > 0) throw new DecodeError(field, this.baseOffset + start, "varint is not minimally encoded");
        this.position = position;
        return value;
      }
    }
    let scale = 0x10000000; // 2^28
    for (let i = 4; i < MAX_VARUINT_BYTES; i++) {
      if (position >= end) throw new DecodeError(field, this.baseOffset + start, "varint runs past the end of the body");
      const byte = body[position++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0) throw new DecodeError(field, this.baseOffset + start, "varint is not minimally encoded");
        if (value > Number.MAX_SAFE_INTEGER) throw new DecodeError(field, this.baseOffset + start, "varint exceeds 2^53-1");
        this.position = position;
        return value;
      }
      scale *= 0x80;
    }
    throw new DecodeError(field, this.baseOffset + start, `varint longer than ${MAX_VARUINT_BYTES} bytes`);
  }

  private view(): DataView {
    // Created on first use: entry-heavy bodies never need one.
    return (this.viewCache ??= new DataView(this.body.buffer, this.body.byteOffset, this.body.byteLength));
  }

  private short(field: string, bytes: number): never {
    throw new DecodeError(field, this.baseOffset + this.position, `needs ${bytes} bytes, ${this.remaining} remain`);
  }
}

/** bytes[from, to) as UTF-8; invalid UTF-8 is a DecodeError naming the field, at errorOffset. */
function decodeUtf8(bytes: Uint8Array, from: number, to: number, field: string, errorOffset: number): string {
  if (to - from <= SHORT_STRING_BYTES) {
    // Short strings are mostly ASCII names and keys: build the string natively one char per
    // byte, then let the regex engine confirm it is ASCII (where that equals UTF-8 decoding).
    // Measured faster than checking the bytes in a JS loop first.
    const text = latin1.call(bytes, from, to);
    if (!NON_ASCII.test(text)) return text;
  }
  try {
    return utf8.decode(bytes.subarray(from, to));
  } catch {
    throw new DecodeError(field, errorOffset, "invalid UTF-8");
  }
}

/**
 * Bytes a StringRun decodes at once. A string taken from an ASCII chunk is a substring of it, and
 * a substring keeps its whole chunk alive, so the bound caps what one kept string (a node name
 * stored for the life of the process) can hold on to: one chunk, never a whole message.
 */
const STRING_RUN_CHUNK_BYTES = 1024;

/**
 * Strings stored back to back (a digest's names), handed out one by one. Making each short string
 * on its own costs a native call apiece, which dominated digest decoding; instead the run is
 * decoded a chunk at a time, one call per chunk, and each string is a substring of its chunk. A
 * chunk that is not all ASCII (or ends inside a character) falls back to decoding its strings one
 * by one, which also finds invalid UTF-8 in exactly the string that holds it.
 */
export class StringRun {
  private position = 0;
  private chunkStart = 0;
  private chunkEnd = 0;
  /** The current chunk as text when it is all ASCII (so byte offsets are char offsets), else null. */
  private chunk: string | null = null;

  /** baseOffset: where bytes start inside the frame body, for error offsets. */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly baseOffset: number,
  ) {}

  /** Bytes not yet handed out. */
  get remaining(): number {
    return this.bytes.length - this.position;
  }

  /** Where the next string starts, as an offset in the frame body. */
  get offset(): number {
    return this.baseOffset + this.position;
  }

  /** The next `length` bytes as a string; the caller has checked length against remaining. */
  next(length: number, field: string): string {
    const from = this.position;
    const to = from + length;
    this.position = to;
    if (to > this.chunkEnd) this.startChunk(from, Math.min(this.bytes.length, from + Math.max(STRING_RUN_CHUNK_BYTES, length)));
    if (this.chunk !== null) return this.chunk.substring(from - this.chunkStart, to - this.chunkStart);
    return decodeUtf8(this.bytes, from, to, field, this.baseOffset + from);
  }

  private startChunk(from: number, to: number): void {
    this.chunkStart = from;
    this.chunkEnd = to;
    // Valid UTF-8 with as many UTF-16 units as bytes is all ASCII (every multi-byte character
    // has fewer units than bytes), so one native call both checks and decodes the chunk. A chunk
    // ending inside a character is not valid on its own: its strings are decoded one by one.
    try {
      const text = utf8.decode(this.bytes.subarray(from, to));
      this.chunk = text.length === to - from ? text : null;
    } catch {
      this.chunk = null;
    }
  }
}
