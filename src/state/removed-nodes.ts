// The one registry of nodes removed from the cluster (dead or left for their removal grace). The
// membership decides removals and records them here (through ClusterState.removeNode); merge asks
// it before learning a node from a digest or delta, so that stale copies still circulating cannot
// re-add a removed node, while one removed as dead whose heartbeat advances again is readmitted.
// Each removal is remembered for the time the membership gives it (removalMemoryMs, in
// membership/settings.ts); after that the name is free and a copy of it is a new discovery.

import type { NodeState } from "./node-state.ts";

export type RemovedAs = "dead" | "left";

export interface RemovedNode {
  readonly generation: number;
  /** The highest heartbeat counter known at the removal: a readmission needs a higher one. */
  readonly heartbeat: number;
  readonly as: RemovedAs;
  readonly forgetAtMs: number;
  /**
   * What this node held of a node removed as dead, kept for its readmission: its versions and
   * tombstones are what stop a peer that missed a delete (or an expiry) from bringing the key back
   * (I2 in the chaos campaign found exactly that when readmission started over empty). Costs what
   * the record cost before the removal, for removalMemoryMs; a node removed as left is never
   * readmitted at its generation and keeps nothing.
   */
  readonly state?: NodeState;
}

/** What the membership reads of the registry. */
export interface RemovedNodesView {
  /** True when a copy of `name` at `generation` is of a removed process (this one or an older). */
  bars(name: string, generation: number): boolean;
  /** How a still-remembered node was removed; undefined for a node never removed, or forgotten. */
  statusOf(name: string): RemovedAs | undefined;
  /** Nodes removed as dead and still remembered (to retry now and then: a partition may heal). */
  deadNames(): string[];
}

export class RemovedNodes implements RemovedNodesView {
  private readonly byName = new Map<string, RemovedNode>();

  get size(): number {
    return this.byName.size;
  }

  add(name: string, removed: RemovedNode): void {
    this.byName.set(name, removed);
  }

  bars(name: string, generation: number): boolean {
    if (this.byName.size === 0) return false;
    const removed = this.byName.get(name);
    return removed !== undefined && generation <= removed.generation;
  }

  /**
   * Whether a copy of `name` at `generation` with heartbeat counter `heartbeat` shows the removed
   * process running again: removed as dead (one that left stays gone at its generation), the same
   * generation, and a heartbeat past the one known at removal (copies of the last heartbeat keep
   * circulating after a crash and prove nothing).
   */
  showsLife(name: string, generation: number, heartbeat: number): boolean {
    const removed = this.byName.get(name);
    return removed !== undefined && removed.as === "dead" && generation === removed.generation && heartbeat > removed.heartbeat;
  }

  get(name: string): RemovedNode | undefined {
    return this.byName.get(name);
  }

  delete(name: string): void {
    this.byName.delete(name);
  }

  statusOf(name: string): RemovedAs | undefined {
    return this.byName.get(name)?.as;
  }

  deadNames(): string[] {
    const names: string[] = [];
    for (const [name, removed] of this.byName) if (removed.as === "dead") names.push(name);
    return names;
  }

  /** Forgets the removals whose memory ran out by `nowMs`. */
  forgetExpired(nowMs: number): void {
    for (const [name, removed] of this.byName) if (nowMs >= removed.forgetAtMs) this.byName.delete(name);
  }
}
