// Bodies of the gossip messages other than the digest (digest.ts): node deltas (SYN-ACK, ACK,
// PUSH) and flow information. Sizes are computable before writing (the *Size functions), so delta
// selection can fill a byte budget exactly; tests pin that the written size equals the computed one.
//
// Deltas:   varuint nodeCount, nodeCount × NodeDelta
// NodeDelta: string node, varuint generation, varuint fromVersion (0 = full state follows),
//            varuint collectedUpTo, varuint maxVersion, varuint entryCount, entryCount × (varuint length, Entry)
// Entry:    string group, string key, varuint version, u8 kind, [varuint expiresAt if kind bit 6],
//           [varuint writtenAt if kind bit 5], blob value
//   kind: bits 0-3 value type, bit 4 reserved (0; an entry with it set is skipped, since its
//   meaning is unknown to this version), bit 5 has writtenAt, bit 6 has expiry, bit 7 tombstone
// Each entry is length-prefixed so that a malformed or unknown one can be skipped on its own.
// Flow:     varuint allowedRate, varuint desiredRate, varuint ceilingRate (thousandths of an update
//           per second), varuint roundsSinceOverflow; bytes after them are ignored, so later
//           versions can append fields

import { DecodeError, EncodeError, NOTHING_LEFT_OUT } from "./errors.ts";
import { nodeNameProblem } from "./node-name.ts";
import { BodyReader } from "./reader.ts";
import { varuintSize } from "./varuint.ts";
import { stringSize, type FrameWriter } from "./writer.ts";

export interface WireEntry {
  group: string;
  key: string;
  version: number;
  valueType: number;
  deleted: boolean;
  /** Wall-clock ms after which the entry counts as expired; undefined for no expiry. */
  expiresAt?: number;
  /**
   * The origin's wall-clock ms when it made this write; metadata for measuring propagation,
   * never used to decide which version wins. Undefined when the sender did not say.
   */
  writtenAt?: number;
  value: Uint8Array;
}

export interface NodeDelta {
  node: string;
  generation: number;
  /** Entries with versions above this follow; 0 means the node's whole state follows. */
  fromVersion: number;
  collectedUpTo: number;
  /** The sender's max version for the node when the delta was built. */
  maxVersion: number;
  entries: WireEntry[];
}

const KIND_TYPE_MASK = 0x0f;
const KIND_HAS_WRITTEN_AT = 0x20;
const KIND_HAS_EXPIRY = 0x40;
const KIND_DELETED = 0x80;
const KIND_RESERVED = 0x10;
/** Smallest encodings, used to bound counts against the bytes that remain. */
const MIN_NODE_DELTA_BYTES = 6;
const MIN_ENTRY_BYTES = 1;
/** Decodes a node name whatever its bytes; the name rule then refuses anything but its ASCII characters. */
const looseUtf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** Bytes of one entry without its length prefix. */
export function entryBodySize(entry: WireEntry): number {
  return (
    stringSize(entry.group) +
    stringSize(entry.key) +
    varuintSize(entry.version) +
    1 +
    (entry.expiresAt === undefined ? 0 : varuintSize(entry.expiresAt)) +
    (entry.writtenAt === undefined ? 0 : varuintSize(entry.writtenAt)) +
    varuintSize(entry.value.length) +
    entry.value.length
  );
}

/** Bytes of one entry on the wire, length prefix included. */
export function entrySize(entry: WireEntry): number {
  const body = entryBodySize(entry);
  return varuintSize(body) + body;
}

/** Bytes of a node delta's header for a given entry count (entries not included). */
export function nodeDeltaHeaderSize(delta: Omit<NodeDelta, "entries">, entryCount: number): number {
  return (
    stringSize(delta.node) +
    varuintSize(delta.generation) +
    varuintSize(delta.fromVersion) +
    varuintSize(delta.collectedUpTo) +
    varuintSize(delta.maxVersion) +
    varuintSize(entryCount)
  );
}

export function deltasSize(deltas: readonly NodeDelta[]): number {
  let size = varuintSize(deltas.length);
  for (const delta of deltas) {
    size += nodeDeltaHeaderSize(delta, delta.entries.length);
    for (const entry of delta.entries) size += entrySize(entry);
  }
  return size;
}

/**
 * Writes a deltas section. An entry that cannot be encoded (a lone surrogate in a key, a number
 * out of range) is left out and returned as an EncodeError naming it, and the rest is written: a
 * single such entry must never stop a message, or it would stop every message that carries it.
 * A node delta that loses all its entries is left out whole (empty, it would claim their versions
 * hold nothing). The fast path writes everything at once; only a failure pays for finding the
 * culprits, each tried alone and rewound.
 */
