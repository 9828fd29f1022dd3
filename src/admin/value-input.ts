// Turns the body of PUT /v1/keys/{group}/{key}?type=… into a typed value. The body is the value
// itself, not a JSON wrapper, so `curl --data-binary @file` stores a file as is:
//   string  UTF-8 text            bytes  raw bytes
//   int     decimal digits, optional sign, signed 64-bit range
//   float   a decimal number, or NaN, Infinity, -Infinity (the forms GET shows)
//   bool    true or false         json   any JSON document

import { type Value, ValueType, type ValueTypeName } from "../state/index.ts";
import { HttpError, decodeUtf8 } from "./http.ts";

export const valueTypeByName: Record<ValueTypeName, ValueType> = {
  string: ValueType.String,
  bytes: ValueType.Bytes,
  int: ValueType.Int64,
  float: ValueType.Float64,
  bool: ValueType.Bool,
  json: ValueType.Json,
};

const TYPE_NAMES = Object.keys(valueTypeByName) as ValueTypeName[];

export function parseTypeName(text: string | null): ValueTypeName {
  if (text === null) return "string";
  if ((TYPE_NAMES as string[]).includes(text)) return text as ValueTypeName;
  throw new HttpError(400, `type must be one of ${TYPE_NAMES.join(", ")}; got ${JSON.stringify(text.slice(0, 40))}`);
}

const INT_PATTERN = /^[+-]?\d{1,20}$/;
const FLOAT_PATTERN = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^(NaN|[+-]?Infinity)$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export function parseValue(type: ValueTypeName, body: Uint8Array): Value {
  if (type === "bytes") return body;
  const text = decodeUtf8(body, `a ${type} value`);
  switch (type) {
    case "string":
      return text;
    case "int": {
      const trimmed = text.trim();
      if (!INT_PATTERN.test(trimmed)) throw new HttpError(400, `an int value must be decimal digits with an optional sign; got ${preview(text)}`);
      const value = BigInt(trimmed);
      if (value < INT64_MIN || value > INT64_MAX) throw new HttpError(400, `int value ${trimmed} is outside the signed 64-bit range`);
      return value;
    }
    case "float": {
      const trimmed = text.trim();
      if (!FLOAT_PATTERN.test(trimmed)) throw new HttpError(400, `a float value must be a decimal number, NaN, Infinity or -Infinity; got ${preview(text)}`);
      return Number(trimmed);
    }
    case "bool": {
      const trimmed = text.trim();
      if (trimmed === "true") return true;
      if (trimmed === "false") return false;
      throw new HttpError(400, `a bool value must be true or false; got ${preview(text)}`);
    }
    case "json":
      try {
        return JSON.parse(text) as Value;
      } catch (error) {
        throw new HttpError(400, `a json value must be a JSON document: ${(error as Error).message}`);
      }
  }
}

// A year: far beyond any sensible expiry, and small enough that wall time + ttl stays exact.
const MAX_TTL_MS = 365 * 24 * 3600 * 1000;

/** A TTL in milliseconds from ?ttl=, or undefined when absent. */
export function parseTtl(text: string | null): number | undefined {
  if (text === null) return undefined;
  const ttl = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!(ttl >= 1 && ttl <= MAX_TTL_MS)) throw new HttpError(400, `ttl must be a whole number of milliseconds from 1 to ${MAX_TTL_MS}; got ${preview(text)}`);
  return ttl;
}

function preview(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
