// Where a pushed write goes next. Every node arranges the members it knows, sorted by name, into
// a `fanout`-ary tree rooted at the write's origin, and forwards to its own children. With the
// same view everywhere each node receives the write exactly once, in about log_fanout(N) hops;
// where views differ or a node is down, a subtree may miss the push or get it twice, and the
// gossip rounds still deliver it. Random forwarding would need about 3× the copies for the same
// coverage (an epidemic with fanout 2 reaches only ~80% of nodes).

/**
 * Children of `self` in the push tree of `origin` over `members` (which should include both;
 * missing ones are added). Returns at most `fanout` names, never `self` or `origin`.
 */
export function pushTreeChildren(members: Iterable<string>, origin: string, self: string, fanout: number): string[] {
  if (fanout <= 0) return [];
  const names = new Set(members);
  names.add(origin);
  names.add(self);
  const sorted = [...names].sort();
  const size = sorted.length;
  const originAt = sorted.indexOf(origin);
  const rank = (sorted.indexOf(self) - originAt + size) % size;
  const children: string[] = [];
  for (let child = rank * fanout + 1; child <= rank * fanout + fanout && child < size; child++) {
    children.push(sorted[(originAt + child) % size]!);
  }
  return children;
}
