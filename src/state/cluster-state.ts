// The cluster state as one node sees it: its own entries, which only it writes, and the
// latest known entries of every other node. Versions are per-node counters, never wall time.

import { type DigestEntry, entrySize, nodeDeltaHeaderSize } from "../codec/index.ts";
import type { ChangeRecord, EntrySnapshot } from "./changes.ts";
import { MemberTable, type MemberSnapshot } from "./member-table.ts";
import { entryId, NodeState, type Entry } from "./node-state.ts";
import { Probation, NEW_MEMBERS_PER_PEER_ROUND, probationLimit } from "./probation.ts";
import { RemovedNodes, type RemovedAs } from "./removed-nodes.ts";
import { RESERVED_GROUP } from "./reserved.ts";
import { validateWrite, WriteError } from "./validate-write.ts";
import type { EncodedValue } from "./values.ts";

export { WriteError } from "./validate-write.ts";

export interface StateClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Wall-clock milliseconds since the epoch: TTL expiry, and when a local write was made (writtenAt). */
  wallNow(): number;
}

export interface StateLimits {
  maxKeyBytes: number;
  maxValueBytes: number;
  maxEntriesPerNode: number;
  /** Gossip message budget: a single entry must fit in one message on its own. */
  maxGossipBytes: number;
  /** Most members held, this node and probationary names included (probation.ts). */
  maxMembers: number;
}

export interface ClusterStateOptions {
  tombstoneGraceMs: number;
  limits: StateLimits;
  /**
   * Members known from the start, shared copy-on-write with other states (the simulator's
   * converged start). This node's own record starts as a copy of the snapshot's record of it when
   * the generations match, and empty otherwise (a restart).
   */
  members?: MemberSnapshot;
  /**
   * Names learned second-hand stay probationary until contacted first-hand (probation.ts). Nodes
   * with membership turn it on; without membership nothing would ever contact them.
   */
  probation?: boolean;
}

export const defaultStateLimits: StateLimits = {
  maxKeyBytes: 256,
  maxValueBytes: 64 * 1024,
  maxEntriesPerNode: 100_000,
  maxGossipBytes: 256 * 1024,
  maxMembers: 20_000,
};

/** Writes accepted but not applied yet, as checkSet() must count them. */
export interface PendingWrites {
  /** Whether the key is live once they are applied. */
  keyLive: boolean;
  /** Live entries (reserved ones excluded) once they are applied. */
  liveEntries: number;
  /** Versions they take before the write being checked. */
  versionsBefore: number;
}


export class ClusterState {
  readonly self: NodeState;
  readonly nodes: MemberTable;
  /** Nodes removed from the cluster, remembered for a while (the only such registry). */
  readonly removed = new RemovedNodes();
  /** Names learned second-hand, not contacted yet (empty unless options.probation). */
  readonly probation: Probation;
  /** New names each peer introduced this round (NEW_MEMBERS_PER_PEER_ROUND). */
  private readonly introducedThisRound = new Map<string, number>();

  constructor(
    selfName: string,
    generation: number,
    readonly clock: StateClock,
    readonly options: ClusterStateOptions,
  ) {
    const known = options.members?.records[options.members.slots.get(selfName) ?? -1];
    this.self = known?.generation === generation ? known.clone() : new NodeState(selfName, generation);
    this.nodes = new MemberTable(options.members ?? null);
    this.nodes.set(selfName, this.self);
    this.probation = new Probation(probationLimit(options.limits.maxMembers));
  }

  get selfName(): string {
    return this.self.name;
  }

  /** Writes an entry of this node. Throws WriteError when a limit is broken; nothing changes then. */
  set(group: string, key: string, value: EncodedValue, ttlMs?: number): ChangeRecord {
    const entry = this.checkSet(group, key, value, ttlMs);
    const id = entryId(group, key);
    const existing = this.self.entries.get(id);
    this.self.put(id, entry);
    return changeRecord(existing && !existing.deleted ? "updated" : "added", this.selfName, entry, existing, true, entry.writtenAt);
  }

