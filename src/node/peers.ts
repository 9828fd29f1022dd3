// Whom a node gossips with: the peers of each round, the members its push trees span, the
// contacts the transport introduced before gossip told of them, and which peers may be dialled.
// With membership, live and suspect members are peers and a dead one is retried now and then;
// without it (pure-reconciliation simulations), every known node is a peer.

import { SortedMembers, type PushMembers } from "../gossip/push-tree.ts";
import type { Membership } from "../membership/membership.ts";
import type { Random } from "../random.ts";
import type { ClusterState } from "../state/index.ts";
import type { DialPolicy } from "../transport/transport.ts";

/**
 * Probationary names contacted per round: enough that a joiner's members are vouched for within a
 * few rounds in a cluster of hundreds, few enough that a full probation set costs little.
 */
const PROBATION_CONTACTS_PER_ROUND = 16;

export class NodePeers implements PushMembers {
  /** Peers the transport told of (a node that dialled us first, a seed) that gossip has not named yet. */
  private readonly contacts = new Set<string>();
  private readonly pushMembers: PushMembers;

  constructor(
    private readonly state: ClusterState,
    private readonly membership: Membership | null,
    private readonly random: Random,
  ) {
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

  /** Up to `count` peers for a round; with membership, now and then a dead one too, to notice a return. */
  forRound(count: number): string[] {
    if (!this.membership) return this.sample(count);
    const live = this.membership.livePeers();
    for (const contact of this.contacts) if (contact !== this.state.selfName && !this.state.nodes.has(contact)) live.push(contact);
    const chosen = this.random.shuffle(live).slice(0, count);
    const retry = this.membership.pickDeadPeerForRetry();
    if (retry !== undefined) chosen.push(retry);
    return chosen.concat(this.pickProbationary(PROBATION_CONTACTS_PER_ROUND));
  }

  /**
   * Up to `count` probationary names that have entries (their address among them: real nodes
   * write it before they gossip), to contact: a SYN-ACK vouches for its sender first-hand
   * (state/probation.ts). Names without entries cannot be dialled, and are left to expire.
   */
  private pickProbationary(count: number): string[] {
    const { probation, nodes } = this.state;
    if (probation.size === 0) return [];
    const candidates: string[] = [];
    for (const name of probation.names()) if ((nodes.get(name)?.maxVersion ?? 0) > 0) candidates.push(name);
    return this.random.shuffle(candidates).slice(0, count);
  }

  /** A connection to `name` came up: gossip with it until gossip names it. */
  connected(name: string): void {
    // A known node is not a contact, even once removed, when it would only be dialled in vain.
    if (this.membership?.lastKnownStatus(name) === undefined && !this.state.nodes.has(name)) this.contacts.add(name);
  }

  /** Membership knows `name` from now on: no longer a contact to gossip with blindly. */
  known(name: string): void {
    this.contacts.delete(name);
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
   * 10,000 copies nothing per round; contacts not known yet, only at the start of a join, cost one.
   */
  private sample(count: number): string[] {
    let names = this.state.nodes.names();
    for (const contact of this.contacts) {
      if (!this.state.nodes.has(contact)) {
        names = [...names, ...[...this.contacts].filter((name) => !this.state.nodes.has(name))];
        break;
      }
    }
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
