// Everything one node knows about one cluster member: its identity, counters and entries.

import { RESERVED_GROUP } from "./reserved.ts";
import type { ValueType } from "./values.ts";

export interface Entry {
  group: string;
  key: string;
  value: Uint8Array;
  valueType: ValueType;
  version: number;
  deleted: boolean;
  /** Wall-clock ms at which the entry expires (set with a TTL); undefined for none. */
  expiresAt?: number;
  /**
   * The origin's wall-clock ms when it made this write, carried unchanged wherever the entry
   * travels. Metadata for measuring propagation only: versions alone decide what is newer.
   */
  writtenAt?: number;
  /** Local monotonic ms at which this copy became a tombstone; drives garbage collection. */
  deletedAt?: number;
}

export function entryId(group: string, key: string): string {
  return `${group}\u0000${key}`;
}

export class NodeState {
  heartbeat = 0;
  /**
   * Highest version held (or known to be a collected tombstone); every version at or below it
   * that still exists is held too.
   */
  maxVersion = 0;
  /** Tombstones at or below this version have been collected. */
  collectedUpTo = 0;
  /**
   * Entries by entryId. Kept in ascending version order (a write re-inserts its key at the end),
   * which is the order delta selection sends them in.
   */
  readonly entries = new Map<string, Entry>();
  /**
   * Entries of an older generation (or from before a full-state reset), kept aside while the
   * fresh state arrives so that unchanged keys raise no events and vanished keys raise exactly one
   * "deleted" once the fresh state has caught up to replacedUntil.
   */
  replaced: Map<string, Entry> | null = null;
  replacedUntil = 0;
  /** Ids of tombstones and entries with an expiry: the only ones a sweep has to look at. */
  readonly sweepable = new Set<string>();
  /** Live entries outside the reserved group: what maxEntriesPerNode limits. */
  liveUserEntries = 0;
  /** Scratch stamp used by delta selection (see delta-selection.ts). */
  selectionMark = 0;

  constructor(
    readonly name: string,
    public generation: number,
  ) {}

  /** Starts over with a newer generation or a full state: current entries move aside. */
  beginReplacement(generation: number, collectedUpTo: number, targetVersion: number): void {
    const aside = this.replaced ?? new Map<string, Entry>();
    for (const [id, entry] of this.entries) if (!aside.has(id)) aside.set(id, entry);
    this.entries.clear();
    this.sweepable.clear();
    this.liveUserEntries = 0;
    this.replaced = aside;
    this.replacedUntil = targetVersion;
    // A new incarnation counts heartbeats from scratch; keeping the old count would hide them.
    if (generation !== this.generation) this.heartbeat = 0;
    this.generation = generation;
    this.maxVersion = 0;
    this.collectedUpTo = collectedUpTo;
  }

  /** Looks an entry up, falling back to the copy set aside during a replacement. */
  lookup(id: string): Entry | undefined {
    return this.entries.get(id) ?? this.replaced?.get(id);
  }

  /** Stores an entry as the newest one of this node. */
  put(id: string, entry: Entry): void {
    const before = this.entries.get(id);
    if (entry.group !== RESERVED_GROUP) this.liveUserEntries += Number(!entry.deleted) - Number(before !== undefined && !before.deleted);
    this.entries.delete(id);
    this.entries.set(id, entry);
    if (entry.deleted || entry.expiresAt !== undefined) this.sweepable.add(id);
    else this.sweepable.delete(id);
    if (entry.version > this.maxVersion) this.maxVersion = entry.version;
  }

}
