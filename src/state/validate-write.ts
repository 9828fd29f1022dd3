// Checks a local write completely before anything is stored. A write that is stored but cannot be
// encoded would poison this node: every message that carries it would fail to encode, so none of
// its later writes would reach any peer. So every part the wire carries is checked here, up front:
// group and key (well-formed UTF-16, sizes), the value's type code, and the TTL's range.

import type { StateLimits } from "./cluster-state.ts";
import { isKnownValueType, type EncodedValue } from "./values.ts";

/** A write refused before it was applied: nothing changed. */
export class WriteError extends Error {
  override readonly name = "WriteError";
}

/**
 * The longest TTL: a year. Far beyond any sensible expiry, and small enough that wall time + ttl
 * stays an exact integer below 2^53 (the wire's varuint range for expiresAt) for millennia.
 */
export const MAX_TTL_MS = 365 * 24 * 3600 * 1000;

/** Limits a user write is held to; reserved (internal) writes skip them, never the wire checks. */
export type UserLimits = Pick<StateLimits, "maxKeyBytes" | "maxValueBytes">;

/**
 * Throws WriteError naming the argument and the problem when a set() could not be stored and
 * sent as given. `limits` is null for the reserved group's internal writes.
 */
export function validateWrite(group: string, key: string, value: EncodedValue, ttlMs: number | undefined, limits: UserLimits | null): void {
  validateName("group", group, limits);
  validateName("key", key, limits);
  if (!isKnownValueType(value.type)) throw new WriteError(`value type ${String(value.type)} for ${group}/${key} is not a known value type`);
  if (limits && value.bytes.length > limits.maxValueBytes) {
    throw new WriteError(`value of ${value.bytes.length} bytes for ${group}/${key} exceeds ${limits.maxValueBytes} bytes (maxValueBytes)`);
  }
  if (ttlMs !== undefined && !(typeof ttlMs === "number" && ttlMs > 0 && ttlMs <= MAX_TTL_MS)) {
    throw new WriteError(`ttl must be a positive number of milliseconds, at most ${MAX_TTL_MS} (a year), got ${String(ttlMs)}`);
  }
}


function validateName(what: "group" | "key", text: string, limits: UserLimits | null): void {
  if (typeof text !== "string") throw new WriteError(`${what} must be a string, got ${typeof text}`);
  // A lone surrogate would silently become U+FFFD in UTF-8, or fail to encode at all.
  if (!text.isWellFormed()) throw new WriteError(`${what} ${preview(text)} contains a lone UTF-16 surrogate`);
  if (limits === null) return;
  if (text.length === 0) throw new WriteError(`${what} must not be empty`);
  if (Buffer.byteLength(text) > limits.maxKeyBytes) throw new WriteError(`${what} "${text.slice(0, 40)}…" is longer than ${limits.maxKeyBytes} bytes (maxKeyBytes)`);
}

/** A string for an error message: JSON-quoted, cut at 40 characters, lone surrogates escaped. */
function preview(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
