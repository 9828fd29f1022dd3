// Whom a node gossips with: the peers of each round, the members its push trees span, the
// contacts (connected peers neither gossip nor membership knows), and which peers may be dialled.
// With membership, live and suspect members are peers and a dead one is retried now and then;
// without it (pure-reconciliation simulations), every known node is a peer.

import { SortedMembers, type PushMembers } from "../gossip/push-tree.ts";
import type { Membership } from "../membership/membership.ts";
import type { Random } from "../random.ts";
import { type ChangeRecord, type ClusterState, RESERVED_GROUP } from "../state/index.ts";
import { ADDRESS_KEY } from "./reserved-entries.ts";
import type { DialPolicy } from "../transport/transport.ts";

/**
 * Probationary names contacted per round: enough that a joiner's members are vouched for within a
 * few rounds in a cluster of hundreds, few enough that a full probation set costs little.
 */
const PROBATION_CONTACTS_PER_ROUND = 16;

/**
 * Probationary names contacted as soon as their address arrives, per round (on top of the
 * round's): a joiner of a cluster of tens meets every member within round trips of its first
 * exchange. Bounded, because a lying peer can name made-up nodes at made-up addresses: each
 * contact is a dial.
 */
const CONTACTS_ON_ARRIVAL_PER_ROUND = 32;

export class NodePeers implements PushMembers {
  /** Peers with a connection the transport told of (a node that dialled us, a seed), until it closes. */
  private readonly links = new Set<string>();
  private readonly pushMembers: PushMembers;
  private contactsOnArrivalLeft = CONTACTS_ON_ARRIVAL_PER_ROUND;

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

  /** The live peers (every other node known, without membership): who user events and waitApplied count. */
  live(): string[] {
    return this.membership ? this.membership.livePeers() : this.state.nodes.names().filter((name) => name !== this.state.selfName);
  }

  /** Up to `count` peers for a round; with membership, now and then a dead one too, to notice a return. */
  forRound(count: number): string[] {
    this.contactsOnArrivalLeft = CONTACTS_ON_ARRIVAL_PER_ROUND;
    if (!this.membership) return this.sample(count);
    const live = this.membership.livePeers();
    for (const contact of this.contacts()) live.push(contact);
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

  /**
   * Probationary names whose address just arrived among `changes`, to contact now rather than at a
   * later round (within CONTACTS_ON_ARRIVAL_PER_ROUND): their answer vouches for them first-hand.
   */
  contactOnArrival(changes: readonly ChangeRecord[]): string[] {
    if (this.state.probation.size === 0) return [];
    const names: string[] = [];
    for (const change of changes) {
      if (this.contactsOnArrivalLeft === 0) break;
      if (change.group !== RESERVED_GROUP || change.key !== ADDRESS_KEY || change.kind === "deleted" || !this.state.isProbationary(change.node)) continue;
      names.push(change.node);
      this.contactsOnArrivalLeft--;
    }
    return names;
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
