// Chooses what a peer lacks, given its digest and a byte budget (scuttlebutt with scuttle-depth
// ordering): nodes the peer knows nothing of (or only an older generation of) come first, then
// the nodes the peer is furthest behind on. Inside a node, entries go in ascending version and
// stop at the first one that does not fit, so the peer's max version stays a safe floor: it
// holds every surviving version at or below it.
//
// Scuttle-depth alone starves origins with small changes whenever the budget overflows: a node
// one version behind always sorts after nodes dozens of versions behind (chitchat #119). With
// `fairness` (flow control turns it on), a node the peer holds no version of counts as unknown
// to it, and a share of the budget goes to the nodes whose oldest missing version has waited
// here longest, before scuttle-depth fills the rest.

import { inRanges } from "./summary.ts";
import { type DigestEntry, type HashRange, type NodeDelta, type WireEntry, entrySize, nodeDeltaHeaderSize, varuintSize } from "../codec/index.ts";
import type { ClusterState } from "./cluster-state.ts";
import type { Entry, NodeState } from "./node-state.ts";

interface Candidate {
  node: NodeState;
  fromVersion: number;
  /** Versions the peer lacks; unknown nodes sort first regardless. */
  depth: number;
  unknownToPeer: boolean;
}

export interface SelectionOptions {
  /** At most this many entries per message, besides the byte budget (the simulator's per-message cap). */
  maxEntries?: number;
  /** Anti-starvation rules; without them selection is plain scuttle-depth. */
  fairness?: SelectionFairness;
  /**
   * The name-hash ranges the peer's digest covers (a page, state/summary.ts): a node outside them
   * is no candidate, and only a node inside them and absent from the digest is unknown to the
   * peer. Without it the digest is the peer's whole view.
   */
  scope?: readonly HashRange[];
}

export interface SelectionFairness {
  /** Share of the budget (0..1) that starts nodes oldest-waiting first, before scuttle-depth. */
  oldestFirstShare: number;
  /**
   * Local time since which this node has known of `version` of `node`, held or announced by a
   * peer's digest (smaller = waited longer).
   */
  heldSince(node: NodeState, version: number): number;
}

export interface SelectionResult {
  deltas: NodeDelta[];
  /** Encoded size of the deltas section, exactly. */
  bytes: number;
  /** Nodes the peer lacks something of that could not be served (in whole or part) in budget. */
  truncated: number;
  /**
   * Versions the peer lacks beyond those served, summed over truncated nodes: how far the budget
   * fell short (an upper bound on entries, since overwritten versions count too).
   */
  leftOut: number;
}

/**
 * Selects deltas for a peer. `budget` is the number of bytes the deltas section may take;
 * `shuffle` orders ties fairly (the engine passes its seeded RNG so runs stay reproducible);
 * `options` add a cap on entries and the anti-starvation rules.
 */
export function selectDeltas(
  state: ClusterState,
  peerDigest: readonly DigestEntry[],
  budget: number,
  shuffle: <T>(items: T[]) => T[],
  options: SelectionOptions = {},
): SelectionResult {
  const { fairness } = options;
  const candidates = shuffle(findCandidates(state, peerDigest, fairness !== undefined, options.scope));
  candidates.sort(byDepth);

  const deltas: NodeDelta[] = [];
  // The node count prefix grows with the count; reserve its largest possible size up front (a
  // node takes at most two deltas, see fillNodeDelta).
  const reserved = varuintSize(2 * candidates.length);
  const maxEntries = options.maxEntries ?? Number.POSITIVE_INFINITY;
  let used = reserved;
  let entries = 0;
  let truncated = 0;
  let leftOut = 0;
  const serve = (candidate: Candidate): void => {
    const filled = fillNodeDelta(candidate, budget - used, maxEntries - entries);
    if (!filled) {
      truncated++;
      leftOut += candidate.depth;
      return;
    }
    if (!filled.complete) {
      truncated++;
      leftOut += Math.max(1, candidate.node.maxVersion - filled.lastVersion);
    }
    used += filled.bytes;
    entries += filled.entries;
    deltas.push(...filled.deltas);
  };
  if (!fairness) {
    for (const candidate of candidates) serve(candidate);
  } else {
    // Unknown nodes first (a joiner must learn who is there), then nodes start oldest-waiting
    // first while the share lasts (the last one started may run past it: a node is never split
    // between phases), then scuttle-depth for the rest.
    const known = candidates.filter((candidate) => !candidate.unknownToPeer);
    for (const candidate of candidates) if (candidate.unknownToPeer) serve(candidate);
    const shareBytes = used + fairness.oldestFirstShare * (budget - used);
    const shareEntries = entries + fairness.oldestFirstShare * (maxEntries - entries);
    const waitingSince = new Map<Candidate, number>();
    for (const candidate of known) waitingSince.set(candidate, fairness.heldSince(candidate.node, candidate.fromVersion + 1));
    const oldestFirst = [...known].sort((a, b) => waitingSince.get(a)! - waitingSince.get(b)! || b.depth - a.depth);
    const started = new Set<Candidate>();
    for (const candidate of oldestFirst) {
      if (used >= shareBytes || entries >= shareEntries) break;
      started.add(candidate);
      serve(candidate);
    }
    for (const candidate of known) if (!started.has(candidate)) serve(candidate);
  }
  return { deltas, bytes: used - reserved + varuintSize(deltas.length), truncated, leftOut };
}

/** Unknown nodes first, then the most out-of-date first (scuttle-depth). */
function byDepth(a: Candidate, b: Candidate): number {
  return Number(b.unknownToPeer) - Number(a.unknownToPeer) || b.depth - a.depth;
}

/** Stamps nodes seen in the current peer digest, instead of building a map per exchange. */
let selectionEpoch = 0;

/**
 * What the peer lacks, node by node. With `emptyIsUnknown`, a node the peer lists without any
 * version (it heard the name from a digest, nothing more) counts as unknown to it too.
 */
function findCandidates(state: ClusterState, peerDigest: readonly DigestEntry[], emptyIsUnknown: boolean, scope: readonly HashRange[] | undefined): Candidate[] {
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
    candidates.push({ node, fromVersion, depth: node.maxVersion - peer.maxVersion, unknownToPeer: emptyIsUnknown && peer.maxVersion === 0 });
  }
  if (matched < state.nodes.size) {
    for (const node of state.nodes.values()) {
      if (node.selectionMark !== epoch && node.maxVersion > 0 && (scope === undefined || inRanges(node.nameHash, scope))) {
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
function fillNodeDelta(
  candidate: Candidate,
  room: number,
  entryRoom: number,
): { deltas: NodeDelta[]; bytes: number; entries: number; lastVersion: number; complete: boolean } | null {
  const { node, fromVersion } = candidate;
  const header = { node: node.name, generation: node.generation, fromVersion, collectedUpTo: node.collectedUpTo, maxVersion: node.maxVersion };
  const entries: WireEntry[] = [];
  let entryBytes = 0;
  let complete = true;
  for (const entry of node.entries.values()) {
    if (entry.version <= fromVersion) continue;
    const wire = toWire(entry);
    const size = entrySize(wire);
    if (entries.length >= entryRoom || nodeDeltaHeaderSize(header, entries.length + 1) + entryBytes + size > room) {
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
  return { deltas, bytes, entries: entries.length, lastVersion: lastSent, complete };
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
  if (entry.writtenAt !== undefined) wire.writtenAt = entry.writtenAt;
  return wire;
}
