// Which probationary names to contact, and when (state/probation.ts): a name learned second-hand
// becomes a member only once it answers this node first-hand, so a join completes as fast as the
// contacts do. A name is contacted as soon as its address arrives, and the next one as soon as an
// earlier contact answers, with at most CONTACTS_IN_FLIGHT unanswered at once: 100 processes
// joining at once on one host each dialling all 99 others at once starved every one of them
// (handshakes timed out, accept queues overflowed, the join took over a minute). Every contact is
// a dial a lying peer could cause (a made-up name at a made-up address), so starts are also
// bounded per round.

import type { Random } from "../random.ts";
import { type ChangeRecord, type ClusterState, RESERVED_GROUP } from "../state/index.ts";
import { ADDRESS_KEY } from "./reserved-entries.ts";

/** Contacts not answered yet, at most. */
const CONTACTS_IN_FLIGHT = 8;
/** Contacts started per round of this node, at most (the round's own picks included). */
const CONTACT_STARTS_PER_ROUND = 48;
/** Of those, picked by the round itself from every probationary name with an address. */
const ROUND_PICKS = 16;
/** A contact not answered within this many rounds (a dial that failed, say) frees its place. */
const CONTACT_ROUNDS = 2;

export class ProbationContacts {
  /** Names contacted and not answered yet, with the round the contact started in. */
  private readonly inFlight = new Map<string, number>();
  private round = 0;
  private startsLeft = CONTACT_STARTS_PER_ROUND;

  constructor(
    private readonly state: ClusterState,
    private readonly random: Random,
  ) {}

  /** A new round: contacts that went unanswered expire, and the round picks some names itself. */
  forRound(): string[] {
    this.round++;
    this.startsLeft = CONTACT_STARTS_PER_ROUND;
    for (const [name, startedIn] of this.inFlight) {
      if (this.round - startedIn >= CONTACT_ROUNDS || !this.state.isProbationary(name)) this.inFlight.delete(name);
    }
    if (this.state.probation.size === 0) return [];
    return this.start(this.random.shuffle([...this.candidates()]), ROUND_PICKS);
  }

  /**
   * After a step of the engine: `discovered` answered (a contact's answer promotes its name), and
   * addresses among `changes` arrived; the names to contact now.
   */
  afterStep(changes: readonly ChangeRecord[], discovered: readonly string[]): string[] {
    let answered = false;
    for (const name of discovered) answered = this.inFlight.delete(name) || answered;
    if (this.state.probation.size === 0) return [];
    const arrived: string[] = [];
    for (const change of changes) {
      if (change.group === RESERVED_GROUP && change.key === ADDRESS_KEY && change.kind !== "deleted" && this.state.isProbationary(change.node)) arrived.push(change.node);
    }
    // An answer frees a place: the next name waiting takes it.
    const waiting = answered ? this.candidates() : [];
    return this.start([...arrived, ...waiting], CONTACTS_IN_FLIGHT);
  }

  /** Probationary names with entries (their address among them: real nodes write it before they gossip), not contacted yet. */
  private *candidates(): Generator<string> {
    const { probation, nodes } = this.state;
    for (const name of probation.names()) if (!this.inFlight.has(name) && (nodes.get(name)?.maxVersion ?? 0) > 0) yield name;
  }

  /** Starts contacts with up to `most` of `names`, within the places in flight and the round's starts. */
  private start(names: Iterable<string>, most: number): string[] {
    const started: string[] = [];
    for (const name of names) {
      if (started.length >= most || this.inFlight.size >= CONTACTS_IN_FLIGHT || this.startsLeft === 0) break;
      if (this.inFlight.has(name)) continue;
      this.inFlight.set(name, this.round);
      this.startsLeft--;
      started.push(name);
    }
    return started;
  }
}
