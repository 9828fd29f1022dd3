// Typed entry values. On the wire and in state a value is bytes plus a type code; these helpers
// turn application values into that form and back.

export const ValueType = {
  String: 0,
  Bytes: 1,
  Int64: 2,
  Float64: 3,
  Bool: 4,
  Json: 5,
} as const;
export type ValueType = (typeof ValueType)[keyof typeof ValueType];

export type ValueTypeName = "string" | "bytes" | "int" | "float" | "bool" | "json";

export const valueTypeNames: Record<ValueType, ValueTypeName> = {
  [ValueType.String]: "string",
  [ValueType.Bytes]: "bytes",
  [ValueType.Int64]: "int",
  [ValueType.Float64]: "float",
  [ValueType.Bool]: "bool",
  [ValueType.Json]: "json",
};

export function isKnownValueType(type: number): type is ValueType {
  return type >= ValueType.String && type <= ValueType.Json;
}

/** A value as the application sees it. JSON values are any JSON-serialisable data. */
export type Value = string | Uint8Array | bigint | number | boolean | JsonValue;
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface EncodedValue {
  type: ValueType;
  bytes: Uint8Array;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * Encodes an application value. Without an explicit type: strings are strings, Uint8Arrays are
 * bytes, bigints are int64, numbers are float64, booleans are bools, anything else is JSON.
 */
export function encodeValue(value: Value, type?: ValueType): EncodedValue {
  const resolved = type ?? inferValueType(value);
  switch (resolved) {
    case ValueType.String:
      if (typeof value !== "string") throw new TypeError(`value of type string must be a string, got ${describe(value)}`);
      // UTF-8 cannot carry a lone surrogate: it would be stored and sent as U+FFFD, another string.
      if (!value.isWellFormed()) throw new TypeError("value of type string contains a lone UTF-16 surrogate");
      return { type: resolved, bytes: utf8Encoder.encode(value) };
    case ValueType.Bytes:
      if (!(value instanceof Uint8Array)) throw new TypeError(`value of type bytes must be a Uint8Array, got ${describe(value)}`);
      return { type: resolved, bytes: value.slice() };
    case ValueType.Int64: {
      const big = typeof value === "number" && Number.isInteger(value) ? BigInt(value) : value;
      if (typeof big !== "bigint") throw new TypeError(`value of type int must be a bigint or an integer number, got ${describe(value)}`);
      if (big < -(2n ** 63n) || big >= 2n ** 63n) throw new RangeError(`int value ${big} is outside the signed 64-bit range`);
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigInt64(0, big);
      return { type: resolved, bytes };
    }
    case ValueType.Float64: {
      if (typeof value !== "number") throw new TypeError(`value of type float must be a number, got ${describe(value)}`);
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setFloat64(0, value);
      return { type: resolved, bytes };
    }
    case ValueType.Bool:
      if (typeof value !== "boolean") throw new TypeError(`value of type bool must be a boolean, got ${describe(value)}`);
      return { type: resolved, bytes: new Uint8Array([value ? 1 : 0]) };
    case ValueType.Json: {
      const text = JSON.stringify(value);
      if (text === undefined) throw new TypeError(`value of type json must be JSON-serialisable, got ${describe(value)}`);
      return { type: resolved, bytes: utf8Encoder.encode(text) };
    }
  }
}

function inferValueType(value: Value): ValueType {
  if (typeof value === "string") return ValueType.String;
  if (value instanceof Uint8Array) return ValueType.Bytes;
  if (typeof value === "bigint") return ValueType.Int64;
  if (typeof value === "number") return ValueType.Float64;
  if (typeof value === "boolean") return ValueType.Bool;
  return ValueType.Json;
}

/** Decodes stored bytes back to the application value. Malformed bytes throw a TypeError. */
export function decodeValue(type: ValueType, bytes: Uint8Array): Value {
  switch (type) {
    case ValueType.String:
      return utf8Decoder.decode(bytes);
    case ValueType.Bytes:
      return bytes;
    case ValueType.Int64:
      expectLength(bytes, 8, "int");
      return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0);
    case ValueType.Float64:
      expectLength(bytes, 8, "float");
      return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0);
    case ValueType.Bool:
      expectLength(bytes, 1, "bool");
      return bytes[0] !== 0;
    case ValueType.Json:
      return JSON.parse(utf8Decoder.decode(bytes)) as JsonValue;
  }
}

function expectLength(bytes: Uint8Array, length: number, typeName: string): void {
  if (bytes.length !== length) throw new TypeError(`${typeName} value must be ${length} bytes, got ${bytes.length}`);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (value instanceof Uint8Array) return "Uint8Array";
  return typeof value;
}
