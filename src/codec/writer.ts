// Serialises one or many frames into one growable buffer, so a whole batch leaves in a single
// socket write. Bodies are written in place after a reserved header; end() patches the length.

import { EncodeError } from "./errors.ts";
import { DEFAULT_MAX_FRAME_BYTES, HEADER_BYTES, PROTOCOL_VERSION } from "./frame.ts";
import { varuintSize } from "./varuint.ts";

const utf8 = new TextEncoder();
/** Strings up to this many UTF-16 units always encode to fewer than 128 bytes. */
const SHORT_STRING_CHARS = 42;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

type Utf8Write = (this: Uint8Array, text: string, offset: number, length: number) => number;
/**
 * Encodes a string into a Uint8Array at an offset and returns the bytes written. Buffer's
 * utf8Write does it natively on any Uint8Array with no temporary view; it is probed once, and
 * TextEncoder.encodeInto is the fallback.
 */
const utf8Write: Utf8Write = (() => {
  const native = typeof Buffer === "function" ? (Buffer.prototype as unknown as { utf8Write?: Utf8Write }).utf8Write : undefined;
  try {
    const probe = new Uint8Array(4);
    if (native && native.call(probe, "\u00e9", 1, 3) === 2 && probe[1] === 0xc3 && probe[2] === 0xa9) return native;
  } catch {
    // fall through to the portable version
  }
  return function (this: Uint8Array, text: string, offset: number, length: number): number {
    return utf8.encodeInto(text, this.subarray(offset, offset + length)).written;
  };
})();

function loneSurrogate(): EncodeError {
  return new EncodeError("string", "contains a lone UTF-16 surrogate");
}

/** Bytes a UTF-8 string occupies on the wire, without its length prefix. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** Bytes of a length-prefixed UTF-8 string on the wire. */
export function stringSize(text: string): number {
  const bytes = utf8Length(text);
  return varuintSize(bytes) + bytes;
}

export class FrameWriter {
  private buffer: Uint8Array;
  private view: DataView;
  private position = 0;
  /** Offset of the header of the frame being written, or -1 between frames. */
  private frameStart = -1;

