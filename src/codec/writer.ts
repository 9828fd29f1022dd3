// Serialises one or many frames into one growable buffer, so a whole batch leaves in a single
// socket write. Bodies are written in place after a reserved header; end() patches the length.

import { EncodeError } from "./errors.ts";
import { DEFAULT_MAX_FRAME_BYTES, HEADER_BYTES, PROTOCOL_VERSION } from "./frame.ts";

const utf8 = new TextEncoder();

/** Bytes a UTF-8 string occupies on the wire, without its length prefix. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, "utf8");
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
    this.reserve(HEADER_BYTES);
    this.frameStart = this.position;
    const at = this.position;
    this.view.setUint32(at, 0);
    this.view.setUint8(at + 4, PROTOCOL_VERSION);
    this.view.setUint8(at + 5, type);
    this.view.setUint16(at + 6, flags);
    this.view.setUint32(at + 8, correlationId >>> 0);
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

  /** Returns every complete frame written so far as one view, and starts over. */
  finish(): Uint8Array {
    if (this.frameStart >= 0) throw new EncodeError("frame", "finish() called with a frame still open");
    const out = this.buffer.slice(0, this.position);
    this.position = 0;
    return out;
  }

  u8(value: number): this {
    this.reserve(1);
    this.buffer[this.position++] = value;
    return this;
  }

  u16(value: number): this {
    this.reserve(2);
    this.view.setUint16(this.position, value);
    this.position += 2;
    return this;
  }

  u32(value: number): this {
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
    if (value < -(2n ** 63n) || value >= 2n ** 63n) throw new EncodeError("i64", `${value} is outside the signed 64-bit range`);
    this.reserve(8);
    this.view.setBigInt64(this.position, value);
    this.position += 8;
    return this;
  }

  /** Unsigned integer below 2^53 as minimal LEB128 (see varuint.ts). */
  varuint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new EncodeError("varuint", `${value} is not an integer in 0..2^53-1`);
    this.reserve(8);
    const buffer = this.buffer;
    let position = this.position;
    while (value >= 0x80) {
      buffer[position++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    buffer[position++] = value;
    this.position = position;
    return this;
  }

  /** UTF-8 string prefixed by its byte length as a varuint. */
  string(text: string): this {
    const byteLength = utf8Length(text);
    this.varuint(byteLength);
    this.reserve(byteLength);
    if (byteLength === text.length && byteLength < 64) {
      // ASCII fast path: short names and keys dominate, and a loop beats the encoder call.
      for (let i = 0; i < byteLength; i++) this.buffer[this.position + i] = text.charCodeAt(i);
    } else {
      utf8.encodeInto(text, this.buffer.subarray(this.position, this.position + byteLength));
    }
    this.position += byteLength;
    return this;
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
    let capacity = this.buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.position));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }
}
