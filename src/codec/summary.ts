// The bodies that reconcile two nodes' views of the membership without listing every node
// (protocol 4). A digest that lists every node grows with the cluster: ~150 KB per message at
// 10,000 members, over the 1 MiB frame limit at 200,000. Instead:
//
//   SYN body:      Summary = varuint bucketCount (= SUMMARY_BUCKETS), bucketCount × u32 bucket hash
//   SYN-ACK body:  Page
//   ACK body:      Page, Deltas
//   Page:          varuint rangeCount, rangeCount × (varuint first, varuint last), Digest
//
// Every node falls in the bucket of the top bits of its name hash; a bucket's hash sums the hashes
// of (name, generation, maxVersion) of the nodes in it (state/summary.ts). A responder sends the
// digest entries of the buckets whose hashes differ, as a page: the ranges of name hashes it
// covers, and every entry it holds in them. A page never exceeds its byte budget: when the entries
// do not fit, the ranges shrink to what does, and the rest waits for a later exchange. So no SYN,
// SYN-ACK or ACK grows with the cluster, only with what differs.

import { DecodeError } from "./errors.ts";
import type { BodyReader } from "./reader.ts";
import { readDigest, writeDigest, digestSize, type DigestEntry } from "./digest.ts";
import type { EncodeError } from "./errors.ts";
import { varuintSize } from "./varuint.ts";
import type { FrameWriter } from "./writer.ts";

/** Buckets of a summary: 64 × 4 bytes, a 257-byte SYN body at any cluster size. */
export const SUMMARY_BUCKETS = 64;

/** An inclusive range of 32-bit name hashes. */
export interface HashRange {
  first: number;
  last: number;
}

export interface Page {
  ranges: HashRange[];
  entries: DigestEntry[];
}

export function writeSummary(writer: FrameWriter, buckets: Uint32Array): void {
  writer.varuint(buckets.length);
  for (const hash of buckets) writer.u32(hash);
}

export function readSummary(reader: BodyReader): Uint32Array {
  const at = reader.offset;
  const count = reader.varuint("summary.bucketCount");
  if (count !== SUMMARY_BUCKETS) {
    throw new DecodeError("summary.bucketCount", reader.baseOffset + at, `${count} buckets, expected ${SUMMARY_BUCKETS}`);
  }
  const buckets = new Uint32Array(count);
  for (let i = 0; i < count; i++) buckets[i] = reader.u32("summary.bucket");
  return buckets;
}

export function rangesSize(ranges: readonly HashRange[]): number {
  let size = varuintSize(ranges.length);
  for (const range of ranges) size += varuintSize(range.first) + varuintSize(range.last);
  return size;
}

export function pageSize(page: Page): number {
  return rangesSize(page.ranges) + digestSize(page.entries);
}

/** Writes a page; entries that cannot be encoded are left out and returned (see writeDigest). */
export function writePage(writer: FrameWriter, page: Page): readonly EncodeError[] {
  writer.varuint(page.ranges.length);
  for (const range of page.ranges) writer.varuint(range.first).varuint(range.last);
  return writeDigest(writer, page.entries);
}

/** Smallest encoding of one range (two one-byte varuints), to bound the count. */
const MIN_RANGE_BYTES = 2;

export function readPage(reader: BodyReader, maxNameBytes: number): Page {
  const countAt = reader.offset;
  const count = reader.count("page.rangeCount", MIN_RANGE_BYTES);
  // Ranges come from differing buckets (adjacent ones merged), so never more than the buckets;
  // a receiver tests every node it holds against them.
  if (count > SUMMARY_BUCKETS) throw new DecodeError("page.rangeCount", reader.baseOffset + countAt, `${count} ranges exceed the ${SUMMARY_BUCKETS} buckets`);
  const ranges: HashRange[] = new Array(count);
  let floor = 0;
  for (let i = 0; i < count; i++) {
    const at = reader.offset;
    const first = reader.varuint("page.range.first");
    const last = reader.varuint("page.range.last");
    // Ascending and disjoint, within 32 bits: a receiver tests membership by them, and a range
    // that overlaps another or runs backwards would make "absent from the page" mean nothing.
    if (last > 0xffffffff || first > last || (i > 0 && first <= floor)) {
      throw new DecodeError("page.range", reader.baseOffset + at, `range ${first}..${last} is not ascending, disjoint and within 32 bits`);
    }
    floor = last;
    ranges[i] = { first, last };
  }
  return { ranges, entries: readDigest(reader, maxNameBytes) };
}
