// DER (ITU-T X.690 Distinguished Encoding Rules), the byte format of X.509 certificates and keys:
// encoders for the few types a certificate uses, and a reader for the certificates and keys this
// tool is given (a CA made by this tool or by another, a SEC1 key). Hand-written instead of a
// library: the subset is small and fixed, and the single binary stays free of dependencies.

import { concatBytes as concat } from "../codec/bytes.ts";

export const Tag = {
  Boolean: 0x01,
  Integer: 0x02,
  BitString: 0x03,
  OctetString: 0x04,
  Oid: 0x06,
  Utf8String: 0x0c,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  Sequence: 0x30,
  Set: 0x31,
} as const;

/** Encoder output: always a fresh buffer, as WebCrypto's BufferSource requires. */
export type Bytes = Uint8Array<ArrayBuffer>;

/** Bytes that are not valid DER where a certificate or key was expected. */
export class DerError extends Error {
  override readonly name = "DerError";
}


/** Tag, definite length (short form below 128, else long form), content. */
export function tlv(tag: number, content: Uint8Array): Bytes {
  const length = content.length;
  let header: number[];
  if (length < 0x80) {
    header = [tag, length];
  } else {
    const lengthBytes: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest % 256);
    header = [tag, 0x80 | lengthBytes.length, ...lengthBytes];
  }
  return concat([Uint8Array.from(header), content]);
}

export const sequence = (...items: Uint8Array[]): Bytes => tlv(Tag.Sequence, concat(items));
export const set = (...items: Uint8Array[]): Bytes => tlv(Tag.Set, concat(items));
export const octetString = (bytes: Uint8Array): Bytes => tlv(Tag.OctetString, bytes);
export const boolean = (value: boolean): Bytes => tlv(Tag.Boolean, Uint8Array.of(value ? 0xff : 0x00));
export const utf8String = (text: string): Bytes => tlv(Tag.Utf8String, new TextEncoder().encode(text));
/** A context-specific constructed tag `[n]` around DER content (EXPLICIT, or IMPLICIT of a SEQUENCE). */
export const contextConstructed = (n: number, content: Uint8Array): Bytes => tlv(0xa0 | n, content);
/** A context-specific primitive tag `[n]` (IMPLICIT of a primitive type such as IA5String). */
export const contextPrimitive = (n: number, content: Uint8Array): Bytes => tlv(0x80 | n, content);

/** A BIT STRING of whole bytes (keys, signatures): no unused bits. */
export const bitString = (bytes: Uint8Array, unusedBits = 0): Bytes => tlv(Tag.BitString, concat([Uint8Array.of(unusedBits), bytes]));

/**
 * A non-negative INTEGER from big-endian magnitude bytes: leading zero bytes dropped (DER wants the
 * shortest form) and one 0x00 put back when the top bit is set, or it would read as negative.
 */
export function unsignedInteger(magnitude: Uint8Array): Bytes {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const content = trimmed.length === 0 ? Uint8Array.of(0) : (trimmed[0]! & 0x80) !== 0 ? concat([Uint8Array.of(0), trimmed]) : trimmed;
  return tlv(Tag.Integer, content);
}

export const smallInteger = (value: number): Bytes => unsignedInteger(Uint8Array.of(value));

/** An OBJECT IDENTIFIER from its dotted form: first two arcs in one byte, the rest base-128. */
export function oid(dotted: string): Bytes {
  const arcs = dotted.split(".").map(Number);
  const [first, second, ...rest] = arcs;
  const bytes: number[] = [];
  for (const arc of [first! * 40 + second!, ...rest]) {
    const groups = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) groups.unshift((value & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return tlv(Tag.Oid, Uint8Array.from(bytes));
}

/**
 * RFC 5280 §4.1.2.5: UTCTime (two-digit year) through 2049, GeneralizedTime from 2050; both in
 * UTC to the second, with Z.
 */
export function time(date: Date): Bytes {
  const iso = date.toISOString(); // 2031-04-05T06:07:08.123Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "") + "Z"; // 20310405060708Z
  const year = date.getUTCFullYear();
  const utc = year >= 1950 && year < 2050;
  return tlv(utc ? Tag.UtcTime : Tag.GeneralizedTime, new TextEncoder().encode(utc ? digits.slice(2) : digits));
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface DerElement {
  tag: number;
  /** The content octets. */
  content: Uint8Array;
  /** The whole element, header included: to copy it into a new structure unchanged. */
  encoded: Uint8Array;
}

/** The element at `offset`; throws DerError naming `what` when the bytes are not a whole element. */
export function readElement(data: Uint8Array, offset: number, what: string): DerElement {
  const fail = (problem: string) => new DerError(`${what}: ${problem} at byte ${offset}`);
  if (offset + 2 > data.length) throw fail("truncated element");
  const tag = data[offset]!;
  if ((tag & 0x1f) === 0x1f) throw fail("multi-byte tags are not used in certificates");
  let length = data[offset + 1]!;
  let headerLength = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw fail("unsupported length encoding");
    if (offset + 2 + count > data.length) throw fail("truncated length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + data[offset + 2 + i]!;
    headerLength += count;
  }
  const end = offset + headerLength + length;
  if (end > data.length) throw fail(`element of ${length} bytes runs past the end`);
  return { tag, content: data.subarray(offset + headerLength, end), encoded: data.subarray(offset, end) };
}

/** The one element that makes up `data` exactly (a whole certificate, a whole key). */
export function readWhole(data: Uint8Array, what: string): DerElement {
  const element = readElement(data, 0, what);
  if (element.encoded.length !== data.length) throw new DerError(`${what}: ${data.length - element.encoded.length} bytes after the end`);
  return element;
}

/** The elements inside a constructed element (SEQUENCE, SET, explicit tag). */
export function children(element: DerElement, what: string): DerElement[] {
  if ((element.tag & 0x20) === 0) throw new DerError(`${what}: expected a constructed element, found tag 0x${element.tag.toString(16)}`);
  const items: DerElement[] = [];
  for (let at = 0; at < element.content.length; ) {
    const item = readElement(element.content, at, what);
    items.push(item);
    at += item.encoded.length;
  }
  return items;
}

/** The dotted form of an OBJECT IDENTIFIER's content. */
export function oidText(content: Uint8Array): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    }
  }
  const [first = 0, ...rest] = arcs;
  const top = Math.min(Math.floor(first / 40), 2);
  return [top, first - top * 40, ...rest].join(".");
}

/** A UTCTime or GeneralizedTime (`…Z` form, as RFC 5280 requires) as a Date. */
export function readTime(element: DerElement, what: string): Date {
  const text = new TextDecoder().decode(element.content);
  const match = element.tag === Tag.UtcTime ? /^(\d\d)(\d{10})Z$/.exec(text) : element.tag === Tag.GeneralizedTime ? /^(\d{4})(\d{10})Z$/.exec(text) : null;
  if (!match) throw new DerError(`${what}: not a UTC time: ${JSON.stringify(text)}`);
  let year = Number(match[1]);
  if (match[1]!.length === 2) year += year < 50 ? 2000 : 1900;
  const [mo, d, h, mi, s] = match[2]!.match(/\d\d/g)!.map(Number);
  return new Date(Date.UTC(year, mo! - 1, d, h, mi, s));
}
