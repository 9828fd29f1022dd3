// The digest body of SYN and SYN-ACK: what the sender knows of each node, so the receiver can
// select what the sender lacks. Sizes are computable before writing, like the other bodies.
//
// Digest:   varuint count, varuint namesLength, namesLength bytes names, count × DigestEntry
// DigestEntry: varuint nameLength, varuint generation, varuint heartbeat, varuint maxVersion, varuint collectedUpTo
//
// The names are one run of UTF-8 bytes, in entry order, each entry giving its name's byte length;
// the lengths add up to namesLength exactly. Decoding a thousand short names one by one was most
// of the cost of reading a digest: kept together, they are decoded a chunk at a time (StringRun).

import { DecodeError, EncodeError, NOTHING_LEFT_OUT } from "./errors.ts";
import type { BodyReader } from "./reader.ts";
import { varuintSize } from "./varuint.ts";
import { utf8Length, type FrameWriter } from "./writer.ts";

export interface DigestEntry {
  node: string;
  generation: number;
  heartbeat: number;
  maxVersion: number;
  collectedUpTo: number;
}

/** Smallest encoding of one entry (an empty name and five one-byte varuints), to bound the count. */
const MIN_DIGEST_ENTRY_BYTES = 5;

export function digestSize(entries: readonly DigestEntry[]): number {
  let namesLength = 0;
  let size = varuintSize(entries.length);
  for (const entry of entries) {
    const nameLength = utf8Length(entry.node);
    namesLength += nameLength;
    size += digestEntryBytes(nameLength, entry) - nameLength;
  }
  return size + varuintSize(namesLength) + namesLength;
}

/** The bytes one entry adds to a digest, its name's `nameLength` bytes in the names run included (not the run's length prefix). */
export function digestEntryBytes(nameLength: number, entry: Omit<DigestEntry, "node">): number {
  return nameLength + varuintSize(nameLength) + varuintSize(entry.generation) + varuintSize(entry.heartbeat) + varuintSize(entry.maxVersion) + varuintSize(entry.collectedUpTo);
}

/**
 * Writes a digest. An entry that cannot be encoded (a lone surrogate in its name, a number out of
 * range) is left out and returned as an EncodeError naming it, and the rest is written: one bad
 * entry must never stop every SYN and SYN-ACK. Only a failure pays for finding the culprits.
 */
export function writeDigest(writer: FrameWriter, entries: readonly DigestEntry[]): readonly EncodeError[] {
  const start = writer.length;
  try {
    writeAllEntries(writer, entries);
    return NOTHING_LEFT_OUT;
  } catch (error) {
    if (!(error instanceof EncodeError)) throw error;
  }
  writer.rewind(start);
  const leftOut: EncodeError[] = [];
  const encodable = entries.filter((entry) => {
    const error = writer.encodeError(() => {
      writer.string(entry.node).varuint(entry.generation).varuint(entry.heartbeat).varuint(entry.maxVersion).varuint(entry.collectedUpTo);
    });
    if (error) leftOut.push(new EncodeError(`digest entry of node ${JSON.stringify(entry.node)}`, error.message));
    return error === null;
  });
  writeAllEntries(writer, encodable);
  return leftOut;
}

function writeAllEntries(writer: FrameWriter, entries: readonly DigestEntry[]): void {
  const count = entries.length;
  writer.varuint(count);
  // The names run is the names joined, written as one string: one native UTF-8 copy instead of
  // one per name. When it is all ASCII (as many bytes as UTF-16 units), each name's byte length
  // is its length in units; otherwise each name is measured, and must be well formed on its own
  // (two names could otherwise join a lone surrogate pair into a valid character).
  let names = "";
  for (let i = 0; i < count; i++) names += entries[i]!.node;
  const ascii = utf8Length(names) === names.length;
  if (!ascii) {
    for (let i = 0; i < count; i++) if (!entries[i]!.node.isWellFormed()) throw new EncodeError("digest.node", "contains a lone UTF-16 surrogate");
  }
  writer.string(names);
  for (let i = 0; i < count; i++) {
    const entry = entries[i]!;
    writer.varuint(ascii ? entry.node.length : utf8Length(entry.node)).varuint(entry.generation).varuint(entry.heartbeat);
    writer.varuint(entry.maxVersion).varuint(entry.collectedUpTo);
  }
}

export function readDigest(reader: BodyReader, maxNameBytes: number): DigestEntry[] {
  const count = reader.count("digest.count", MIN_DIGEST_ENTRY_BYTES);
  const names = reader.stringRun("digest.names");
  const entries: DigestEntry[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const lengthAt = reader.offset;
    const nameLength = reader.varuint("digest.nameLength");
    if (nameLength > maxNameBytes || nameLength > names.remaining) {
      const reason = nameLength > maxNameBytes ? `the limit of ${maxNameBytes}` : `the ${names.remaining} bytes of names that remain`;
      throw new DecodeError("digest.nameLength", reader.baseOffset + lengthAt, `length ${nameLength} exceeds ${reason}`);
    }
    entries[i] = {
      node: names.next(nameLength, "digest.node"),
      generation: reader.varuint("digest.generation"),
      heartbeat: reader.varuint("digest.heartbeat"),
      maxVersion: reader.varuint("digest.maxVersion"),
      collectedUpTo: reader.varuint("digest.collectedUpTo"),
    };
  }
  if (names.remaining !== 0) {
    throw new DecodeError("digest.names", names.offset, `${names.remaining} bytes of names belong to no entry`);
  }
  return entries;
}
