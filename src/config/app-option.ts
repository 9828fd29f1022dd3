// The `app` option: free-form application settings, held to plain JSON (finite numbers, plain
// objects, at most MAX_APP_DEPTH levels, MAX_APP_JSON_BYTES as JSON) so that every node can
// gossip and parse what one node was given.

import type { JsonValue } from "../state/values.ts";
import { utf8Bytes, type OptionsIssue } from "./options-error.ts";

export type JsonObject = { [key: string]: JsonValue };

const MAX_APP_JSON_BYTES = 65536;
const MAX_APP_DEPTH = 32;
const JSON_VALUE_EXPECTED = "a JSON value (string, finite number, boolean, null, array or object)";
export const APP_EXPECTED = `a JSON object of at most ${MAX_APP_JSON_BYTES} bytes`;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

interface NonJson {
  path: string;
  value: unknown;
  expected: string;
}

/** The first place inside `value` that is not plain JSON (or is nested too deep), or null. */
function findNonJson(value: unknown, path: string, depth: number): NonJson | null {
  if (value === null || typeof value === "string" || typeof value === "boolean") return null;
  if (typeof value === "number") return Number.isFinite(value) ? null : { path, value, expected: JSON_VALUE_EXPECTED };
  if (depth > MAX_APP_DEPTH) return { path, value, expected: `JSON nested at most ${MAX_APP_DEPTH} levels deep` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findNonJson(value[i], `${path}[${i}]`, depth + 1);
      if (found) return found;
    }
    return null;
  }
  if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      const found = findNonJson(item, `${path}.${key}`, depth + 1);
      if (found) return found;
    }
    return null;
  }
  return { path, value, expected: JSON_VALUE_EXPECTED };
}

export function appIssue(value: unknown): OptionsIssue | null {
  if (!isPlainObject(value)) return { path: "app", value, expected: APP_EXPECTED };
  const bad = findNonJson(value, "app", 0);
  if (bad) return bad;
  if (utf8Bytes(JSON.stringify(value)) > MAX_APP_JSON_BYTES) return { path: "app", value, expected: APP_EXPECTED };
  return null;
}
