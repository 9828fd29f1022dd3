// Who may become a member, and how many. Any peer can name any number of nodes in a digest or a
// delta; one that named 200,000 made-up nodes once took a node to 600 MB, 100% CPU and frames
// past the frame limit, and halted replication across the cluster (issue #16). So:
//
// - the member table holds at most maxMembers names, this node included;
// - one peer introduces at most NEW_MEMBERS_PER_PEER_ROUND new names per round of ours; the rest
//   are ignored this time (a real node is named again in the next exchange);
// - with probation on (nodes with membership), a name learned second-hand is probationary: it is
//   held (its entries replicate) but membership does not know it, so no probe, suspicion or
//   gossip round is spent on it, and this node's digest lists it with heartbeat 0 ("known, not
//   vouched for"), which no other node learns a new name from, so made-up names do not spread.
//   It becomes a member on first-hand contact: a connection that completed the handshake under
//   its name (it dialled us, or we dialled it: the node tries one probationary member with an
//   address each round). Hearing it from several peers, or seeing its heartbeat advance in
//   digests, proves nothing: one liar can report anything, advancing heartbeats included.
// - probationary names are bounded (probationLimit) apart from members: when the set is full the
//   longest-waiting one goes, and when the table is full a probationary name makes room for one
//   contacted first-hand, so made-up names never crowd out real members. One not contacted within
//   PROBATION_ROUNDS of our rounds is dropped; if it is real, it is named again and tried again.

/**
 * Entries (tombstones and reserved ones included) held of one probationary name. Its entries
 * replicate, but only this many: one peer pushing 100,000 entries of a made-up node once stalled a
 * node for seconds and took it past twice its idle memory. A real node's reserved entries (its
 * address above all, which first-hand contact needs) are its first versions and fit; the rest
 * waits, unapplied and not refused (its max version does not move), until first-hand contact
 * makes it a member and anti-entropy brings the rest.
 */
export const PROBATION_ENTRIES = 32;

/** New names one peer may introduce per round of this node (digests and deltas together). */
export const NEW_MEMBERS_PER_PEER_ROUND = 64;

/** Rounds of this node a probationary name is kept without first-hand contact. */
export const PROBATION_ROUNDS = 30;

/** The probationary set's bound for a member cap: a sixteenth of it, at least 16. */
export function probationLimit(maxMembers: number): number {
  return Math.max(16, Math.ceil(maxMembers / 16));
}

/** Names learned second-hand and not yet contacted, in admission order, with the round each came in. */
export class Probation {
  /** Insertion order is admission order: the first key is the longest waiting. */
  private readonly admittedAt = new Map<string, number>();

  constructor(readonly limit: number) {}

  get size(): number {
    return this.admittedAt.size;
  }

  has(name: string): boolean {
    return this.admittedAt.has(name);
  }

  names(): IterableIterator<string> {
    return this.admittedAt.keys();
  }

  admit(name: string, round: number): void {
    this.admittedAt.set(name, round);
  }

  /** Ends probation (first-hand contact, or the name was dropped); false when it was not on probation. */
  release(name: string): boolean {
    return this.admittedAt.delete(name);
  }

  /** The longest-waiting name, or undefined. */
  oldest(): string | undefined {
    for (const name of this.admittedAt.keys()) return name;
    return undefined;
  }

  /** Names admitted more than PROBATION_ROUNDS before `round`, oldest first. */
  expired(round: number): string[] {
    const expired: string[] = [];
    for (const [name, admitted] of this.admittedAt) {
      if (round - admitted <= PROBATION_ROUNDS) break;
      expired.push(name);
    }
    return expired;
  }
}