export function writeDeltas(writer: FrameWriter, deltas: readonly NodeDelta[]): readonly EncodeError[] {
  const start = writer.length;
  try {
    writeAllDeltas(writer, deltas);
    return NOTHING_LEFT_OUT;
  } catch (error) {
    if (!(error instanceof EncodeError)) throw error;
  }
  writer.rewind(start);
  const leftOut: EncodeError[] = [];
  const encodable: NodeDelta[] = [];
  for (const delta of deltas) {
    const headerError = writer.encodeError(() => writeDeltaHeader(writer, delta, delta.entries.length));
    if (headerError) {
      leftOut.push(new EncodeError(`delta of node ${JSON.stringify(delta.node)}`, `${headerError.message} (${delta.entries.length} entries left out)`));
      continue;
    }
    const entries = delta.entries.filter((entry) => {
      const error = writer.encodeError(() => writeEntry(writer, entry));
      if (error) leftOut.push(new EncodeError(`entry ${JSON.stringify(entry.group)}/${JSON.stringify(entry.key)} of node ${JSON.stringify(delta.node)}`, error.message));
      return error === null;
    });
    if (entries.length > 0 || delta.entries.length === 0) encodable.push(entries.length === delta.entries.length ? delta : { ...delta, entries });
  }
  writeAllDeltas(writer, encodable);
  return leftOut;
}

function writeAllDeltas(writer: FrameWriter, deltas: readonly NodeDelta[]): void {
  writer.varuint(deltas.length);
  for (const delta of deltas) {
    writeDeltaHeader(writer, delta, delta.entries.length);
    for (const entry of delta.entries) writeEntry(writer, entry);
  }
}

function writeDeltaHeader(writer: FrameWriter, delta: NodeDelta, entryCount: number): void {
  writer.string(delta.node).varuint(delta.generation).varuint(delta.fromVersion);
  writer.varuint(delta.collectedUpTo).varuint(delta.maxVersion).varuint(entryCount);
}

function writeEntry(writer: FrameWriter, entry: WireEntry): void {
  if ((entry.valueType & KIND_TYPE_MASK) !== entry.valueType) {
    throw new EncodeError("entry.valueType", `${entry.valueType} is not an integer in 0..15`);
  }
  // Written once and length-patched, rather than measured (UTF-8 lengths) and then written.
  // The estimate (UTF-16 units for strings) only picks the prefix size; endSection() fixes it.
  const value = entry.value;
  const estimate = entry.group.length + entry.key.length + value.length + 18;
  const section = writer.beginSection(estimate);
  writer.string(entry.group).string(entry.key).varuint(entry.version);
  let kind = entry.valueType & KIND_TYPE_MASK;
  if (entry.deleted) kind |= KIND_DELETED;
  if (entry.expiresAt !== undefined) kind |= KIND_HAS_EXPIRY;
  if (entry.writtenAt !== undefined) kind |= KIND_HAS_WRITTEN_AT;
  writer.u8(kind);
  if (entry.expiresAt !== undefined) writer.varuint(entry.expiresAt);
  if (entry.writtenAt !== undefined) writer.varuint(entry.writtenAt);
  writer.blob(value);
  writer.endSection(section);
}

export interface DeltaReadLimits {
  maxNameBytes: number;
  maxKeyBytes: number;
  maxValueBytes: number;
  /** Value types this build understands; entries of other types are skipped. */
  isKnownValueType(type: number): boolean;
  /**
   * True for a delta the receiver would skip whole (one that starts above what it holds of the
   * node): its entries are passed over unread and the delta is left out. A peer flooding frames of
   * a node's entries otherwise made every entry an object only to be dropped.
   */
  skipsWhole?(node: string, generation: number, fromVersion: number): boolean;
}

export interface DecodedDeltas {
  deltas: NodeDelta[];
  /** Entries skipped because they were malformed or of an unknown type, with the reason. */
  skipped: DecodeError[];
  /** Entries passed over unread in deltas the receiver skips whole (DeltaReadLimits.skipsWhole). */
  unread: number;
}

/**
 * Reads a deltas section. A damaged node header or entry length ends decoding with a
 * DecodeError (the frame cannot be trusted past it); a damaged entry whose length is intact is
 * skipped and reported, and the rest of the message is still read.
 */
