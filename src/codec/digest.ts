// The digest body of SYN and SYN-ACK: what the sender knows of each node, so the receiver can
// select what the sender lacks. Sizes are computable before writing, like the other bodies.
//
// Digest:   varuint count, count × DigestEntry
// DigestEntry: string node, varuint generation, varuint heartbeat, varuint maxVersion, varuint collectedUpTo

import type { BodyReader } from "./reader.ts";
import { varuintSize } from "./varuint.ts";
import { stringSize, type FrameWriter } from "./writer.ts";

export interface DigestEntry {
  node: string;
  generation: number;
  heartbeat: number;
  maxVersion: number;
  collectedUpTo: number;
}

/** Smallest encoding of one entry, used to bound the count against the bytes that remain. */
const MIN_DIGEST_ENTRY_BYTES = 5;

export function digestEntrySize(entry: DigestEntry): number {
  return (
    stringSize(entry.node) +
    varuintSize(entry.generation) +
    varuintSize(entry.heartbeat) +
    varuintSize(entry.maxVersion) +
    varuintSize(entry.collectedUpTo)
  );
}

export function digestSize(entries: readonly DigestEntry[]): number {
  let size = varuintSize(entries.length);
  for (const entry of entries) size += digestEntrySize(entry);
  return size;
}

export function writeDigest(writer: FrameWriter, entries: readonly DigestEntry[]): void {
  writer.varuint(entries.length);
  for (const entry of entries) {
    writer.string(entry.node).varuint(entry.generation).varuint(entry.heartbeat);
    writer.varuint(entry.maxVersion).varuint(entry.collectedUpTo);
  }
}

export function readDigest(reader: BodyReader, maxNameBytes: number): DigestEntry[] {
  const count = reader.count("digest.count", MIN_DIGEST_ENTRY_BYTES);
  const entries: DigestEntry[] = new Array(count);
  for (let i = 0; i < count; i++) {
    entries[i] = {
      node: reader.string("digest.node", maxNameBytes),
      generation: reader.varuint("digest.generation"),
      heartbeat: reader.varuint("digest.heartbeat"),
      maxVersion: reader.varuint("digest.maxVersion"),
      collectedUpTo: reader.varuint("digest.collectedUpTo"),
    };
  }
  return entries;
}
