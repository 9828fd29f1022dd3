// Applies digests and deltas received from peers. An entry is applied only when it is newer than
// what we hold; each applied change yields exactly one change record; a node delta that cannot be
// applied safely (older generation, a gap after our max version) is skipped whole and counted,
// and never stops the rest of the message.

import type { DigestEntry, NodeDelta, WireEntry } from "../codec/index.ts";
import type { ChangeRecord } from "./changes.ts";
import { changeRecord, type ClusterState } from "./cluster-state.ts";
import { entryId, NodeState, type Entry } from "./node-state.ts";
import { isKnownValueType } from "./values.ts";

export interface DigestOutcome {
  /** Nodes whose heartbeat counter advanced (same generation), for the failure detector. */
  heartbeats: string[];
  /** Nodes seen for the first time, or with a new generation. */
  discovered: string[];
  /**
   * Entries of an older generation that a new, still empty, generation dropped ("deleted"). No
   * delta would ever finish such a replacement: selection sends nothing for a node without entries.
   */
  changes: ChangeRecord[];
}

/** Learns heartbeats and new nodes (or generations) from a peer's digest. */
export function applyDigest(state: ClusterState, digest: readonly DigestEntry[]): DigestOutcome {
  const outcome: DigestOutcome = { heartbeats: [], discovered: [], changes: [] };
  for (const seen of digest) {
    if (seen.node === state.selfName) continue;
    if (state.isRemoved(seen.node, seen.generation)) continue;
    let node = state.nodes.get(seen.node);
    if (!node) {
      node = new NodeState(seen.node, seen.generation);
      state.nodes.set(seen.node, node);
      node.heartbeat = seen.heartbeat;
      outcome.discovered.push(seen.node);
      continue;
    }
    if (seen.generation > node.generation) {
      node.beginReplacement(seen.generation, 0, seen.maxVersion);
      node.heartbeat = seen.heartbeat;
      outcome.discovered.push(seen.node);
      finishReplacement(node, outcome.changes);
      continue;
    }
    if (seen.generation === node.generation && seen.heartbeat > node.heartbeat) {
      node.heartbeat = seen.heartbeat;
      outcome.heartbeats.push(seen.node);
    }
  }
  return outcome;
}

export interface MergeOutcome {
  changes: ChangeRecord[];
  /** Entries applied (each also produced one change record unless it changed nothing visible). */
  applied: number;
  /** Entries or node deltas skipped: stale, from an older generation, gapped, or malformed. */
  skipped: number;
  /** Nodes seen for the first time. */
  discovered: string[];
}

export function mergeDeltas(state: ClusterState, deltas: readonly NodeDelta[]): MergeOutcome {
  const outcome: MergeOutcome = { changes: [], applied: 0, skipped: 0, discovered: [] };
  for (const delta of deltas) {
    try {
      mergeNodeDelta(state, delta, outcome);
    } catch {
      // A delta that breaks an invariant (bad value bytes, say) must not stop the others.
      outcome.skipped += delta.entries.length;
    }
  }
  return outcome;
}

function mergeNodeDelta(state: ClusterState, delta: NodeDelta, outcome: MergeOutcome): void {
  if (delta.node === state.selfName || state.isRemoved(delta.node, delta.generation)) {
    outcome.skipped += delta.entries.length;
    return;
  }
  let node = state.nodes.get(delta.node);
  if (!node) {
    node = new NodeState(delta.node, delta.generation);
    state.nodes.set(delta.node, node);
    outcome.discovered.push(delta.node);
  }
  if (delta.generation < node.generation) {
    outcome.skipped += delta.entries.length;
    return;
  }
  const missedCollection = delta.collectedUpTo > node.collectedUpTo && node.maxVersion < delta.collectedUpTo;
  if (delta.generation > node.generation || (delta.fromVersion === 0 && missedCollection && node.maxVersion > 0)) {
    node.beginReplacement(delta.generation, delta.collectedUpTo, delta.maxVersion);
  } else if (delta.fromVersion === 0 && missedCollection) {
    node.collectedUpTo = delta.collectedUpTo;
  }
  if (delta.fromVersion > node.maxVersion) {
    // Applying would leave a hole below our max version; anti-entropy will fill it in order.
    outcome.skipped += delta.entries.length;
    return;
  }
  if (delta.collectedUpTo > node.collectedUpTo && node.maxVersion >= delta.collectedUpTo) node.collectedUpTo = delta.collectedUpTo;
  const now = state.clock.now();
  for (const wire of delta.entries) {
    if (wire.version <= node.maxVersion || !isKnownValueType(wire.valueType)) {
      outcome.skipped++;
      continue;
    }
    const change = applyEntry(node, wire, now);
    outcome.applied++;
    if (change) outcome.changes.push(change);
  }
  finishReplacement(node, outcome.changes);
}

function applyEntry(node: NodeState, wire: WireEntry, now: number): ChangeRecord | null {
  const id = entryId(wire.group, wire.key);
  const fromCurrent = node.entries.get(id);
  const existing = fromCurrent ?? node.replaced?.get(id);
  const entry: Entry = {
    group: wire.group,
    key: wire.key,
    // A view into the received frame: the frame buffer is ours and never reused, so no copy.
    value: wire.value,
    valueType: wire.valueType as Entry["valueType"],
    version: wire.version,
    deleted: wire.deleted,
  };
  if (wire.expiresAt !== undefined) entry.expiresAt = wire.expiresAt;
  if (wire.deleted) entry.deletedAt = now;
  node.put(id, entry);
  node.replaced?.delete(id);
  const existingLive = existing !== undefined && !existing.deleted;
  if (entry.deleted) return existingLive ? changeRecord("deleted", node.name, existing, existing, false) : null;
  if (!existingLive) return changeRecord("added", node.name, entry, undefined, false);
  // Copies from a replaced generation carry versions of another counter: compare contents.
  if (!fromCurrent && sameContent(existing, entry)) return null;
  return changeRecord("updated", node.name, entry, existing, false);
}

/** Once the fresh state caught up, keys that did not come back were deleted meanwhile. */
function finishReplacement(node: NodeState, changes: ChangeRecord[]): void {
  if (!node.replaced || node.maxVersion < node.replacedUntil) return;
  for (const entry of node.replaced.values()) {
    if (!entry.deleted) changes.push(changeRecord("deleted", node.name, entry, entry, false));
  }
  node.replaced = null;
  node.replacedUntil = 0;
}

function sameContent(a: Entry, b: Entry): boolean {
  if (a.valueType !== b.valueType || a.deleted !== b.deleted || a.value.length !== b.value.length) return false;
  for (let i = 0; i < a.value.length; i++) if (a.value[i] !== b.value[i]) return false;
  return true;
}
