// Since when this node has known of each version of each node, for the oldest-waiting-first share
// of delta selection. A version becomes known when it arrives in a merge, or earlier, when a
// peer's digest shows the peer holds it. Known versions always extend contiguously (deltas start
// at or below our max version and go up in order; a digest's max version vouches for every
// version below it), so every version between two recorded known-max versions became known at the
// later record's time: one (maxVersion, time) checkpoint per advance is exact. Versions are also
// stamped the first time they are asked about (this node's own writes, and any advance that
// happened while nobody recorded), which is at most a round late.
//
// Why digests count: the share is meant to serve the changes the cluster has waited on longest.
// The time a version arrived here understates that for versions that spread slowly (a quiet
// origin's single change, which scuttle-depth serves last everywhere): by the time it arrives, it
// has waited many rounds at the nodes before. The time this node first saw a peer holding it is a
// closer lower bound of its age, and for versions that spread fast the two are the same.

import type { NodeState } from "../state/index.ts";
import { lowerBound } from "./lower-bound.ts";

/** Checkpoints kept per node; older versions count as known since the oldest checkpoint kept. */
const MAX_CHECKPOINTS = 64;

interface Arrivals {
  generation: number;
  /** Ascending max versions and the local times at which each was first known. */
  versions: number[];
  times: number[];
}

export class VersionArrivals {
  private readonly byNode = new Map<string, Arrivals>();

  constructor(private readonly now: () => number) {}

  /** Nodes with records. */
  get size(): number {
    return this.byNode.size;
  }

  /** Records the node's max version if it advanced since the last record. */
  observe(node: NodeState): void {
    this.record(node, node.generation, node.maxVersion);
  }

  /**
   * A peer's digest lists `maxVersion` for the node: versions up to it exist, and the peer holds
   * them. Ignored for another generation than ours (a restart we have not merged yet).
   */
  learn(node: NodeState, generation: number, maxVersion: number): void {
    // Versions held here already teach nothing: they were stamped when they arrived (observe), or
    // are stamped when first asked about, as any unrecorded advance is. Recording them would cost
    // a record per member a digest lists (10^8 in a simulated cluster of 10,000 nodes that start
    // holding each other's start entries) and a map lookup per digest entry.
    if (generation !== node.generation || maxVersion <= node.maxVersion) return;
    this.record(node, generation, maxVersion);
  }

  /** Local time since which this node knows of `version` of `node` (now, if it does not). */
  knownSince(node: NodeState, version: number): number {
    this.observe(node);
    const arrivals = this.byNode.get(node.name)!;
    const { versions, times } = arrivals;
    // The first checkpoint at or above the version.
    return times[lowerBound(versions, version)] ?? this.now();
  }

  /** Drops the records of nodes no longer known (removed from the cluster). */
  retain(isKnown: (name: string) => boolean): void {
    for (const name of this.byNode.keys()) if (!isKnown(name)) this.byNode.delete(name);
  }

  private record(node: NodeState, generation: number, maxVersion: number): void {
    let arrivals = this.byNode.get(node.name);
    if (!arrivals || arrivals.generation !== generation) {
      arrivals = { generation, versions: [], times: [] };
      this.byNode.set(node.name, arrivals);
    }
    const last = arrivals.versions[arrivals.versions.length - 1] ?? 0;
    if (maxVersion <= last) return;
    arrivals.versions.push(maxVersion);
    arrivals.times.push(this.now());
    if (arrivals.versions.length > MAX_CHECKPOINTS) {
      arrivals.versions.shift();
      arrivals.times.shift();
    }
  }
}
