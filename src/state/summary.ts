// Summaries and pages of the membership (the bodies are in codec/summary.ts). Two nodes in
// agreement exchange 64 bucket hashes and nothing else; where buckets differ they exchange the
// digest entries of those buckets only, at most a budget's worth, so what reconciliation costs
// grows with what differs, not with the cluster.
//
// A node's hash covers (name, generation, maxVersion): what delta selection needs. Heartbeats are
// left out on purpose: they advance every round on every node, so hashing them would make every
// bucket differ every round and bring back the O(N) digest. They still travel in the entries of a
// page, and liveness comes first-hand from the monitor ring (membership/direct-watch.ts).
// A bucket's hash is the sum of its nodes' hashes (mod 2^32): a set hash, independent of order.

import { type DigestEntry, digestEntryBytes, type HashRange, type Page, rangesSize, SUMMARY_BUCKETS, utf8Length, varuintSize } from "../codec/index.ts";
import type { ClusterState } from "./cluster-state.ts";
import type { NodeState } from "./node-state.ts";

const BUCKET_SHIFT = 32 - Math.log2(SUMMARY_BUCKETS);

/** murmur3's finalizer: spreads every input bit over the 32 output bits. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a over the UTF-16 units of a name, mixed: where the node sits among the buckets. */
export function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return mix(h);
}

/** Numbers up to 2^53 hashed as two 32-bit halves. */
function mixNumber(h: number, value: number): number {
  return mix(mix(h ^ (value >>> 0)) ^ Math.floor(value / 0x100000000));
}

function nodeHash(node: NodeState): number {
  return mixNumber(mixNumber(node.nameHash, node.generation), node.maxVersion);
}

export function bucketOf(hash: number): number {
  return hash >>> BUCKET_SHIFT;
}

/** The bucket hashes of every node this one holds (itself included). */
export function summarize(state: ClusterState): Uint32Array {
  const buckets = new Uint32Array(SUMMARY_BUCKETS);
  for (const node of state.nodes.values()) {
    const bucket = bucketOf(node.nameHash);
    // A name held on probation (not vouched for, probation.ts) hashes apart from a member: a node
    // that holds it as a member then sees the bucket differ, and the page that shows it listed
    // with heartbeat 0 (lackedBy) is how it learns that nobody else vouches for it.
    const hash = state.isProbationary(node.name) ? mix(nodeHash(node) ^ PROBATION_SALT) : nodeHash(node);
    buckets[bucket] = (buckets[bucket]! + hash) >>> 0;
  }
  return buckets;
}

/** Mixed into the hash of a name held on probation (the golden ratio's bits, any constant would do). */
const PROBATION_SALT = 0x9e3779b9;

/** The heartbeat a page lists for the node at `slot`: 0 for a name on probation ("known, not vouched for", as digests list it). */
function listedHeartbeat(state: ClusterState, slot: number): number {
  const node = state.nodes.at(slot)!;
  return state.isProbationary(node.name) ? 0 : state.nodes.heartbeatAt(slot);
}

/** The name-hash ranges of the buckets whose hashes differ, merged where adjacent. */
export function differingRanges(mine: Uint32Array, theirs: Uint32Array): HashRange[] {
  const ranges: HashRange[] = [];
  for (let bucket = 0; bucket < SUMMARY_BUCKETS; bucket++) {
    if (mine[bucket] === theirs[bucket]) continue;
    const first = (bucket << BUCKET_SHIFT) >>> 0;
    const last = (((bucket + 1) << BUCKET_SHIFT) - 1) >>> 0;
    const previous = ranges[ranges.length - 1];
    if (previous && previous.last + 1 === first) previous.last = last;
    else ranges.push({ first, last });
  }
  return ranges;
}

export function inRanges(hash: number, ranges: readonly HashRange[]): boolean {
  for (const range of ranges) if (hash >= range.first && hash <= range.last) return true;
  return false;
}

/**
 * This node's digest entries within `ranges`, at most `budget` bytes of page. When they do not
 * all fit, the page covers a run of them, in name-hash order, from a point `start` (0 ≤ start < 1)
 * of the way in, and its ranges shrink to that run: the receiver must not take a node left out
 * for one it does not have. Varying `start` between exchanges reaches every part of a difference
 * larger than one page.
 */
