// The subset of MessagePack that Serf's RPC protocol needs (scripts/bench/serf-rpc.ts), written
// here because the project has no msgpack dependency and a benchmark must not add one.
//
// Encoding covers what our requests contain: maps with string keys, strings, integers, booleans,
// arrays and nil. Decoding covers every type a Go agent may send (go-msgpack writes str, bin, the
// int and uint widths, floats, maps, arrays and ext), so an unexpected field never stalls the
// stream: ext values are skipped as raw bytes rather than refused.

export type MsgValue = null | boolean | number | string | Uint8Array | MsgValue[] | { [key: string]: MsgValue };

/** Thrown when the buffer ends inside a value: the caller waits for more bytes and retries. */
export class Incomplete extends Error {
  constructor() {
    super("incomplete msgpack value");
  }
}

const utf8 = new TextEncoder();
// Not fatal: a Go string is any bytes; a stray invalid byte must not break the RPC stream.
const utf8Decoder = new TextDecoder("utf-8", { fatal: false });

export function encode(value: MsgValue): Uint8Array {
  const out: number[] = [];
  write(value, out);
  return Uint8Array.from(out);
}

function pushUint(out: number[], value: number, bytes: number): void {
  for (let shift = (bytes - 1) * 8; shift >= 0; shift -= 8) out.push(Math.floor(value / 2 ** shift) & 0xff);
}

function writeLength(out: number[], length: number, fix: number, fixMax: number, op8: number | null, op16: number, op32: number): void {
  if (length <= fixMax) out.push(fix | length);
  else if (op8 !== null && length <= 0xff) out.push(op8, length);
  else if (length <= 0xffff) (out.push(op16), pushUint(out, length, 2));
  else (out.push(op32), pushUint(out, length, 4));
}

function write(value: MsgValue, out: number[]): void {
  if (value === null) out.push(0xc0);
  else if (typeof value === "boolean") out.push(value ? 0xc3 : 0xc2);
  else if (typeof value === "number") writeNumber(value, out);
  else if (typeof value === "string") {
    const bytes = utf8.encode(value);
    writeLength(out, bytes.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
    for (const byte of bytes) out.push(byte);
  } else if (value instanceof Uint8Array) {
    writeLength(out, value.length, 0xc4, -1, 0xc4, 0xc5, 0xc6);
    for (const byte of value) out.push(byte);
  } else if (Array.isArray(value)) {
    writeLength(out, value.length, 0x90, 15, null, 0xdc, 0xdd);
    for (const item of value) write(item, out);
  } else {
    const entries = Object.entries(value);
    writeLength(out, entries.length, 0x80, 15, null, 0xde, 0xdf);
    for (const [key, item] of entries) {
      write(key, out);
      write(item, out);
    }
  }
}

function writeNumber(value: number, out: number[]): void {
  if (!Number.isSafeInteger(value)) {
    out.push(0xcb);
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, value);
    for (let i = 0; i < 8; i++) out.push(view.getUint8(i));
  } else if (value >= 0) {
    if (value < 0x80) out.push(value);
    else if (value <= 0xff) out.push(0xcc, value);
    else if (value <= 0xffff) (out.push(0xcd), pushUint(out, value, 2));
    else if (value <= 0xffffffff) (out.push(0xce), pushUint(out, value, 4));
    else (out.push(0xcf), pushUint(out, value, 8));
  } else if (value >= -32) out.push(value & 0xff);
  else {
    // Only small negatives occur in our requests; int64 covers the rest without width tuning.
    out.push(0xd3);
    const view = new DataView(new ArrayBuffer(8));
    view.setBigInt64(0, BigInt(value));
    for (let i = 0; i < 8; i++) out.push(view.getUint8(i));
  }
}

/** Decodes one value at `offset`; returns it and the offset after it, or throws Incomplete. */
export function decode(buffer: Uint8Array, offset: number): { value: MsgValue; next: number } {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const state = { at: offset };
  const value = read(buffer, view, state);
  return { value, next: state.at };
}

