// The members one node knows, by name. Each member has a slot: its NodeState in `records`, its
// heartbeat counter in one Float64Array. Heartbeats are kept apart because they are the only
// thing that changes for every member on every digest; a member's NodeState changes only when
// that member writes, restarts or collects.
//
// A table can start from a MemberSnapshot shared with other tables: the simulator starts
// thousands of nodes from one converged membership, and N tables of N members would otherwise
// take N² records. A shared record is copied the first time this table changes it (writable());
// a table never changes a record it does not own. Tables without a snapshot own every record.

import { NodeState } from "./node-state.ts";

/** A membership several tables can start from. Its records must not change once it is built. */
export class MemberSnapshot {
  readonly names: readonly string[];
  readonly slots: ReadonlyMap<string, number>;

  constructor(readonly records: readonly NodeState[]) {
    this.names = records.map((record) => record.name);
    this.slots = new Map(this.names.map((name, slot) => [name, slot]));
    if (this.slots.size !== records.length) throw new Error("a member snapshot lists a name twice");
  }
}

const INITIAL_CAPACITY = 16;

export class MemberTable {
  /** Slots of the names the snapshot does not list (a snapshot's names keep its slots). */
  private readonly ownSlots = new Map<string, number>();
  private readonly records: (NodeState | undefined)[];
  private heartbeats: Float64Array;
  /** Own slots emptied by delete(), reused first. */
  private readonly freeSlots: number[] = [];
  private count = 0;
  /** Names in slot order; rebuilt after a change in membership. */
  private nameList: readonly string[] | null = null;
  private changedFromSnapshot = false;

  constructor(private readonly snapshot: MemberSnapshot | null = null) {
    this.records = snapshot ? [...snapshot.records] : [];
    this.count = this.records.length;
    this.heartbeats = new Float64Array(Math.max(INITIAL_CAPACITY, this.records.length));
  }

  get size(): number {
    return this.count;
  }

  /** Slots in use and empty ones: loops run `slot < slotCount` and skip empty slots. */
  get slotCount(): number {
    return this.records.length;
  }

  /** The member's slot, or -1. Valid until the next delete (whose slot a later add may reuse). */
  slotOf(name: string): number {
    const shared = this.snapshot?.slots.get(name);
    if (shared !== undefined) return this.records[shared] === undefined ? -1 : shared;
    return this.ownSlots.get(name) ?? -1;
  }

  at(slot: number): NodeState | undefined {
    return this.records[slot];
  }

  get(name: string): NodeState | undefined {
    const slot = this.slotOf(name);
    return slot < 0 ? undefined : this.records[slot];
  }

  has(name: string): boolean {
    return this.slotOf(name) >= 0;
  }

  /**
   * Adds a member (heartbeat 0) or replaces its record (heartbeat kept); returns its slot. The
   * name must be the record's own (it is what keys() and digests list).
   */
  set(name: string, node: NodeState): number {
    if (name !== node.name) throw new Error(`member table: record of ${node.name} set under the name ${name}`);
    const existing = this.slotOf(name);
    if (existing >= 0) {
      this.records[existing] = node;
      return existing;
    }
    this.nameList = null;
    this.changedFromSnapshot = true;
    this.count++;
    const shared = this.snapshot?.slots.get(name);
    const slot = shared ?? this.freeSlots.pop() ?? this.records.length;
    if (shared === undefined) this.ownSlots.set(name, slot);
    if (slot === this.records.length) this.records.push(node);
    else this.records[slot] = node;
    this.growHeartbeats(slot + 1);
    this.heartbeats[slot] = 0;
    return slot;
  }

  delete(name: string): boolean {
    const slot = this.slotOf(name);
    if (slot < 0) return false;
    this.records[slot] = undefined;
    this.count--;
    this.nameList = null;
    this.changedFromSnapshot = true;
    if (this.ownSlots.delete(name)) this.freeSlots.push(slot);
    return true;
  }

  /** The record at `slot`, copied first if it is the snapshot's: a record this table may change. */
  writable(slot: number): NodeState {
    const node = this.records[slot];
    if (node === undefined) throw new Error(`member slot ${slot} is empty`);
    if (node !== this.snapshot?.records[slot]) return node;
    const copy = node.clone();
    this.records[slot] = copy;
    return copy;
  }

  heartbeatAt(slot: number): number {
    return this.heartbeats[slot]!;
  }

  setHeartbeatAt(slot: number, heartbeat: number): void {
    this.heartbeats[slot] = heartbeat;
  }

  /** Member names in slot order; the snapshot's own list while membership has not changed. */
  names(): readonly string[] {
    if (this.snapshot && !this.changedFromSnapshot) return this.snapshot.names;
    if (this.nameList === null) {
      const names: string[] = [];
      for (const node of this.records) if (node !== undefined) names.push(node.name);
      this.nameList = names;
    }
    return this.nameList;
  }

  *keys(): Generator<string> {
    for (const node of this.records) if (node !== undefined) yield node.name;
  }

  *values(): Generator<NodeState> {
    for (const node of this.records) if (node !== undefined) yield node;
  }

  *entries(): Generator<[string, NodeState]> {
    for (const node of this.records) if (node !== undefined) yield [node.name, node];
  }

  [Symbol.iterator](): Generator<[string, NodeState]> {
    return this.entries();
  }

  private growHeartbeats(needed: number): void {
    if (needed <= this.heartbeats.length) return;
    const grown = new Float64Array(Math.max(needed, this.heartbeats.length * 2));
    grown.set(this.heartbeats);
    this.heartbeats = grown;
  }
}
