// Applies digests and deltas received from peers. An entry is applied only when it is newer than
// what we hold, by version alone (its writtenAt is carried along, never compared); each applied
// change yields exactly one change record; a node delta that cannot be applied safely (older
// generation, a gap after our max version) is skipped whole and counted, and never stops the rest
// of the message.
//
// maxEntriesPerNode holds for remote nodes too, or one peer could make this node hold millions of
// entries of a node (as one did: 1.5 M entries, 644 MB, event-loop stalls of seconds). An entry
// that would add a live key to a node already holding maxEntriesPerNode live entries is refused;
// so is one that would add a tombstone (or reserved entry) of a key not held to a node already
// holding that many of those. Updates of held keys and deletes of live ones always apply, so no
// deleted key ever comes back. A refusal is permanent: the node's max version moves past the
// refused entry, or every round would offer it again and nothing after it would ever apply. The
// key arrives again with its origin's next write of it, when there is room then.

import { type DigestEntry, isValidNodeName, type NodeDelta, type WireEntry } from "../codec/index.ts";
import type { ChangeRecord } from "./changes.ts";
import { changeRecord, type ClusterState } from "./cluster-state.ts";
import { PROBATION_ENTRIES } from "./probation.ts";
import type { MemberTable } from "./member-table.ts";
import { entryId, type Entry, type NodeState } from "./node-state.ts";
import { RESERVED_GROUP } from "./reserved.ts";
import { isKnownValueType } from "./values.ts";

export interface DigestOutcome {
  /**
   * Nodes whose heartbeat counter advanced (same generation), for the failure detector; among
   * them nodes removed as dead that are readmitted (ClusterState.readmit), unknown to it by now.
   */
  heartbeats: string[];
  /** Nodes seen for the first time, or with a new generation. */
  discovered: string[];
  /**
   * Entries of an older generation dropped by a new generation that has none ("deleted"), and the
   * live entries of a readmitted node, held again ("added").
   */
  changes: ChangeRecord[];
  /** Unknown names that break the node-name rule, never learned (nodeNameProblem() says why, for the log). */
  invalidNames: string[];
  /** Unknown names not learned this time: past the member limits (probation.ts). */
  refusedNames: number;
}

/**
 * Heartbeats of a new generation after which, if still no report of it carries any version, it is
 * taken to have no entries and its older generation's entries are dropped. No delta would ever end
 * that replacement (there is nothing to send for a node without versions), and ending it at once
 * would be wrong too: a peer that has only heard of the new generation also reports it at version
 * 0, before its entries reach it. (Nodes write their reserved entries before they gossip, so in
 * practice this only concerns a ClusterState used on its own, as in the state tests.)
 */
export const EMPTY_GENERATION_HEARTBEATS = 5;

/**
 * Called for every digest entry of a generation this node holds (itself included) that reports
 * versions: the peer holds `maxVersion` of `node` (flow control dates versions by it). Part of the
 * one walk over the digest, so that a large digest is not looked up twice.
 */
export type VersionsSeen = (node: NodeState, maxVersion: number) => void;

/** The version of `node` (at its generation) a digest says its sender holds; undefined when it does not list it. */
export function versionHeldOf(digest: readonly DigestEntry[], node: NodeState): number | undefined {
  for (const entry of digest) if (entry.node === node.name) return entry.generation === node.generation ? entry.maxVersion : undefined;
  return undefined;
}

/**
 * Learns heartbeats and new nodes (or generations) from the digest of peer `from`. Probationary
 * names (probation.ts) are held but reported neither as discovered nor by heartbeat: membership
 * learns of one when the peer's own entry vouches for it first-hand.
 */
