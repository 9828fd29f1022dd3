import { lowerBound } from "./lower-bound.ts";

// Where a pushed write goes next. Every node arranges the members it knows, sorted by name, into
// a `fanout`-ary tree rooted at the write's origin, and forwards to its own children. With the
// same view everywhere each node receives the write exactly once, in about log_fanout(N) hops;
// where views differ or a node is down, a subtree may miss the push or get it twice, and the
// gossip rounds still deliver it. Random forwarding would need about 3× the copies for the same
// coverage (an epidemic with fanout 2 reaches only ~80% of nodes).

/**
 * Children of `self` in the push tree of `origin` over `members` (which should include both;
 * missing ones are added). Returns at most `fanout` names, never `self` or `origin`. Sorts the
 * members: a caller that pushes often keeps them sorted (SortedMembers) and calls childrenIn.
 */
export function pushTreeChildren(members: Iterable<string>, origin: string, self: string, fanout: number): string[] {
  return childrenIn(sortedWith(members, self), origin, self, fanout);
}

/** `members` and `self`, each once, in the order childrenIn expects. */
function sortedWith(members: Iterable<string>, self: string): string[] {
  const names = new Set(members);
  names.add(self);
  return [...names].sort();
}

/**
 * pushTreeChildren over `sorted`: ascending (as Array.prototype.sort orders strings), without
 * duplicates, holding `self`; an `origin` it lacks takes the place it would sort at. `self` may
 * be the origin itself: the root's children, for a node that starts a push on another's behalf
 * (a member it has just met first-hand, see GossipEngine). O(fanout + log N), so a node of a
 * large cluster does not sort every member for every write it forwards.
 */
export function childrenIn(sorted: readonly string[], origin: string, self: string, fanout: number): string[] {
  if (fanout <= 0) return [];
  const originAt = lowerBound(sorted, origin);
  const originKnown = sorted[originAt] === origin;
  const size = sorted.length + (originKnown ? 0 : 1);
  // Position i of the tree's member list: `sorted` with the origin in its place.
  const nameAt = (i: number): string => (originKnown || i < originAt ? sorted[i]! : i === originAt ? origin : sorted[i - 1]!);
  let selfAt = lowerBound(sorted, self);
  if (!originKnown && selfAt >= originAt && self !== origin) selfAt++;
  const rank = (selfAt - originAt + size) % size;
  const children: string[] = [];
  for (let child = rank * fanout + 1; child <= rank * fanout + fanout && child < size; child++) {
    children.push(nameAt((originAt + child) % size));
  }
  return children;
}

/** The members a node's push trees span, itself included, sorted for childrenIn: a read-only view. */
export interface PushMembers {
  get(): readonly string[];
}

/**
 * A node's live members and itself, sorted for childrenIn, rebuilt only when the live set changed
 * (the caller passes a counter that moves on every change).
 */
export class SortedMembers implements PushMembers {
  private sorted: string[] = [];
  private builtFor = Number.NaN;

  constructor(
    private readonly self: string,
    private readonly changes: () => number,
    private readonly members: () => Iterable<string>,
  ) {}

  get(): readonly string[] {
    const changes = this.changes();
    if (changes !== this.builtFor) {
      this.sorted = sortedWith(this.members(), this.self);
      this.builtFor = changes;
    }
    return this.sorted;
  }
}
