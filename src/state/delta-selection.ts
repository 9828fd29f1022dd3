// Chooses what a peer lacks, given its digest and a byte budget (scuttlebutt with scuttle-depth
// ordering): nodes the peer knows nothing of (or only an older generation of) come first, then
// the nodes the peer is furthest behind on. Inside a node, entries go in ascending version and
// stop at the first one that does not fit, so the peer's max version stays a safe floor: it
// holds every surviving version at or below it.

import { type DigestEntry, type NodeDelta, type WireEntry, entrySize, nodeDeltaHeaderSize, varuintSize } from "../codec/index.ts";
import type { ClusterState } from "./cluster-state.ts";
import type { Entry, NodeState } from "./node-state.ts";

interface Candidate {
  node: NodeState;
  fromVersion: number;
  /** Versions the peer lacks; unknown nodes sort first regardless. */
  depth: number;
  unknownToPeer: boolean;
}

export interface SelectionResult {
  deltas: NodeDelta[];
  /** Encoded size of the deltas section, exactly. */
  bytes: number;
  /** Nodes the peer lacks something of that could not be served (in whole or part) in budget. */
  truncated: number;
}

/**
 * Selects deltas for a peer. `budget` is the number of bytes the deltas section may take;
 * `shuffle` orders ties fairly (the engine passes its seeded RNG so runs stay reproducible).
 */
export function selectDeltas(
  state: ClusterState,
  peerDigest: readonly DigestEntry[],
  budget: number,
  shuffle: <T>(items: T[]) => T[],
): SelectionResult {
  const candidates = shuffle(findCandidates(state, peerDigest));
  candidates.sort((a, b) => Number(b.unknownToPeer) - Number(a.unknownToPeer) || b.depth - a.depth);

  const deltas: NodeDelta[] = [];
  // The node count prefix grows with the count; reserve its largest possible size up front (a
  // node takes at most two deltas, see fillNodeDelta).
  const reserved = varuintSize(2 * candidates.length);
  let used = reserved;
  let truncated = 0;
  for (const candidate of candidates) {
    const filled = fillNodeDelta(candidate, budget - used);
    if (!filled) {
      truncated++;
      continue;
    }
    if (!filled.complete) truncated++;
    used += filled.bytes;
    deltas.push(...filled.deltas);
  }
  return { deltas, bytes: used - reserved + varuintSize(deltas.length), truncated };
}

/** Stamps nodes seen in the current peer digest, instead of building a map per exchange. */
let selectionEpoch = 0;

function findCandidates(state: ClusterState, peerDigest: readonly DigestEntry[]): Candidate[] {
  const epoch = ++selectionEpoch;
  const candidates: Candidate[] = [];
  let matched = 0;
  for (const peer of peerDigest) {
    const node = state.nodes.get(peer.node);
    if (!node || node.selectionMark === epoch) continue; // unknown to us, or listed twice
    node.selectionMark = epoch;
    matched++;
    if (node.maxVersion === 0) continue; // nothing to send for a node with no entries
    if (peer.generation < node.generation) {
      candidates.push({ node, fromVersion: 0, depth: node.maxVersion, unknownToPeer: true });
      continue;
    }
    if (peer.generation > node.generation || peer.maxVersion >= node.maxVersion) continue;
    const peerMissedCollection = peer.maxVersion < node.collectedUpTo && peer.collectedUpTo < node.collectedUpTo;
    const fromVersion = peerMissedCollection ? 0 : peer.maxVersion;
    candidates.push({ node, fromVersion, depth: node.maxVersion - peer.maxVersion, unknownToPeer: false });
  }
  if (matched < state.nodes.size) {
    for (const node of state.nodes.values()) {
      if (node.selectionMark !== epoch && node.maxVersion > 0) {
        candidates.push({ node, fromVersion: 0, depth: node.maxVersion, unknownToPeer: true });
      }
    }
  }
  return candidates;
}

/**
 * The node's entries above fromVersion that fit in `room`, in ascending version order; null when
 * not even the first one does.
 *
 * When every entry was sent but the last one is below the node's max version (the versions above
 * it were tombstones, collected since), a second delta without entries follows, from the last
 * version sent: "nothing else up to maxVersion". The peer then moves its max version up to ours
 * (and can finish a replacement waiting for that version) instead of staying behind for good.
 * Only selection sends deltas without entries, and only with that meaning.
 */
function fillNodeDelta(candidate: Candidate, room: number): { deltas: NodeDelta[]; bytes: number; complete: boolean } | null {
  const { node, fromVersion } = candidate;
  const header = { node: node.name, generation: node.generation, fromVersion, collectedUpTo: node.collectedUpTo, maxVersion: node.maxVersion };
  const entries: WireEntry[] = [];
  let entryBytes = 0;
  let complete = true;
  for (const entry of node.entries.values()) {
    if (entry.version <= fromVersion) continue;
    const wire = toWire(entry);
    const size = entrySize(wire);
    if (nodeDeltaHeaderSize(header, entries.length + 1) + entryBytes + size > room) {
      complete = false;
      break;
    }
    entries.push(wire);
    entryBytes += size;
  }
  const deltas: NodeDelta[] = [];
  let bytes = 0;
  if (entries.length > 0) {
    deltas.push({ ...header, entries });
    bytes += nodeDeltaHeaderSize(header, entries.length) + entryBytes;
  }
  const lastSent = entries.length > 0 ? entries[entries.length - 1]!.version : fromVersion;
  if (complete && lastSent < node.maxVersion) {
    const tail: NodeDelta = { ...header, fromVersion: lastSent, entries: [] };
    const tailBytes = nodeDeltaHeaderSize(tail, 0);
    if (bytes + tailBytes <= room) {
      deltas.push(tail);
      bytes += tailBytes;
    } else complete = false;
  }
  if (deltas.length === 0) return null;
  return { deltas, bytes, complete };
}

export function toWire(entry: Entry): WireEntry {
  const wire: WireEntry = {
    group: entry.group,
    key: entry.key,
    version: entry.version,
    valueType: entry.valueType,
    deleted: entry.deleted,
    value: entry.value,
  };
  if (entry.expiresAt !== undefined) wire.expiresAt = entry.expiresAt;
  return wire;
}