  constructor(
    initialCapacity = 4096,
    readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
  ) {
    this.buffer = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buffer.buffer);
  }

  /** Bytes written so far, all frames included. */
  get length(): number {
    return this.position;
  }

  /** Body bytes written so far in the open frame. */
  get bodyLength(): number {
    return this.frameStart < 0 ? 0 : this.position - this.frameStart - HEADER_BYTES;
  }

  begin(type: number, correlationId = 0, flags = 0): this {
    if (this.frameStart >= 0) throw new EncodeError("frame", "begin() called before the previous frame was ended");
    if ((type & 0xff) !== type) throw new EncodeError("frame.type", `${type} is not an integer in 0..255`);
    if ((flags & 0xffff) !== flags) throw new EncodeError("frame.flags", `${flags} is not an integer in 0..65535`);
    if (correlationId >>> 0 !== correlationId) {
      throw new EncodeError("frame.correlationId", `${correlationId} is not an integer in 0..2^32-1`);
    }
    this.reserve(HEADER_BYTES);
    this.frameStart = this.position;
    const at = this.position;
    this.view.setUint32(at, 0);
    this.view.setUint8(at + 4, PROTOCOL_VERSION);
    this.view.setUint8(at + 5, type);
    this.view.setUint16(at + 6, flags);
    this.view.setUint32(at + 8, correlationId);
    this.position += HEADER_BYTES;
    return this;
  }

  /** Closes the open frame by writing its body length; returns the whole frame's size. */
  end(): number {
    if (this.frameStart < 0) throw new EncodeError("frame", "end() called without begin()");
    const bodyLength = this.position - this.frameStart - HEADER_BYTES;
    if (bodyLength > this.maxFrameBytes) {
      this.position = this.frameStart;
      this.frameStart = -1;
      throw new EncodeError("frame.length", `body of ${bodyLength} bytes exceeds the ${this.maxFrameBytes}-byte frame limit`);
    }
    this.view.setUint32(this.frameStart, bodyLength);
    this.frameStart = -1;
    return bodyLength + HEADER_BYTES;
  }

  /** Drops the open frame, e.g. when a handler decides not to send it after all. */
  abandon(): void {
    if (this.frameStart >= 0) this.position = this.frameStart;
    this.frameStart = -1;
  }

  /**
   * Drops what was written after `length` (a value of `.length` read earlier in the open frame),
   * so a part that failed to encode half way can be left out and the rest still written.
   */
  rewind(length: number): void {
    const floor = this.frameStart < 0 ? 0 : this.frameStart + HEADER_BYTES;
    if (!(length >= floor && length <= this.position)) throw new EncodeError("frame", `cannot rewind to ${length}: outside ${floor}..${this.position}`);
    this.position = length;
  }

  /**
   * Whether `write` encodes: runs it and always rewinds, returning the EncodeError it threw (null
   * when it wrote fine). For finding, on the slow path, which parts of a message cannot be encoded.
   */
  encodeError(write: () => void): EncodeError | null {
    const start = this.position;
    try {
      write();
      return null;
    } catch (error) {
      if (!(error instanceof EncodeError)) throw error;
      return error;
    } finally {
      this.position = start;
    }
  }

  /** Returns every complete frame written so far as one view, and starts over. */
  finish(): Uint8Array {
    if (this.frameStart >= 0) throw new EncodeError("frame", "finish() called with a frame still open");
    const out = this.buffer.slice(0, this.position);
    this.position = 0;
    return out;
  }

  u8(value: number): this {
    if ((value & 0xff) !== value) throw new EncodeError("u8", `${value} is not an integer in 0..255`);
    this.reserve(1);
    this.buffer[this.position++] = value;
    return this;
  }

  u16(value: number): this {
    if ((value & 0xffff) !== value) throw new EncodeError("u16", `${value} is not an integer in 0..65535`);
    this.reserve(2);
    this.view.setUint16(this.position, value);
    this.position += 2;
    return this;
  }

  u32(value: number): this {
    if (value >>> 0 !== value) throw new EncodeError("u32", `${value} is not an integer in 0..2^32-1`);
    this.reserve(4);
    this.view.setUint32(this.position, value);
    this.position += 4;
    return this;
  }

  f64(value: number): this {
    this.reserve(8);
    this.view.setFloat64(this.position, value);
    this.position += 8;
    return this;
  }

  /** Signed 64-bit integer (two's complement, big-endian). */
  i64(value: bigint): this {
    if (value < I64_MIN || value > I64_MAX) throw new EncodeError("i64", `${value} is outside the signed 64-bit range`);
    this.reserve(8);
    this.view.setBigInt64(this.position, value);
    this.position += 8;
    return this;
  }

  /** Unsigned integer below 2^53 as minimal LEB128 (see varuint.ts). */
  varuint(value: number): this {
    if (value >>> 0 !== value) return this.largeVaruint(value);
    // 0..2^32-1: integer arithmetic (">>>" keeps the top bit unsigned).
    this.reserve(5);
    const buffer = this.buffer;
    let position = this.position;
    while (value > 0x7f) {
      buffer[position++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buffer[position++] = value;
    this.position = position;
    return this;
  }

  /** 2^32..2^53-1: bits 0-27 come from the low 32-bit word, the rest from the high bits. */
  private largeVaruint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new EncodeError("varuint", `${value} is not an integer in 0..2^53-1`);
    this.reserve(8);
    const buffer = this.buffer;
    let position = this.position;
    let low = value >>> 0; // value mod 2^32
    const high = (value - low) / 0x100000000; // below 2^21, exact
    for (let i = 0; i < 4; i++) {
      buffer[position++] = (low & 0x7f) | 0x80;
      low >>>= 7;
    }
    let rest = (high << 4) | low; // bits 28-52: nonzero, since value >= 2^32
    while (rest > 0x7f) {
      buffer[position++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    buffer[position++] = rest;
    this.position = position;
    return this;
  }

  /**
   * UTF-8 string prefixed by its byte length as a varuint. A lone UTF-16 surrogate is an
   * EncodeError: it would silently become U+FFFD on the wire and come back as another string.
   */
  string(text: string): this {
    if (text.length <= SHORT_STRING_CHARS) {
      // At most 3 bytes per UTF-16 unit keeps the byte length under 128: a one-byte prefix,
      // patched after the bytes are written, saves measuring the string first.
      this.reserve(1 + text.length * 3);
      const buffer = this.buffer;
      const prefixAt = this.position;
      let position = prefixAt + 1;
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0x80) {
          // i is the first non-ASCII unit, so no surrogate pair is split here.
          if (!text.isWellFormed()) throw loneSurrogate();
          position += utf8Write.call(buffer, text.slice(i), position, buffer.length - position);
          break;
        }
        buffer[position++] = code;
      }
      buffer[prefixAt] = position - prefixAt - 1;
      this.position = position;
      return this;
    }
    const byteLength = utf8Length(text);
    if (byteLength !== text.length && !text.isWellFormed()) throw loneSurrogate();
    this.varuint(byteLength);
    this.reserve(byteLength);
    this.position += utf8Write.call(this.buffer, text, this.position, byteLength);
    return this;
  }

  /**
   * Opens a varuint-length-prefixed section whose size is not known yet, so a structure can be
   * written once instead of measured and then written. Reserves a prefix sized for
   * `estimatedBytes`; endSection() writes the real length, moving the section's bytes when the
   * real length needs a different prefix size (the encoding stays minimal). Returns the mark to
   * pass to endSection(). Sections may nest; close them all before end().
   */
  beginSection(estimatedBytes: number): number {
    const prefixBytes = varuintSize(estimatedBytes);
    this.reserve(prefixBytes);
    const start = this.position;
    this.position += prefixBytes;
    return start * 16 + prefixBytes;
  }

  /** Closes a section opened by beginSection(): writes its length in front of it. */
  endSection(mark: number): void {
    const reserved = mark % 16;
    const start = (mark - reserved) / 16;
    const length = this.position - start - reserved;
    const needed = varuintSize(length);
    if (needed !== reserved) {
      this.reserve(needed - reserved);
      this.buffer.copyWithin(start + needed, start + reserved, this.position);
      this.position += needed - reserved;
    }
    const end = this.position;
    this.position = start;
    this.varuint(length);
    this.position = end;
  }

  /** Byte blob prefixed by its length as a varuint. */
  blob(bytes: Uint8Array): this {
    this.varuint(bytes.length);
    return this.raw(bytes);
  }

  /** Bytes with no prefix (the caller's format knows their length). */
  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.position);
    this.position += bytes.length;
    return this;
  }

  private reserve(extra: number): void {
    const needed = this.position + extra;
    if (needed <= this.buffer.length) return;
    let capacity = Math.max(this.buffer.length * 2, 64); // a zero initial capacity must still grow
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.position));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }
}
