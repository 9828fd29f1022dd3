// Everything one node knows about one cluster member: its identity, counters and entries.

import { RESERVED_GROUP } from "./reserved.ts";
import { nameHash } from "./summary.ts";
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

/** What nodes without tombstones or TTL entries (nearly all) share as their sweepable ids. */
const NOTHING_SWEEPABLE: ReadonlySet<string> = new Set();

/**
 * What one node knows of one member, its heartbeat counter apart (MemberTable keeps heartbeats,
 * which change on every digest, out of the records, so records can be shared until they change).
 */
export class NodeState {
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
  /** Ids of tombstones and entries with an expiry, the only ones a sweep looks at; allocated on the first. */
  private sweepIds: Set<string> | null = null;
  /** Live entries outside the reserved group: what maxEntriesPerNode limits. */
  liveUserEntries = 0;
  /** Scratch stamp used by delta selection (see delta-selection.ts). */
  selectionMark = 0;
  /** nameHash(name), the node's place among summary buckets (summary.ts); computed on first use, summaries read it every round. */
  private cachedNameHash = -1;

  constructor(
    readonly name: string,
    public generation: number,
  ) {}

  get nameHash(): number {
    if (this.cachedNameHash < 0) this.cachedNameHash = nameHash(this.name);
    return this.cachedNameHash;
  }

  /** Ids a sweep has to look at: tombstones and entries with an expiry. */
  get sweepable(): ReadonlySet<string> {
    return this.sweepIds ?? NOTHING_SWEEPABLE;
  }

  /** A copy to change while other tables keep this one (entries are never changed in place). */
  clone(): NodeState {
    const copy = new NodeState(this.name, this.generation);
    copy.maxVersion = this.maxVersion;
    copy.collectedUpTo = this.collectedUpTo;
    for (const [id, entry] of this.entries) copy.entries.set(id, entry);
    copy.replaced = this.replaced && new Map(this.replaced);
    copy.replacedUntil = this.replacedUntil;
    copy.sweepIds = this.sweepIds && new Set(this.sweepIds);
    copy.liveUserEntries = this.liveUserEntries;
    return copy;
  }

  /** Starts over with a newer generation or a full state: current entries move aside. */
  beginReplacement(generation: number, collectedUpTo: number, targetVersion: number): void {
    const aside = this.replaced ?? new Map<string, Entry>();
    for (const [id, entry] of this.entries) if (!aside.has(id)) aside.set(id, entry);
    this.entries.clear();
    this.sweepIds = null;
    this.liveUserEntries = 0;
    this.replaced = aside;
    this.replacedUntil = targetVersion;
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
    if (entry.deleted || entry.expiresAt !== undefined) (this.sweepIds ??= new Set()).add(id);
    else this.sweepIds?.delete(id);
    if (entry.version > this.maxVersion) this.maxVersion = entry.version;
  }

  /** Forgets a collected tombstone; its version stays covered by collectedUpTo. */
  collect(id: string): void {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    this.sweepIds?.delete(id);
    if (entry && entry.version > this.collectedUpTo) this.collectedUpTo = entry.version;
  }

  /** Stops sweeping an id whose entry is gone. */
  unsweep(id: string): void {
    this.sweepIds?.delete(id);
  }
}
