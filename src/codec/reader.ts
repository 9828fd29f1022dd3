// Reads a frame body in place. Every length and count is checked against the bytes that remain
// before anything is sliced or allocated; a violation throws a DecodeError naming the field and
// its offset. Blobs come back as views into the body, never copies.

import { DecodeError } from "./errors.ts";
import { MAX_VARUINT_BYTES } from "./varuint.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

export class BodyReader {
  private readonly view: DataView;
  private position = 0;

  /** baseOffset: where this body starts inside the enclosing frame body, for error offsets. */
  constructor(
    private readonly body: Uint8Array,
    private readonly baseOffset = 0,
  ) {
    this.view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  }

  get offset(): number {
    return this.position;
  }

  get remaining(): number {
    return this.body.length - this.position;
  }

  /** Throws unless every byte of the body was consumed: trailing bytes mean a format mismatch. */
  expectEnd(field: string): void {
    if (this.position !== this.body.length) {
      throw new DecodeError(field, this.baseOffset + this.position, `${this.remaining} unexpected trailing bytes`);
    }
  }

  u8(field: string): number {
    this.need(field, 1);
    return this.body[this.position++]!;
  }

  u16(field: string): number {
    this.need(field, 2);
    const value = this.view.getUint16(this.position);
    this.position += 2;
    return value;
  }

  u32(field: string): number {
    this.need(field, 4);
    const value = this.view.getUint32(this.position);
    this.position += 4;
    return value;
  }

  f64(field: string): number {
    this.need(field, 8);
    const value = this.view.getFloat64(this.position);
    this.position += 8;
    return value;
  }

  i64(field: string): bigint {
    this.need(field, 8);
    const value = this.view.getBigInt64(this.position);
    this.position += 8;
    return value;
  }

  varuint(field: string): number {
    const start = this.position;
    const body = this.body;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARUINT_BYTES; i++) {
      if (this.position >= body.length) throw new DecodeError(field, this.baseOffset + start, "varint runs past the end of the body");
      const byte = body[this.position++]!;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw new DecodeError(field, this.baseOffset + start, "varint is not minimally encoded");
        if (value > Number.MAX_SAFE_INTEGER) throw new DecodeError(field, this.baseOffset + start, "varint exceeds 2^53-1");
        return value;
      }
      scale *= 0x80;
    }
    throw new DecodeError(field, this.baseOffset + start, `varint longer than ${MAX_VARUINT_BYTES} bytes`);
  }

  /** A count of elements that each take at least minElementBytes: bounded by what remains. */
  count(field: string, minElementBytes: number): number {
    const start = this.position;
    const value = this.varuint(field);
    if (value * minElementBytes > this.remaining) {
      throw new DecodeError(field, this.baseOffset + start, `count ${value} cannot fit in the ${this.remaining} bytes that remain`);
    }
    return value;
  }

  /** A length-prefixed byte blob, returned as a view into the body. */
  blob(field: string, maxBytes = Number.MAX_SAFE_INTEGER): Uint8Array {
    const start = this.position;
    const length = this.varuint(field);
    if (length > maxBytes) throw new DecodeError(field, this.baseOffset + start, `length ${length} exceeds the limit of ${maxBytes}`);
    if (length > this.remaining) throw new DecodeError(field, this.baseOffset + start, `length ${length} exceeds the ${this.remaining} bytes that remain`);
    const view = this.body.subarray(this.position, this.position + length);
    this.position += length;
    return view;
  }

  /** A length-prefixed UTF-8 string; invalid UTF-8 is a decode error, not a replacement char. */
  string(field: string, maxBytes = Number.MAX_SAFE_INTEGER): string {
    const start = this.position;
    const bytes = this.blob(field, maxBytes);
    if (isAscii(bytes)) return String.fromCharCode.apply(null, bytes as unknown as number[]);
    try {
      return utf8.decode(bytes);
    } catch {
      throw new DecodeError(field, this.baseOffset + start, "invalid UTF-8");
    }
  }

  private need(field: string, bytes: number): void {
    if (this.position + bytes > this.body.length) {
      throw new DecodeError(field, this.baseOffset + this.position, `needs ${bytes} bytes, ${this.remaining} remain`);
    }
  }
}

function isAscii(bytes: Uint8Array): boolean {
  if (bytes.length > 64) return false; // long strings go through the native decoder
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}