export function pageOf(state: ClusterState, ranges: readonly HashRange[], budget: number, start: number): Page {
  const nodes = state.nodes;
  const entryAt = (slot: number): DigestEntry => {
    const node = nodes.at(slot)!;
    return { node: node.name, generation: node.generation, heartbeat: listedHeartbeat(state, slot), maxVersion: node.maxVersion, collectedUpTo: node.collectedUpTo };
  };
  // Slots and sizes first, entries only for what goes in the page: a page of a large difference
  // holds a small part of it.
  const slots: number[] = [];
  const sizes: number[] = [];
  const nameLengths: number[] = [];
  let total = 0;
  let totalNames = 0;
  if (ranges.length > 0) {
    for (let slot = 0; slot < nodes.slotCount; slot++) {
      const node = nodes.at(slot);
      if (node === undefined || !inRanges(node.nameHash, ranges)) continue;
      const nameLength = utf8Length(node.name);
      const size = digestEntryBytes(nameLength, { generation: node.generation, heartbeat: listedHeartbeat(state, slot), maxVersion: node.maxVersion, collectedUpTo: node.collectedUpTo });
      slots.push(slot);
      sizes.push(size);
      nameLengths.push(nameLength);
      total += size;
      totalNames += nameLength;
    }
  }
  if (rangesSize(ranges) + varuintSize(slots.length) + varuintSize(totalNames) + total <= budget) return { ranges: [...ranges], entries: slots.map(entryAt) };
  // A run that wraps past the highest hash splits one range in two (never past the buckets'
  // count, which a receiver enforces); a bound takes up to five bytes.
  const canWrap = ranges.length < SUMMARY_BUCKETS;
  const room = budget - varuintSize(ranges.length + 1) - 10 * (ranges.length + 1);
  const hashOf = (index: number): number => nodes.at(slots[index]!)!.nameHash;
  const order = inHashOrder(slots.length, hashOf);
  const count = order.length;
  const at = (position: number): number => hashOf(order[position % count]!);
  // Never start or end a run between nodes of equal name hash: a range cannot tell them apart.
  let from = Math.floor(start * count);
  while (from > 0 && at(from) === at(from - 1)) from--;
  const limit = canWrap ? count : count - from;
  let taken = 0;
  let bytes = 0;
  let names = 0;
  while (taken < limit) {
    const index = order[(from + taken) % count]!;
    if (varuintSize(taken + 1) + varuintSize(names + nameLengths[index]!) + bytes + sizes[index]! > room) break;
    bytes += sizes[index]!;
    names += nameLengths[index]!;
    taken++;
  }
  while (taken > 0 && from + taken !== count && at(from + taken) === at(from + taken - 1)) taken--;
  if (taken === 0) return { ranges: [], entries: [] };
  const low = from === 0 ? 0 : at(from);
  const end = from + taken;
  // Covered: low up to the first hash not taken, wrapping past the top into the bottom.
  const covered =
    end <= count
      ? clip(ranges, low, end === count ? 0xffffffff : at(end) - 1)
      : [...clip(ranges, 0, at(end) - 1), ...clip(ranges, low, 0xffffffff)];
  const run: DigestEntry[] = [];
  for (let position = from; position < end; position++) run.push(entryAt(slots[order[position % count]!]!));
  return { ranges: covered, entries: run };
}

/** Indices 0..count-1 in the order of their hashes; a native numeric sort of hash·2^21 + index where indices fit. */
function inHashOrder(count: number, hashOf: (index: number) => number): Uint32Array {
  if (count >= 1 << 21) return Uint32Array.from({ length: count }, (_, index) => index).sort((a, b) => hashOf(a) - hashOf(b));
  const keys = new Float64Array(count);
  for (let index = 0; index < count; index++) keys[index] = hashOf(index) * (1 << 21) + index;
  keys.sort();
  const order = new Uint32Array(count);
  for (let index = 0; index < count; index++) order[index] = keys[index]! % (1 << 21);
  return order;
}

/** `ranges` cut down to low..high. */
function clip(ranges: readonly HashRange[], low: number, high: number): HashRange[] {
  const clipped: HashRange[] = [];
  for (const range of ranges) {
    const first = Math.max(range.first, low);
    const last = Math.min(range.last, high);
    if (first <= last) clipped.push({ first, last });
  }
  return clipped;
}

/**
 * The nodes `state` holds (this one, the sender `from` and probationary names aside) that `page`
 * covers and does not list, or lists with heartbeat 0: how a sender lists a name it holds on
 * probation, not vouched for (probation.ts).
 */
export function lackedBy(state: ClusterState, from: string, page: Page): string[] {
  if (page.ranges.length === 0) return [];
  const listed = new Set<string>();
  for (const entry of page.entries) if (entry.heartbeat > 0) listed.add(entry.node);
  const lacking: string[] = [];
  for (const node of state.nodes.values()) {
    if (node.name === state.selfName || node.name === from || listed.has(node.name) || state.isProbationary(node.name)) continue;
    if (inRanges(node.nameHash, page.ranges)) lacking.push(node.name);
  }
  return lacking;
}