  /**
   * The entry set() would write, checked against every limit (WriteError when one is broken);
   * nothing is written. `pending` stands for writes accepted but not applied yet (flow control
   * holds them back), which the limits must count too.
   */
  checkSet(group: string, key: string, value: EncodedValue, ttlMs?: number, pending?: PendingWrites): Entry {
    const reserved = group === RESERVED_GROUP;
    validateWrite(group, key, value, ttlMs, reserved ? null : this.options.limits);
    const existing = this.self.entries.get(entryId(group, key));
    const keyLive = pending?.keyLive ?? (existing !== undefined && !existing.deleted);
    if (!reserved && !keyLive) {
      const live = pending?.liveEntries ?? this.self.liveUserEntries;
      if (live >= this.options.limits.maxEntriesPerNode) {
        throw new WriteError(`node ${this.selfName} already holds ${live} entries, the limit (maxEntriesPerNode)`);
      }
    }
    const entry: Entry = {
      group,
      key,
      value: value.bytes,
      valueType: value.type,
      version: this.self.maxVersion + 1 + (pending?.versionsBefore ?? 0),
      deleted: false,
      writtenAt: this.wallNowMs(),
    };
    if (ttlMs !== undefined) entry.expiresAt = Math.round(this.clock.wallNow() + ttlMs);
    this.checkFitsInGossip(entry);
    return entry;
  }

  /** Deletes an entry of this node; returns null when there was nothing live to delete. */
  delete(group: string, key: string): ChangeRecord | null {
    return this.tombstone(group, key, "deleted");
  }

  private tombstone(group: string, key: string, kind: "deleted" | "expired"): ChangeRecord | null {
    const id = entryId(group, key);
    const existing = this.self.entries.get(id);
    if (!existing || existing.deleted) return null;
    const tombstone: Entry = {
      group,
      key,
      value: new Uint8Array(0),
      valueType: existing.valueType,
      version: this.self.maxVersion + 1,
      deleted: true,
      deletedAt: this.clock.now(),
      writtenAt: this.wallNowMs(),
    };
    this.self.put(id, tombstone);
    return changeRecord(kind, this.selfName, existing, existing, true, tombstone.writtenAt);
  }

  /** Starts a round: this node's heartbeat advances, and each peer may introduce new names again. */
  bumpHeartbeat(): void {
    const slot = this.nodes.slotOf(this.selfName);
    this.nodes.setHeartbeatAt(slot, this.nodes.heartbeatAt(slot) + 1);
    this.introducedThisRound.clear();
  }

  /**
   * Adds `name`, heard of from peer `from` (a digest or delta), within the member limits
   * (probation.ts): its slot, or -1 when refused this time. The peer's word for itself is
   * first-hand: a member at once, for which a probationary name makes room in a full table.
   * Anything else comes in probationary (with probation on); the longest-waiting probationary
   * name makes room when their set is full.
   */
  learn(name: string, generation: number, from: string): number {
    const introduced = this.introducedThisRound.get(from) ?? 0;
    if (introduced >= NEW_MEMBERS_PER_PEER_ROUND) return -1;
    const firstHand = name === from;
    const full = this.nodes.size >= this.options.limits.maxMembers;
    if (this.probation.size > 0 && (firstHand ? full : this.probation.size >= this.probation.limit)) this.dropProbationary(this.probation.oldest()!);
    if (this.nodes.size >= this.options.limits.maxMembers) return -1;
    this.introducedThisRound.set(from, introduced + 1);
    if (this.options.probation && !firstHand) this.probation.admit(name, this.heartbeatOf(this.selfName));
    return this.nodes.set(name, new NodeState(name, generation));
  }

  /**
   * First-hand word of `name` (its own digest entry): a probationary name becomes a member.
   * Returns null when it was not probationary; else the "added" records of its entries, which
   * nobody was told of while it was (membership must learn of it now, too).
   */
  promote(name: string): ChangeRecord[] | null {
    if (this.probation.size === 0 || !this.probation.release(name)) return null;
    return this.heldAgain(name, false, true);
  }

  /** Whether `name` is held on probation, unknown to membership. */
  isProbationary(name: string): boolean {
    return this.probation.size > 0 && this.probation.has(name);
  }

  /** Its entries were never reported (probation.ts), so dropping it reports nothing either. */
  private dropProbationary(name: string): void {
    this.probation.release(name);
    this.nodes.delete(name);
  }

