// JSON as the admin API writes it. Values JSON cannot carry get one fixed form, the same in every
// response and event, so a client decodes them by the entry's type alone:
//   int (bigint)        → a string of digits, always, even when small ("42"): one form per type
//                         beats "a number when it happens to be safe", which breaks the day a
//                         counter passes 2^53.
//   bytes (Uint8Array)  → base64 (standard alphabet, padded).
//   non-finite numbers  → "NaN", "Infinity", "-Infinity" (floats may hold them; JSON cannot).
//   Error               → {name, message}.

import { type EntrySnapshot, type ValueTypeName, decodeValue, valueTypeNames } from "../state/index.ts";

export function toJson(value: unknown): string {
  return JSON.stringify(value, replaceUnrepresentable);
}

// Reads the holder's raw property: `value` has been through toJSON already, and Buffer's toJSON
// would turn bytes into {type: "Buffer", data: [...]}.
function replaceUnrepresentable(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  if (raw instanceof Uint8Array) return base64(raw);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** An entry as GET /v1/state shows it. */
export interface EntryJson {
  value: unknown;
  type: ValueTypeName;
  version: number;
  /** Wall-clock ms at which the entry expires on every node; absent without a TTL. */
  expiresAt?: number;
  /** Present instead of a meaningful value when the stored bytes do not decode as their type. */
  error?: string;
}

/**
 * Decodes a stored entry for output. A peer can gossip bytes that do not decode as the type it
 * claims (a JSON entry that is not JSON); that entry is shown with an error, and the rest of the
 * response is unaffected.
 */
export function entryJson(entry: EntrySnapshot & { readonly expiresAt?: number | undefined }): EntryJson {
  const type = valueTypeNames[entry.valueType];
  const expiry = entry.expiresAt === undefined ? {} : { expiresAt: entry.expiresAt };
  try {
    return { value: decodeValue(entry.valueType, entry.value), type, version: entry.version, ...expiry };
  } catch (error) {
    return { value: null, type, version: entry.version, ...expiry, error: `stored value does not decode as ${type}: ${(error as Error).message}` };
  }
}