export function applyDigest(state: ClusterState, digest: readonly DigestEntry[], onVersionsSeen?: VersionsSeen, from = ""): DigestOutcome {
  const outcome: DigestOutcome = { heartbeats: [], discovered: [], changes: [], invalidNames: [], refusedNames: 0 };
  const nodes = state.nodes;
  for (const seen of digest) {
    if (seen.node === state.selfName) {
      seenVersions(state.self, seen, onVersionsSeen);
      continue;
    }
    // A removed node is learned again only when it shows life (a heartbeat past its removal); it
    // then continues below as a node whose heartbeat advanced.
    if (state.isRemoved(seen.node, seen.generation)) {
      const restored = state.readmit(seen.node, seen.generation, seen.heartbeat);
      if (restored === null) continue;
      outcome.changes.push(...restored);
    }
    let slot = nodes.slotOf(seen.node);
    if (slot < 0) {
      // Checked here, where a name is learned, not in the decoder: a digest repeats the same known
      // names every round, and checking each of them there made reading one about 1.6 times slower.
      if (!isValidNodeName(seen.node)) {
        outcome.invalidNames.push(seen.node);
        continue;
      }
      // Heartbeat 0 is how a node lists a name it does not vouch for (probation.ts).
      if (state.options.probation && seen.heartbeat === 0 && seen.node !== from) continue;
      slot = state.learn(seen.node, seen.generation, from);
      if (slot < 0) {
        outcome.refusedNames++;
        continue;
      }
      nodes.setHeartbeatAt(slot, seen.heartbeat);
      reportDiscovered(state, seen.node, outcome.discovered);
      seenVersions(nodes.at(slot)!, seen, onVersionsSeen);
      continue;
    }
    const node = nodes.at(slot)!;
    const shown = seen.node === from ? state.promote(seen.node) : null;
    const promoted = shown !== null;
    if (shown) outcome.changes.push(...shown);
    if (seen.generation > node.generation) {
      replace(nodes, slot, seen.generation, 0, seen.maxVersion);
      nodes.setHeartbeatAt(slot, seen.heartbeat);
      reportDiscovered(state, seen.node, outcome.discovered);
      finishEmptyReplacement(nodes, slot, reported(state, seen.node, outcome.changes));
      seenVersions(nodes.at(slot)!, seen, onVersionsSeen);
      continue;
    }
    if (promoted) outcome.discovered.push(seen.node);
    if (seen.generation !== node.generation) continue;
    if (seen.heartbeat > nodes.heartbeatAt(slot)) {
      nodes.setHeartbeatAt(slot, seen.heartbeat);
      if (!state.isProbationary(seen.node)) outcome.heartbeats.push(seen.node);
    }
    if (node.replaced) {
      // A replacement waits for the highest version anyone reported of the new state.
      if (seen.maxVersion > node.replacedUntil) nodes.writable(slot).replacedUntil = seen.maxVersion;
      finishEmptyReplacement(nodes, slot, reported(state, seen.node, outcome.changes));
    }
    seenVersions(nodes.at(slot)!, seen, onVersionsSeen);
  }
  return outcome;
}

/**
 * Where the change records of `name` go: nowhere for a probationary name (probation.ts), whose
 * entries are held but shown to nobody until first-hand contact (ClusterState.promote then
 * reports them), so a stale copy spread by a node that missed a removal never resurfaces.
 */
function reported(state: ClusterState, name: string, changes: ChangeRecord[]): ChangeRecord[] {
  return state.isProbationary(name) ? [] : changes;
}

/** Membership learns of a member, never of a probationary name. */
function reportDiscovered(state: ClusterState, name: string, discovered: string[]): void {
  if (!state.isProbationary(name)) discovered.push(name);
}

/**
 * Tells `onVersionsSeen` of the digest entry when it reports versions of the generation held.
 * A node without versions has nothing to date; telling of it would cost the caller a record per
 * member and peer that never serves (10^8 of them in a 10,000-node simulation).
 */
function seenVersions(node: NodeState, seen: DigestEntry, onVersionsSeen: VersionsSeen | undefined): void {
  if (onVersionsSeen && seen.maxVersion > 0 && node.generation === seen.generation) onVersionsSeen(node, seen.maxVersion);
}

/** Starts the replacement of the node at `slot` by a newer generation or a full state. */
function replace(nodes: MemberTable, slot: number, generation: number, collectedUpTo: number, targetVersion: number): NodeState {
  const node = nodes.writable(slot);
  // A new incarnation counts heartbeats from scratch; keeping the old count would hide them.
  if (generation !== node.generation) nodes.setHeartbeatAt(slot, 0);
  node.beginReplacement(generation, collectedUpTo, targetVersion);
  return node;
}

