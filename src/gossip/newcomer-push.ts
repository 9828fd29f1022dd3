// Joins spread like pushed writes (issue #18): when a node's first entries arrive from the node
// itself (a joiner, or a restart, met first-hand), the receiver pushes its reserved entries
// (address first) down the newcomer's push tree at once, starting the push in the newcomer's
// place, instead of leaving them to the rounds. Those who receive the push hold the name on
// probation, contact it (node/probation-contacts.ts) and forward the push like any other.

import type { NodeDelta } from "../codec/index.ts";
import { type ClusterState, entryId, RESERVED_GROUP } from "../state/index.ts";
import { childrenIn } from "./push-tree.ts";

/** Among `deltas` from `from`, before they are merged: its own delta when it brings the first entries held of it. */
export function firstOwnEntries(state: ClusterState, deltas: readonly NodeDelta[], from: string): NodeDelta | undefined {
  const own = deltas.find((delta) => delta.node === from && delta.fromVersion === 0 && delta.entries.length > 0);
  if (own === undefined) return undefined;
  const held = state.nodes.get(from);
  return held === undefined || held.generation < own.generation || held.maxVersion === 0 ? own : undefined;
}

/**
 * After the merge: the push of the newcomer's reserved entries and its peers (the root's children
 * and this node's own, in the newcomer's tree over `members`), or null when there is none. Only a
 * contiguous run of reserved entries from version 1 that this node now holds: anything else would
 * leave a hole where it arrives.
 */
export function newcomerPush(state: ClusterState, delta: NodeDelta, members: readonly string[], fanout: number): { peers: string[]; delta: NodeDelta } | null {
  const node = state.nodes.get(delta.node);
  if (!node || node.generation !== delta.generation || fanout <= 0) return null;
  let run = 0;
  while (run < delta.entries.length && delta.entries[run]!.group === RESERVED_GROUP && delta.entries[run]!.version === run + 1) run++;
  const entries = delta.entries.slice(0, run).filter((entry) => node.entries.get(entryId(entry.group, entry.key))?.version === entry.version);
  if (entries.length !== run || run === 0) return null;
  const self = state.selfName;
  const peers = new Set([...childrenIn(members, delta.node, delta.node, fanout), ...childrenIn(members, delta.node, self, fanout)]);
  peers.delete(self);
  peers.delete(delta.node);
  return peers.size === 0 ? null : { peers: [...peers], delta: { ...delta, entries } };
}
