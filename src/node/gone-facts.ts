// Membership verdicts as versioned facts (issue #18). Since protocol 4 heartbeats travel only where
// two nodes' summaries differ, so a node learns that another is gone from the node's monitors
// alone: their verdict frames (membership/verdicts.ts) and, for the nodes those miss (cut off,
// stalled, joined later), this fact. A monitor that convicts a node on its own evidence, or hears
// its LEAVE, writes "gone/<name>" = the node's generation in its own reserved group. The entry has
// a version and travels by anti-entropy like any write, so every node converges on it; each one
// that holds the node alive at that generation checks it for itself (Membership.verdictFact). It
// expires after deadRemovalMs: by then every node has removed the node anyway.

import type { Membership } from "../membership/membership.ts";
import { type ClusterState, type EncodedValue, type EntrySnapshot, RESERVED_GROUP, ValueType, decodeValue, encodeValue } from "../state/index.ts";

const KEY_PREFIX = "gone/";

export interface GoneFact {
  node: string;
  generation: number;
}

export function goneKey(target: string): string {
  return `${KEY_PREFIX}${target}`;
}

export function encodeGone(generation: number): EncodedValue {
  return encodeValue(BigInt(generation), ValueType.Int64);
}

/** The fact a reserved entry holds, or null when the key is not a gone fact or its value is malformed. */
export function decodeGone(key: string, snapshot: EntrySnapshot): GoneFact | null {
  if (!key.startsWith(KEY_PREFIX)) return null;
  try {
    const value = decodeValue(snapshot.valueType, snapshot.value);
    if (typeof value !== "bigint" || value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) return null;
    return { node: key.slice(KEY_PREFIX.length), generation: Number(value) };
  } catch {
    return null;
  }
}

/** Writes this node's fact that `name` at `generation` is gone, kept `ttlMs`; returns its key (to announce). */
export function writeGone(state: ClusterState, name: string, generation: number, ttlMs: number): string {
  const key = goneKey(name);
  state.set(RESERVED_GROUP, key, encodeGone(generation), ttlMs);
  return key;
}

/** A peer's reserved entry: when it is a gone fact, membership checks it (Membership.verdictFact). */
export function applyGone(membership: Membership | null, key: string, snapshot: EntrySnapshot): void {
  const fact = decodeGone(key, snapshot);
  if (fact) membership?.verdictFact(fact.node, fact.generation);
}