/** Ends the replacement of an old generation by a new one that, by now, evidently has no entries. */
function finishEmptyReplacement(nodes: MemberTable, slot: number, changes: ChangeRecord[]): void {
  const node = nodes.at(slot)!;
  if (node.replaced && node.replacedUntil === 0 && node.maxVersion === 0 && nodes.heartbeatAt(slot) >= EMPTY_GENERATION_HEARTBEATS) {
    finishReplacement(nodes.writable(slot), changes);
  }
}

export interface MergeOutcome {
  changes: ChangeRecord[];
  /** Entries applied (each also produced one change record unless it changed nothing visible). */
  applied: number;
  /** Entries or node deltas skipped: stale, from an older generation, gapped, malformed, or refused. */
  skipped: number;
  /** Of the skipped entries, those refused because their node holds maxEntriesPerNode entries already. */
  refused: number;
  /** Nodes with refused entries in this merge, for the log line. */
  refusedNodes: string[];
  /** Nodes seen for the first time, or with a new generation (as DigestOutcome.discovered). */
  discovered: string[];
}

/**
 * Whether mergeDeltas would skip a delta whole before looking at its entries: one of the
 * generation held that starts above the held max version would leave a hole (the check in
 * mergeNodeDelta). The decoder asks it to pass such entries over unread (readDeltas skipsWhole).
 */
export function leavesHole(state: ClusterState, name: string, generation: number, fromVersion: number): boolean {
  const held = state.nodes.get(name);
  return held !== undefined && held.generation === generation && fromVersion > held.maxVersion;
}

/** Applies the deltas peer `from` sent; new nodes among them are learned within the member limits (ClusterState.learn). */
export function mergeDeltas(state: ClusterState, deltas: readonly NodeDelta[], from = ""): MergeOutcome {
  const outcome: MergeOutcome = { changes: [], applied: 0, skipped: 0, refused: 0, refusedNodes: [], discovered: [] };
  for (const delta of deltas) {
    try {
      mergeNodeDelta(state, delta, from, outcome);
    } catch {
      // A delta that breaks an invariant (bad value bytes, say) must not stop the others.
      outcome.skipped += delta.entries.length;
    }
  }
  return outcome;
}

function mergeNodeDelta(state: ClusterState, delta: NodeDelta, from: string, outcome: MergeOutcome): void {
  if (delta.node === state.selfName || state.isRemoved(delta.node, delta.generation)) {
    outcome.skipped += delta.entries.length;
    return;
  }
  const nodes = state.nodes;
  let slot = nodes.slotOf(delta.node);
  if (slot < 0) {
    slot = state.learn(delta.node, delta.generation, from);
    if (slot < 0) {
      outcome.skipped += delta.entries.length;
      return;
    }
    reportDiscovered(state, delta.node, outcome.discovered);
  }
  if (delta.generation < nodes.at(slot)!.generation) {
    outcome.skipped += delta.entries.length;
    return;
  }
  let node = nodes.writable(slot);
  const missedCollection = delta.collectedUpTo > node.collectedUpTo && node.maxVersion < delta.collectedUpTo;
  const restarted = delta.generation > node.generation;
  if (restarted || (delta.fromVersion === 0 && missedCollection && node.maxVersion > 0)) {
    node = replace(nodes, slot, delta.generation, delta.collectedUpTo, delta.maxVersion);
    // A restart heard of first through a delta (an ACK or a push ahead of any digest): the
    // membership must learn of the new generation now, or it would later remove the old one
    // and, with it, the new one this state holds.
    if (restarted) reportDiscovered(state, delta.node, outcome.discovered);
  } else if (delta.fromVersion === 0 && missedCollection) {
    node.collectedUpTo = delta.collectedUpTo;
  }
  if (delta.fromVersion > node.maxVersion) {
    // Applying would leave a hole below our max version; anti-entropy will fill it in order.
    outcome.skipped += delta.entries.length;
    return;
  }
  if (delta.entries.length === 0 && delta.maxVersion > node.maxVersion) {
    // Selection sends a delta without entries only to say it holds nothing above fromVersion up
    // to its max (tombstones collected): we now hold every version up to that max that exists.
    node.maxVersion = delta.maxVersion;
  }
  if (delta.collectedUpTo > node.collectedUpTo && node.maxVersion >= delta.collectedUpTo) node.collectedUpTo = delta.collectedUpTo;
  const now = state.clock.now();
  const wallNow = state.clock.wallNow();
  const cap = state.options.limits.maxEntriesPerNode;
  const refusedBefore = outcome.refused;
  const probationary = state.isProbationary(node.name);
  for (let index = 0; index < delta.entries.length; index++) {
    const wire = delta.entries[index]!;
    if (wire.version <= node.maxVersion || !isKnownValueType(wire.valueType)) {
      outcome.skipped++;
      continue;
    }
    if (probationary && node.entries.size >= PROBATION_ENTRIES && !node.entries.has(entryId(wire.group, wire.key))) {
      // Not refused: the rest waits for first-hand contact (probation.ts), in version order.
      outcome.skipped += delta.entries.length - index;
      break;
    }
    if (overCap(node, wire, cap)) {
      node.maxVersion = wire.version; // refused for good (see the top of this file)
      outcome.skipped++;
      outcome.refused++;
      continue;
    }
    const change = applyEntry(node, wire, now, wallNow);
    outcome.applied++;
    // Reserved entries count even on probation: its address and status are what contact needs.
    if (change && (!probationary || change.group === RESERVED_GROUP)) outcome.changes.push(change);
  }
  if (outcome.refused > refusedBefore) outcome.refusedNodes.push(node.name);
  finishReplacement(node, reported(state, node.name, outcome.changes));
}

