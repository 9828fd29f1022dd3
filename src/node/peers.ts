// Whom a node gossips with: the peers of each round, the members its push trees span, the
// contacts (connected peers neither gossip nor membership knows), and which peers may be dialled.
// With membership, live and suspect members are peers and a dead one is retried now and then;
// without it (pure-reconciliation simulations), every known node is a peer.

import { SortedMembers, type PushMembers } from "../gossip/push-tree.ts";
import type { Membership } from "../membership/membership.ts";
import type { Random } from "../random.ts";
import type { ChangeRecord, ClusterState } from "../state/index.ts";
import { ProbationContacts } from "./probation-contacts.ts";
import type { DialPolicy } from "../transport/transport.ts";

export class NodePeers implements PushMembers {
  /** Peers with a connection the transport told of (a node that dialled us, a seed), until it closes. */
  private readonly links = new Set<string>();
  private readonly pushMembers: PushMembers;
  private readonly probationContacts: ProbationContacts;

  constructor(
    private readonly state: ClusterState,
    private readonly membership: Membership | null,
    private readonly random: Random,
  ) {
    this.probationContacts = new ProbationContacts(state, random);
    // Every write this node makes or forwards consults the push tree: sorting the members once per
    // change of the live set, not per write, keeps that O(fanout + log N).
    this.pushMembers = membership
      ? new SortedMembers(state.selfName, () => membership.liveSetChanges, () => membership.livePeers())
      : { get: () => sortedOnce(state.nodes.names()) };
  }

  /** The members push trees span, this node included, sorted. */
  get(): readonly string[] {
    return this.pushMembers.get();
  }

  /** The live peers (every other node known, without membership): who user events and waitApplied count. */
  live(): string[] {
    return this.membership ? this.membership.livePeers() : this.state.nodes.names().filter((name) => name !== this.state.selfName);
  }

  /** Up to `count` peers for a round; with membership, now and then a dead one too, and probationary names to contact. */
  forRound(count: number): string[] {
    if (!this.membership) return this.sample(count);
    const live = this.membership.livePeers();
    for (const contact of this.contacts()) live.push(contact);
    const chosen = this.random.shuffle(live).slice(0, count);
    const retry = this.membership.pickDeadPeerForRetry();
    if (retry !== undefined) chosen.push(retry);
    return chosen.concat(this.probationContacts.forRound());
  }

  /** Probationary names to contact after an engine step that brought `changes` and `discovered` (probation-contacts.ts). */
  contactsAfter(changes: readonly ChangeRecord[], discovered: readonly string[]): string[] {
    return this.membership ? this.probationContacts.afterStep(changes, discovered) : [];
  }

  /** A connection to `name` came up: gossip with it whenever nothing else knows it (contacts()). */
  connected(name: string): void {
    this.links.add(name);
  }

  disconnected(name: string): void {
    this.links.delete(name);
  }

  /**
   * Connected peers that neither the state nor membership knows: one that dialled us before
   * gossip named it, a seed at the start of a join, and also one known once but forgotten since.
   * The last is what heals a split that outlasted the removal memory: both sides removed each
   * other, forgot the removals, and only the connections (seeds are re-dialled by the transport)
   * still join them; gossip over one makes each side learn the other anew. A removal still
   * remembered keeps the peer out (it is dead or left: dialling it would be in vain).
   */
  private *contacts(): Generator<string> {
    for (const name of this.links) {
      if (name !== this.state.selfName && !this.state.nodes.has(name) && this.membership?.lastKnownStatus(name) === undefined) yield name;
    }
  }

  /**
   * A node that left is never dialled again (a restart with a new generation dials us, or gossip
   * tells of it); a dead one only quietly: the occasional dead-peer round and revival checks expect
   * refusals.
   */
  dialPolicy(name: string): DialPolicy {
    const status = this.membership?.lastKnownStatus(name);
    return status === "left" ? "never" : status === "dead" ? "quiet" : "dial";
  }

  /**
   * Without membership: random known nodes and contacts, never this one. Rejection sampling over
   * the state's cached name list (shared with a converged start's snapshot): a simulated node of
   * 10,000 copies nothing per round; contacts, only at the start of a join, cost one.
   */
  private sample(count: number): string[] {
    let names = this.state.nodes.names();
    const contacts = [...this.contacts()];
    if (contacts.length > 0) names = [...names, ...contacts];
    const self = this.state.selfName;
    const chosen = new Set<string>();
    for (let attempt = 0; attempt < count * 8 && chosen.size < count && chosen.size < names.length; attempt++) {
      const name = names[this.random.int(names.length)]!;
      if (name !== self) chosen.add(name);
    }
    return [...chosen];
  }
}

/**
 * The sorted copy of a member name list, one per list: nodes whose tables still hold a shared
 * snapshot's list (the simulator's converged start) share one sorted copy instead of N. A table's
 * list holds its own node, as push trees need.
 */
const sortedLists = new WeakMap<readonly string[], readonly string[]>();
function sortedOnce(names: readonly string[]): readonly string[] {
  let sorted = sortedLists.get(names);
  if (!sorted) {
    sorted = [...names].sort();
    sortedLists.set(names, sorted);
  }
  return sorted;
}