export function readDeltas(reader: BodyReader, limits: DeltaReadLimits): DecodedDeltas {
  const nodeCount = reader.count("deltas.count", MIN_NODE_DELTA_BYTES);
  const deltas: NodeDelta[] = [];
  const skipped: DecodeError[] = [];
  let unread = 0;
  for (let n = 0; n < nodeCount; n++) {
    const nameAt = reader.baseOffset + reader.offset;
    const name = reader.blob("delta.node");
    const generation = reader.varuint("delta.generation");
    const fromVersion = reader.varuint("delta.fromVersion");
    const collectedUpTo = reader.varuint("delta.collectedUpTo");
    const maxVersion = reader.varuint("delta.maxVersion");
    const entryCount = reader.count("delta.entryCount", MIN_ENTRY_BYTES);
    const node = looseUtf8.decode(name); // bytes that are not UTF-8 make a name the rule refuses
    const problem = name.length > limits.maxNameBytes ? `node name of ${name.length} bytes exceeds the limit of ${limits.maxNameBytes}` : nodeNameProblem(node);
    if (problem !== null) {
      // The node could never be a member: its entries are skipped, the rest of the message is not.
      for (let e = 0; e < entryCount; e++) reader.leaveSection(reader.enterSection("entry.length"));
      skipped.push(new DecodeError("delta.node", nameAt, `${problem}; its ${entryCount} entries are skipped`));
      continue;
    }
    if (entryCount > 0 && limits.skipsWhole?.(node, generation, fromVersion)) {
      for (let e = 0; e < entryCount; e++) reader.leaveSection(reader.enterSection("entry.length"));
      unread += entryCount;
      continue;
    }
    const entries: WireEntry[] = [];
    for (let e = 0; e < entryCount; e++) {
      // The entry is read in place inside its length-delimited section; a damaged entry is
      // skipped by jumping to the section's end.
      const outerEnd = reader.enterSection("entry.length");
      try {
        entries.push(readEntry(reader, limits));
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        skipped.push(error);
      }
      reader.leaveSection(outerEnd);
    }
    deltas.push({ node, generation, fromVersion, collectedUpTo, maxVersion, entries });
  }
  return { deltas, skipped, unread };
}

/** Reads one entry from a reader narrowed to the entry's section. */
function readEntry(reader: BodyReader, limits: DeltaReadLimits): WireEntry {
  const group = reader.string("entry.group", limits.maxKeyBytes);
  const key = reader.string("entry.key", limits.maxKeyBytes);
  const version = reader.varuint("entry.version");
  const kindOffset = reader.baseOffset + reader.offset;
  const kind = reader.u8("entry.kind");
  const valueType = kind & KIND_TYPE_MASK;
  if (kind & KIND_RESERVED) throw new DecodeError("entry.kind", kindOffset, `reserved kind bits set (0x${kind.toString(16)})`);
  if (!limits.isKnownValueType(valueType)) throw new DecodeError("entry.kind", kindOffset, `unknown value type ${valueType}`);
  const expiresAt = kind & KIND_HAS_EXPIRY ? reader.varuint("entry.expiresAt") : undefined;
  const writtenAt = kind & KIND_HAS_WRITTEN_AT ? reader.varuint("entry.writtenAt") : undefined;
  const value = reader.blob("entry.value", limits.maxValueBytes);
  reader.expectEnd("entry");
  const entry: WireEntry = { group, key, version, valueType, deleted: (kind & KIND_DELETED) !== 0, value };
  if (expiresAt !== undefined) entry.expiresAt = expiresAt;
  if (writtenAt !== undefined) entry.writtenAt = writtenAt;
  return entry;
}

/** A node's flow-control rates, in updates per second (FLOW message). */
export interface FlowInfo {
  /** The update rate the sender may publish now: its estimate of the cluster's fair share. */
  allowedRate: number;
  /** The update rate the sender wants: its application's writes, or enough to publish what waits. */
  desiredRate: number;
  /** The largest desired rate the sender knows of in the cluster. */
  ceilingRate: number;
  /** Gossip rounds since the sender, or a node it heard from, last saw its messages overflow. */
  roundsSinceOverflow: number;
}

/** Rates travel as whole thousandths of an update per second. */
const RATE_UNITS_PER_UPDATE = 1000;

export function writeFlowInfo(writer: FrameWriter, info: FlowInfo): void {
  writer.varuint(toRateUnits(info.allowedRate)).varuint(toRateUnits(info.desiredRate)).varuint(toRateUnits(info.ceilingRate));
  writer.varuint(info.roundsSinceOverflow);
}

/** Reads the fields this version knows; anything after them is a later version's and is skipped. */
export function readFlowInfo(reader: BodyReader): FlowInfo {
  return {
    allowedRate: reader.varuint("flow.allowedRate") / RATE_UNITS_PER_UPDATE,
    desiredRate: reader.varuint("flow.desiredRate") / RATE_UNITS_PER_UPDATE,
    ceilingRate: reader.varuint("flow.ceilingRate") / RATE_UNITS_PER_UPDATE,
    roundsSinceOverflow: reader.varuint("flow.roundsSinceOverflow"),
  };
}

function toRateUnits(rate: number): number {
  if (!Number.isFinite(rate) || rate < 0) throw new EncodeError("flow.rate", `${rate} is not a finite rate >= 0`);
  return Math.min(Number.MAX_SAFE_INTEGER, Math.round(rate * RATE_UNITS_PER_UPDATE));
}
