// Who watches whom directly (Akka's heartbeat ring, "monitored-by-nr-of-members"). Every node
// places itself and the nodes it considers live on a ring ordered by a hash of their names: it
// watches its `count` successors, and sends its own heartbeat to its `count` predecessors, the
// nodes that watch it. Since every node computes the same ring from nearly the same view, each
// node ends up watched directly by about `count` predecessors, whatever the cluster size, so the
// direct traffic per node is constant. Hashing the names (instead of sorting them) keeps nodes
// with similar names, often in the same rack, from watching only each other.

import { nameHash } from "../state/summary.ts";

/** The `count` nodes that follow `self` on the ring of `self` and `live` (self never included). */
export function ringSuccessors(self: string, live: Iterable<string>, count: number): string[] {
  const origin = nameHash(self);
  return nearest(self, live, count, (hash) => (hash - origin) >>> 0, (a, b) => a < b);
}

/**
 * The `count` nodes that precede `self` on the same ring: on a shared view, exactly the nodes
 * whose ringSuccessors include `self`, i.e. the monitors that watch it.
 */
export function ringPredecessors(self: string, live: Iterable<string>, count: number): string[] {
  const origin = nameHash(self);
  return nearest(self, live, count, (hash) => (origin - hash) >>> 0, (a, b) => a > b);
}

/**
 * The `count` names of `live` (self excluded) with the smallest distances, closest first: O(N·count),
 * no full sort. Equal distances (equal hashes) are ordered by name, so every node still builds the
 * same ring.
 */
function nearest(
  self: string,
  live: Iterable<string>,
  count: number,
  distanceOf: (hash: number) => number,
  nameFirst: (a: string, b: string) => boolean,
): string[] {
  if (count <= 0) return [];
  const chosen: Array<{ name: string; distance: number }> = [];
  const closer = (distance: number, name: string, than: { name: string; distance: number }): boolean =>
    distance < than.distance || (distance === than.distance && nameFirst(name, than.name));
  for (const name of live) {
    if (name === self) continue;
    const distance = distanceOf(nameHash(name));
    if (chosen.length === count && !closer(distance, name, chosen[count - 1]!)) continue;
    let at = chosen.length;
    while (at > 0 && closer(distance, name, chosen[at - 1]!)) at--;
    chosen.splice(at, 0, { name, distance });
    if (chosen.length > count) chosen.pop();
  }
  return chosen.map((entry) => entry.name);
}

// Names are hashed as the summaries hash them (state/summary.ts: FNV-1a over the UTF-16 code
// units, then MurmurHash3's finaliser): FNV alone barely moves names that differ in their last
// character ("node-41", "node-42"), which would put them next to each other on the ring again.
export { nameHash };
