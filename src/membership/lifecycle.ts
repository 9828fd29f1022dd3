// The lifecycle table: one record per other node this node knows, its status, and the records of
// its transitions.
//
//   (discovered) ──joined──▶ alive ──suspect──▶ suspect ──dead──▶ dead ──removed──▶ (forgotten)
//                              ▲                   │                │
//                              └──────alive────────┴──────alive─────┘   (an answer, a fresh heartbeat)
//   alive | suspect | dead ──left──▶ left ──removed──▶ (forgotten)      (LEAVE, or its status says so)
//   any state ──joined──▶ alive                                          (a new generation: a restart)
//
// The table decides nothing: the membership (membership.ts) decides which transition is due and
// applies it here. What the table guarantees is the bookkeeping every decision relies on: every
// status change of an announced node produces exactly one Transition record; a node first heard of
// as dead or left (unannounced) produces none until it joins, but its removal's; a node that stops being live loses
// its direct watch; and a counter moves whenever the set of live nodes may have changed.

import type { Clock, Timer } from "../clock.ts";
import { createDetector, type DetectorSettings, type FailureDetector } from "./detector.ts";
import type { Suspicion } from "./suspicion.ts";

export type MemberStatus = "alive" | "suspect" | "dead" | "left";
export type TransitionKind = "joined" | "suspect" | "alive" | "dead" | "left" | "removed";

export interface Transition {
  kind: TransitionKind;
  node: string;
  generation: number;
  /** The node's phi when the transition happened (0 for left nodes, which are no longer watched). */
  phi: number;
  /** Clock.now() of the transition. */
  at: number;
}

export interface MemberView {
  name: string;
  status: MemberStatus;
  generation: number;
  /** Current suspicion level (from the direct watch when there is one); 0 for left nodes. */
  phi: number;
  lastHeartbeatAgeMs: number;
  /** Whether this node watches it directly (it is one of our ring successors). */
  watchedDirectly: boolean;
}

/** A ring successor we watch: fed by its heartbeats, or by the PONGs to our pings when they stop. */
export interface DirectWatch {
  readonly detector: FailureDetector;
  /** Our latest ping; only its PONG counts (an older one is late, or a duplicate). */
  pingId: number;
  /** Whether any beat (heartbeat or PONG) came yet; the first starts the rhythm (see direct-watch.ts). */
  answered: boolean;
  /** Clock time of the node's latest heartbeat: a round and a half without one and we ping it. */
  lastHeartbeatMs: number;
}

export interface Member {
  readonly name: string;
  generation: number;
  status: MemberStatus;
  /** Fed by the node's heartbeat counter advancing in gossip digests. */
  gossipDetector: FailureDetector;
  /** Set while the node is one of our ring successors; its detector then decides suspicion. */
  direct: DirectWatch | undefined;
  /** When the current status began: the clock for suspect, dead and left timeouts. */
  sinceMs: number;
  /**
   * False for a node first heard of as already dead or left, or readmitted as dead: it never
   * joined in our view (again), so it produces no records until it joins, but its removal's.
   */
  announced: boolean;
  /** Set while suspect. */
  suspicion: Suspicion | undefined;
  /** The next evaluation between rounds (wakeups.ts). */
  wakeup: Timer | undefined;
  /** When `wakeup` fires. */
  wakeupAtMs: number;
  /** Dead only: the ping that checks whether gossiped heartbeats are fresh, and when it went out. */
  revival: { readonly id: number; readonly atMs: number } | undefined;
  /** Dead only: how many of the checks after the conviction went out (Answers.recheckDead). */
  revivalChecks: number;
}

/** Alive or suspect: gossiped with, pinged, and counted on the ring. */
export function isLive(member: Member): boolean {
  return member.status === "alive" || member.status === "suspect";
}

export class MemberTable {
  private readonly byName = new Map<string, Member>();
  /** Moves whenever a member becomes live or stops being live (see liveSetChanges). */
  private liveChanges = 0;

  constructor(
    private readonly clock: Clock,
    /** The detector settings new records are built with (they may change live). */
    private readonly detectorSettings: () => DetectorSettings,
    private readonly onTransition: (transition: Transition) => void,
  ) {}

  get(name: string): Member | undefined {
    return this.byName.get(name);
  }

  /** Whether `member` is still the table's record of its node (not removed, not replaced). */
  holds(member: Member): boolean {
    return this.byName.get(member.name) === member;
  }