function need(buffer: Uint8Array, at: number, bytes: number): void {
  if (at + bytes > buffer.length) throw new Incomplete();
}

function read(buffer: Uint8Array, view: DataView, state: { at: number }): MsgValue {
  need(buffer, state.at, 1);
  const op = buffer[state.at++]!;
  const take = (bytes: number): number => {
    need(buffer, state.at, bytes);
    const at = state.at;
    state.at += bytes;
    return at;
  };
  const uint = (bytes: number): number => {
    const at = take(bytes);
    if (bytes === 1) return view.getUint8(at);
    if (bytes === 2) return view.getUint16(at);
    if (bytes === 4) return view.getUint32(at);
    return Number(view.getBigUint64(at));
  };
  const int = (bytes: number): number => {
    const at = take(bytes);
    if (bytes === 1) return view.getInt8(at);
    if (bytes === 2) return view.getInt16(at);
    if (bytes === 4) return view.getInt32(at);
    return Number(view.getBigInt64(at));
  };
  const str = (length: number): string => {
    const at = take(length);
    return utf8Decoder.decode(buffer.subarray(at, at + length));
  };
  const bin = (length: number): Uint8Array => {
    const at = take(length);
    return buffer.slice(at, at + length);
  };
  const array = (length: number): MsgValue[] => {
    const items: MsgValue[] = [];
    for (let i = 0; i < length; i++) items.push(read(buffer, view, state));
    return items;
  };
  const map = (length: number): { [key: string]: MsgValue } => {
    const result: { [key: string]: MsgValue } = {};
    for (let i = 0; i < length; i++) {
      const key = read(buffer, view, state);
      const item = read(buffer, view, state);
      result[typeof key === "string" ? key : key instanceof Uint8Array ? utf8Decoder.decode(key) : String(key)] = item;
    }
    return result;
  };
  const ext = (length: number): Uint8Array => {
    take(1); // the ext type byte: no ext is meaningful to the benchmark
    return bin(length);
  };

  if (op <= 0x7f) return op;
  if (op <= 0x8f) return map(op & 0x0f);
  if (op <= 0x9f) return array(op & 0x0f);
  if (op <= 0xbf) return str(op & 0x1f);
  if (op >= 0xe0) return op - 0x100;
  switch (op) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return bin(uint(1));
    case 0xc5:
      return bin(uint(2));
    case 0xc6:
      return bin(uint(4));
    case 0xc7:
      return ext(uint(1));
    case 0xc8:
      return ext(uint(2));
    case 0xc9:
      return ext(uint(4));
    case 0xca:
      return view.getFloat32(take(4));
    case 0xcb:
      return view.getFloat64(take(8));
    case 0xcc:
      return uint(1);
    case 0xcd:
      return uint(2);
    case 0xce:
      return uint(4);
    case 0xcf:
      return uint(8);
    case 0xd0:
      return int(1);
    case 0xd1:
      return int(2);
    case 0xd2:
      return int(4);
    case 0xd3:
      return int(8);
    case 0xd4:
      return ext(1);
    case 0xd5:
      return ext(2);
    case 0xd6:
      return ext(4);
    case 0xd7:
      return ext(8);
    case 0xd8:
      return ext(16);
    case 0xd9:
      return str(uint(1));
    case 0xda:
      return str(uint(2));
    case 0xdb:
      return str(uint(4));
    case 0xdc:
      return array(uint(2));
    case 0xdd:
      return array(uint(4));
    case 0xde:
      return map(uint(2));
    case 0xdf:
      return map(uint(4));
    default:
      throw new Error(`msgpack: unknown type byte 0x${op.toString(16)}`);
  }
}

/** `a` then `b` in a new array: what a stream reader keeps while a value is incomplete. */
export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return joined;
}
