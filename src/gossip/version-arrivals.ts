// When this node first held each version of each node, for the oldest-waiting-first share of
// delta selection. A merge always extends a node's versions contiguously (deltas start at or
// below our max version and go up in order), so every version between two recorded max versions
// arrived at the later record's time: one (maxVersion, time) checkpoint per advance is exact.
// Versions are also stamped the first time they are asked about (this node's own writes, and any
// advance that happened while nobody recorded), which is at most a round late.

import type { NodeState } from "../state/index.ts";

/** Checkpoints kept per node; older versions count as held since the oldest checkpoint kept. */
const MAX_CHECKPOINTS = 64;

interface Arrivals {
  generation: number;
  /** Ascending max versions and the local times at which each was first held. */
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
    let arrivals = this.byNode.get(node.name);
    if (!arrivals || arrivals.generation !== node.generation) {
      arrivals = { generation: node.generation, versions: [], times: [] };
      this.byNode.set(node.name, arrivals);
    }
    const last = arrivals.versions[arrivals.versions.length - 1] ?? 0;
    if (node.maxVersion <= last) return;
    arrivals.versions.push(node.maxVersion);
    arrivals.times.push(this.now());
    if (arrivals.versions.length > MAX_CHECKPOINTS) {
      arrivals.versions.shift();
      arrivals.times.shift();
    }
  }

  /** Local time since which this node holds `version` of `node` (now, if it does not hold it). */
  heldSince(node: NodeState, version: number): number {
    this.observe(node);
    const arrivals = this.byNode.get(node.name)!;
    const { versions, times } = arrivals;
    // The first checkpoint at or above the version: binary search over ascending versions.
    let low = 0;
    let high = versions.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (versions[middle]! < version) low = middle + 1;
      else high = middle;
    }
    return times[low] ?? this.now();
  }

  /** Drops the records of nodes no longer known (removed from the cluster). */
  retain(isKnown: (name: string) => boolean): void {
    for (const name of this.byNode.keys()) if (!isKnown(name)) this.byNode.delete(name);
  }
}