  values(): IterableIterator<Member> {
    return this.byName.values();
  }

  /** A node discovered alive: it joins. */
  admit(name: string, generation: number, now: number): Member {
    const member = this.add(name, generation, "alive", now);
    this.record("joined", member, now);
    return member;
  }

  /**
   * A node first heard of as dead or left: kept, so that stale gossip cannot make it join, but it
   * never joined in our view and produces no records until it does.
   */
  addUnannounced(name: string, generation: number, status: "dead" | "left", now: number): Member {
    const member = this.add(name, generation, status, now);
    member.announced = false;
    return member;
  }

  /** Forgets the member; the caller records "removed" (after the cluster state dropped it). */
  delete(member: Member): void {
    this.byName.delete(member.name);
    this.liveSetChanged();
  }

  /** Moves the member to `status`, recorded as `kind` if it is announced. */
  setStatus(member: Member, status: MemberStatus, kind: TransitionKind, now: number): void {
    const wasLive = isLive(member);
    member.status = status;
    member.sinceMs = now;
    if (status === "dead") member.revivalChecks = 0;
    if (wasLive !== isLive(member)) {
      this.liveSetChanged();
      // A node we no longer consider live is pinged no more; the ring picks its successor.
      if (!isLive(member)) member.direct = undefined;
    }
    if (member.announced) this.record(kind, member, now);
  }

  record(kind: TransitionKind, member: Member, now: number): void {
    this.onTransition({ kind, node: member.name, generation: member.generation, phi: this.phiOf(member, now), at: now });
  }

  /** The detector that decides about the node: the direct watch's when there is one. */
  detectorOf(member: Member): FailureDetector {
    return member.direct?.detector ?? member.gossipDetector;
  }

  phiOf(member: Member, now: number): number {
    return member.status === "left" ? 0 : this.detectorOf(member).phi(now);
  }

  /** The silence of the last `pauseMs` was our own stall: excused in every detector. */
  excuseLocalPause(pauseMs: number, now: number): void {
    for (const member of this.byName.values()) {
      member.gossipDetector.excuseLocalPause(pauseMs, now);
      member.direct?.detector.excuseLocalPause(pauseMs, now);
    }
  }

  /** A counter that moves whenever livePeers() may have changed. */
  get liveSetChanges(): number {
    return this.liveChanges;
  }

  /** Alive and suspect nodes (suspect nodes still get gossip so they can refute). */
  livePeers(): string[] {
    return this.namesWhere(isLive);
  }

  deadPeers(): string[] {
    return this.namesWhere((member) => member.status === "dead");
  }

  /** Live nodes that joined in our view: the ring is built from these. */
  ringMembers(): string[] {
    return this.namesWhere((member) => isLive(member) && member.announced);
  }

  /** Alive nodes other than `target`, for a probe round's helpers. */
  helperCandidates(target: string): string[] {
    return this.namesWhere((member) => member.status === "alive" && member.announced && member.name !== target);
  }

  /** Every record, by name, with its current phi. */
  views(): MemberView[] {
    const now = this.clock.now();
    const views: MemberView[] = [];
    for (const member of this.byName.values()) {
      views.push({
        name: member.name,
        status: member.status,
        generation: member.generation,
        phi: this.phiOf(member, now),
        lastHeartbeatAgeMs: Math.max(0, now - this.detectorOf(member).lastHeartbeatMs),
        watchedDirectly: member.direct !== undefined,
      });
    }
    return views.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private add(name: string, generation: number, status: MemberStatus, now: number): Member {
    const member: Member = {
      name,
      generation,
      status,
      // Creating the detector counts as the first heartbeat: a node we learn of and never hear
      // from again must still be suspected eventually.
      gossipDetector: createDetector(this.detectorSettings(), now),
      direct: undefined,
      sinceMs: now,
      announced: true,
      suspicion: undefined,
      wakeup: undefined,
      wakeupAtMs: Number.POSITIVE_INFINITY,
      revival: undefined,
      revivalChecks: 0,
    };
    this.byName.set(name, member);
    if (isLive(member)) this.liveSetChanged();
    return member;
  }

  private liveSetChanged(): void {
    this.liveChanges++;
  }

  private namesWhere(wanted: (member: Member) => boolean): string[] {
    const names: string[] = [];
    for (const member of this.byName.values()) if (wanted(member)) names.push(member.name);
    return names;
  }
}