  /** The highest heartbeat counter known of a node (0 for an unknown one). */
  heartbeatOf(name: string): number {
    const slot = this.nodes.slotOf(name);
    return slot < 0 ? 0 : this.nodes.heartbeatAt(slot);
  }

  digest(): DigestEntry[] {
    const nodes = this.nodes;
    const digest: DigestEntry[] = [];
    for (let slot = 0; slot < nodes.slotCount; slot++) {
      const node = nodes.at(slot);
      if (node === undefined) continue;
      digest.push({
        node: node.name,
        generation: node.generation,
        // Heartbeat 0: "known, not vouched for" (probation.ts); no node learns a new name from it.
        heartbeat: this.isProbationary(node.name) ? 0 : nodes.heartbeatAt(slot),
        maxVersion: node.maxVersion,
        collectedUpTo: node.collectedUpTo,
      });
    }
    return digest;
  }

  /** Reads one live entry of any node. */
  get(node: string, group: string, key: string): Entry | undefined {
    const entry = this.nodes.get(node)?.lookup(entryId(group, key));
    return entry && !entry.deleted ? entry : undefined;
  }

  /** Live entries of one node, in version order. */
  *liveEntries(node: string): Generator<Entry> {
    const state = this.nodes.get(node);
    if (!state) return;
    for (const entry of state.entries.values()) if (!entry.deleted) yield entry;
    // A lookup per replaced entry, not a set of every id seen: building that set stalled the
    // event loop for ~100 ms at once (one rehash) when /v1/state walked 300k entries.
    if (state.replaced) for (const [id, entry] of state.replaced) if (!state.entries.has(id) && !entry.deleted) yield entry;
  }

  /** True when a node of this name and generation was removed and must not be re-learned. */
  isRemoved(name: string, generation: number): boolean {
    return this.removed.bars(name, generation);
  }

  /**
   * Forgets a node (dead or left for its removal grace) that the membership removed at
   * `generation`; its name stays barred at that generation for `rememberForMs`, and its heartbeat
   * counter is kept so that only a later one readmits it. Returns false, changing nothing, when
   * the state holds a newer generation: the process that restarted is not the one removed, and
   * dropping and barring it would keep it out of this node's view for good.
   */
  removeNode(name: string, generation: number, as: RemovedAs, rememberForMs: number): boolean {
    if (name === this.selfName) return false;
    const slot = this.nodes.slotOf(name);
    if (slot < 0) return false;
    const held = this.nodes.at(slot)!.generation;
    if (held > generation) return false;
    // An older generation still held (the membership heard of the newer one first-hand) goes
    // too; its heartbeat counter says nothing about the removed generation's.
    const heartbeat = held === generation ? this.nodes.heartbeatAt(slot) : 0;
    const forgetAtMs = this.clock.now() + rememberForMs;
    const kept = as === "dead" && held === generation ? this.nodes.at(slot) : undefined;
    this.removed.add(name, kept ? { generation, heartbeat, as, forgetAtMs, state: kept } : { generation, heartbeat, as, forgetAtMs });
    this.nodes.delete(name);
    return true;
  }

  /**
   * Takes back a node removed as dead when a digest shows it running again at the same generation
   * (RemovedNodes.showsLife): it was frozen, or behind a partition, for longer than the removal
   * grace. It continues from what this node held at the removal (versions, tombstones), at its
   * removal heartbeat, so only newer versions apply; its live entries are reported again ("added"),
   * as the removal reported them gone. Returns null, changing nothing, for any other copy of a
   * removed node.
   */
  readmit(name: string, generation: number, heartbeat: number): ChangeRecord[] | null {
    // Held again already, at a newer generation learned since the removal (a restart): the removed
    // process's late heartbeats change nothing, and must not overwrite the newer record.
    if (this.nodes.has(name) || !this.removed.showsLife(name, generation, heartbeat)) return null;
    const removed = this.removed.get(name)!;
    this.removed.delete(name);
    const slot = this.nodes.set(name, removed.state ?? new NodeState(name, generation));
    this.nodes.setHeartbeatAt(slot, removed.heartbeat);
    return this.heldAgain(name, true, false);
  }