/** Whether applying `wire` would add a key to a node that holds maxEntriesPerNode of its kind already. */
function overCap(node: NodeState, wire: WireEntry, cap: number): boolean {
  const addsLive = !wire.deleted && wire.group !== RESERVED_GROUP;
  const held = addsLive ? node.liveUserEntries : node.entries.size - node.liveUserEntries;
  if (held < cap) return false;
  const existing = node.entries.get(entryId(wire.group, wire.key));
  // A held key stays held: a live one updated or deleted, a tombstone replaced. A tombstone coming
  // back to life is a new live key, though.
  return existing === undefined || (addsLive && existing.deleted);
}

function applyEntry(node: NodeState, wire: WireEntry, now: number, wallNow: number): ChangeRecord | null {
  const id = entryId(wire.group, wire.key);
  const fromCurrent = node.entries.get(id);
  const existing = fromCurrent ?? node.replaced?.get(id);
  // Past its deadline already (its owner was frozen, say, and has not swept it): held as the
  // tombstone our own sweep would have made of it, never shown live, not even for a moment.
  const expiredOnArrival = !wire.deleted && wire.expiresAt !== undefined && wallNow >= wire.expiresAt;
  const entry: Entry = {
    group: wire.group,
    key: wire.key,
    // A copy, not a view into the received frame: a view would keep the whole frame alive (a
    // message can be a whole maxGossipBytes) for as long as the entry is held.
    value: expiredOnArrival ? new Uint8Array(0) : new Uint8Array(wire.value),
    valueType: wire.valueType as Entry["valueType"],
    version: wire.version,
    deleted: wire.deleted || expiredOnArrival,
  };
  if (wire.expiresAt !== undefined) entry.expiresAt = wire.expiresAt;
  if (wire.writtenAt !== undefined) entry.writtenAt = wire.writtenAt;
  if (entry.deleted) entry.deletedAt = now;
  node.put(id, entry);
  node.replaced?.delete(id);
  const existingLive = existing !== undefined && !existing.deleted;
  if (entry.deleted) {
    if (!existingLive) return null;
    if (expiredOnArrival) return changeRecord("expired", node.name, existing, existing, false);
    // The origin's expiry tombstone can arrive before our own sweep expires the copy: still an expiry.
    const expired = existing.expiresAt !== undefined && wallNow >= existing.expiresAt;
    return changeRecord(expired ? "expired" : "deleted", node.name, existing, existing, false, entry.writtenAt);
  }
  if (!existingLive) return changeRecord("added", node.name, entry, undefined, false, entry.writtenAt);
  // Copies from a replaced generation carry versions of another counter: compare contents.
  if (!fromCurrent && sameContent(existing, entry)) return null;
  return changeRecord("updated", node.name, entry, existing, false, entry.writtenAt);
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
