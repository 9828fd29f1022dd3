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
  // The node count prefix grows with the count; reserve its largest plausible size up front.
  let used = varuintSize(candidates.length);
  let truncated = 0;
  for (const candidate of candidates) {
    const delta = fillNodeDelta(candidate, budget - used);
    if (delta === NOTHING_TO_SEND) continue;
    if (!delta) {
      truncated++;
      continue;
    }
    if (delta.complete === false) truncated++;
    used += delta.bytes;
    deltas.push(delta.delta);
  }
  return { deltas, bytes: used - varuintSize(candidates.length) + varuintSize(deltas.length), truncated };
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
 * A node the peer is behind on whose newer versions were all collected tombstones: there is no
 * entry to send, and that is no budget overflow.
 */
const NOTHING_TO_SEND = "nothing to send";

/** The entries that fit in `room`; null when not even the first one does. */
function fillNodeDelta(candidate: Candidate, room: number): { delta: NodeDelta; bytes: number; complete: boolean } | typeof NOTHING_TO_SEND | null {
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
  if (entries.length === 0) return complete ? NOTHING_TO_SEND : null;
  return { delta: { ...header, entries }, bytes: nodeDeltaHeaderSize(header, entries.length) + entryBytes, complete };
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