  /**
   * An "added" record for each live entry of `name` (user groups only unless `reserved`): what a
   * reader is told when entries it was not shown become visible. With `writtenAt`, each carries its
   * write's time (a promotion: the entries arrived moments ago and their delay is real); without,
   * none (a readmission: the writes may be far older than the removal).
   */
  heldAgain(name: string, reserved: boolean, writtenAt: boolean): ChangeRecord[] {
    const records: ChangeRecord[] = [];
    for (const entry of this.liveEntries(name)) {
      if (reserved || entry.group !== RESERVED_GROUP) records.push(changeRecord("added", name, entry, undefined, false, writtenAt ? entry.writtenAt : undefined));
    }
    return records;
  }

  /**
   * Expires TTL entries and collects tombstones older than the grace period. Returns a change
   * record for every entry that expired here. Own expired entries become tombstones with a new
   * version, so the expiry reaches nodes that hold no copy of the TTL.
   */
  sweep(): ChangeRecord[] {
    const changes: ChangeRecord[] = [];
    const now = this.clock.now();
    const wallNow = this.clock.wallNow();
    const graceMs = this.options.tombstoneGraceMs;
    const nodes = this.nodes;
    for (let slot = 0; slot < nodes.slotCount; slot++) {
      const held = nodes.at(slot);
      if (held === undefined || held.sweepable.size === 0) continue;
      // Copied (when shared) only once something changes: deleting from the set being iterated
      // is safe when it is this record's own, and a copy has a set of its own.
      const node = (): NodeState => nodes.writable(slot);
      let expiredOwn: Entry[] | null = null;
      for (const id of held.sweepable) {
        const entry = held.entries.get(id);
        if (!entry) {
          node().unsweep(id);
          continue;
        }
        if (entry.deleted) {
          if (entry.deletedAt !== undefined && now - entry.deletedAt >= graceMs) node().collect(id);
        } else if (entry.expiresAt !== undefined && wallNow >= entry.expiresAt) {
          if (held === this.self) (expiredOwn ??= []).push(entry);
          else {
            // Same version (and writtenAt): the origin's own tombstone supersedes it. No write of
            // the origin caused this expiry, so the record carries no writtenAt.
            const tombstone: Entry = { ...entry, value: new Uint8Array(0), deleted: true, deletedAt: now };
            node().entries.set(id, tombstone);
            if (!this.isProbationary(held.name)) changes.push(changeRecord("expired", held.name, entry, entry, false));
          }
        }
      }
      for (const entry of expiredOwn ?? []) {
        const change = this.tombstone(entry.group, entry.key, "expired");
        if (change) changes.push(change);
      }
    }
    this.removed.forgetExpired(now);
    for (const name of this.probation.expired(this.heartbeatOf(this.selfName))) this.dropProbationary(name);
    return changes;
  }

  /** The wall clock in whole ms (a virtual clock may read fractions), as writtenAt travels. */
  private wallNowMs(): number {
    return Math.round(this.clock.wallNow());
  }

  /** An entry that cannot fit in one gossip message on its own could never be delivered. */
  private checkFitsInGossip(entry: Entry): void {
    const budget = this.options.limits.maxGossipBytes;
    const needed = entrySize(entry) + nodeDeltaHeaderSize({ node: this.selfName, generation: this.self.generation, fromVersion: entry.version, collectedUpTo: this.self.collectedUpTo, maxVersion: entry.version }, 1) + 1;
    if (needed > budget) {
      throw new WriteError(`entry ${entry.group}/${entry.key} needs ${needed} bytes but a gossip message holds at most ${budget} (maxGossipBytes)`);
    }
  }
}

export function snapshot(entry: Entry): EntrySnapshot {
  return { value: entry.value, valueType: entry.valueType, version: entry.version };
}

/** `writtenAt`: when the origin made the write this change applies (see ChangeRecord.writtenAt). */
export function changeRecord(kind: ChangeRecord["kind"], node: string, current: Entry, previous: Entry | undefined, local: boolean, writtenAt?: number): ChangeRecord {
  const record: ChangeRecord = { kind, node, group: current.group, key: current.key, current: snapshot(current), local };
  if (previous && !previous.deleted && kind !== "added") record.previous = snapshot(previous);
  if (writtenAt !== undefined) record.writtenAt = writtenAt;
  return record;
}
