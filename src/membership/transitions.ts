// Each lifecycle transition with everything it entails, in one place: the record in the table
// (lifecycle.ts), the suspicion and its probe rounds started or ended, the wakeups, the verdict
// shared, the node's state dropped from the cluster state. The membership (membership.ts) decides
// which transition is due; whichever evidence led to it, the transition then goes the same way.

import type { RemovedAs } from "../state/removed-nodes.ts";
import type { Member, MemberTable } from "./lifecycle.ts";
import { removalMemoryMs, type MembershipSettings } from "./membership-settings.ts";
import { newProbeRound, type Prober } from "./probes.ts";
import { Suspicion, type SuspicionSource } from "./suspicion.ts";
import type { Verdicts } from "./verdicts.ts";
import type { Wakeups } from "./wakeups.ts";

/** Drops the node's state from the cluster state and remembers the removal (MembershipHooks.removeNode). */
export type RemoveNode = (name: string, generation: number, as: RemovedAs, rememberForMs: number) => void;

export class Transitions {
  constructor(
    private readonly table: MemberTable,
    private readonly settings: () => MembershipSettings,
    private readonly prober: Prober,
    private readonly wakeups: Wakeups,
    private readonly verdicts: Verdicts,
    private readonly removeNode: RemoveNode,
  ) {}

  /** alive → suspect, on our own detector's evidence or another node's verdict: a probe round starts. */
  suspect(member: Member, source: SuspicionSource, now: number): void {
    member.suspicion = new Suspicion(source, now);
    this.table.setStatus(member, "suspect", "suspect", now);
    this.probe(member, member.suspicion);
  }

  /**
   * alive → suspect on another node's verdict when our own check is done already (we pinged the
   * node for a peer's probe round and it did not answer): the round counts as failed, no new one.
   */
  suspectChecked(member: Member, now: number): void {
    member.suspicion = new Suspicion("verdict", now);
    this.table.setStatus(member, "suspect", "suspect", now);
    member.suspicion.round = newProbeRound(member.name, member.generation);
    member.suspicion.roundFailed(member.suspicion.round);
    this.wakeups.at(member, now);
  }

  /** Another probe round for the suspicion. */
  probe(member: Member, suspicion: Suspicion): void {
    suspicion.round = newProbeRound(member.name, member.generation);
    this.prober.start(suspicion.round);
  }

  /** suspect → alive: the suspicion was wrong (the node answered, or a fresh beat came). */
  refute(member: Member, now: number): void {
    this.endSuspicion(member);
    this.table.setStatus(member, "alive", "alive", now);
    this.wakeups.armCrossing(member);
  }

  /** suspect → dead, and the verdict goes out. */
  convict(member: Member, now: number): void {
    // Our own evidence: we watch the node directly (one of its monitors) and our detector agrees,
    // whatever verdict came first; with no direct watch at all (monitorsPerNode 0) the gossip
    // detector's. A non-monitor's gossip detector goes silent with nothing wrong since protocol 4
    // (no heartbeats where summaries agree): its conviction rests on another's word and our probe.
    const watches = member.direct !== undefined || this.settings().monitorsPerNode === 0;
    const ownEvidence = watches && this.table.phiOf(member, now) >= this.settings().phi.threshold;
    member.suspicion = undefined;
    this.table.setStatus(member, "dead", "dead", now);
    this.verdicts.share(member.name, member.generation, ownEvidence);
  }

  /** dead → alive, on word from the node itself; a readmitted (unannounced) node joins again. */
  revive(member: Member, now: number): void {
    member.revival = undefined;
    // Its old rhythm ended with a long gap that is not a sample of its behaviour.
    resetDetectors(member, now);
    // Our last record of a readmitted node was its removal.
    const kind = member.announced ? "alive" : "joined";
    member.announced = true;
    this.table.setStatus(member, "alive", kind, now);
    this.wakeups.armCrossing(member);
  }

  /**
   * Any state → alive at a new generation: the new process replaces the old one, whatever state the
   * old one was in. It is not a death, so no "dead" record; its old rhythm says nothing about the
   * new process.
   */
  restart(member: Member, generation: number, now: number): void {
    this.endSuspicion(member);
    member.generation = generation;
    member.revival = undefined;
    resetDetectors(member, now);
    member.announced = true;
    this.table.setStatus(member, "alive", "joined", now);
  }

  /** alive | suspect | dead → left. */
  leave(member: Member, now: number): void {
    this.endSuspicion(member);
    member.revival = undefined;
    this.table.setStatus(member, "left", "left", now);
  }

  /** dead | left → forgotten: the node's state leaves the cluster state too. */
  remove(member: Member, now: number): void {
    this.endSuspicion(member);
    this.wakeups.cancel(member);
    this.table.delete(member);
    this.removeNode(member.name, member.generation, member.status === "left" ? "left" : "dead", removalMemoryMs(this.settings()));
    // Reported even for a node never announced: the cluster state may have held it, its entries
    // then reported (entry-added), and only this record says they are gone.
    this.table.record("removed", member, now);
  }

  /** The suspicion is over (refuted, or the node restarted, left or was removed): its round too. */
  endSuspicion(member: Member): void {
    if (member.suspicion?.round) this.prober.cancel(member.suspicion.round);
    member.suspicion = undefined;
  }
}

function resetDetectors(member: Member, now: number): void {
  member.gossipDetector.reset(now);
  member.direct?.detector.reset(now);
}
