// First-hand word from a node, and what it proves: its heartbeat (a PONG with correlation id 0),
// its objection to a verdict (the same PONG), and its answers to our pings (a watched node's, a
// dead node's revival check, a probe round's, directly or through a helper). Only such word makes
// a dead node alive again: gossiped heartbeats of a crashed node keep arriving for rounds after
// the crash. An answer from a newer generation is a restart; one from an older generation proves
// nothing about the current process.

import type { Clock } from "../clock.ts";
import type { HeartbeatRing } from "./direct-watch.ts";
import { isLive, type DirectWatch, type Member, type MemberTable } from "./lifecycle.ts";
import type { MembershipSettings } from "./membership-settings.ts";
import type { Prober } from "./probes.ts";
import type { StallGuard } from "./stall-guard.ts";
import type { Transitions } from "./transitions.ts";
import type { Wakeups } from "./wakeups.ts";

/** Checks of a node after its conviction (recheckDead): the last goes out 2^7 probe timeouts after it. */
const REVIVAL_CHECKS = 7;

export class Answers {
  constructor(
    private readonly clock: Clock,
    private readonly settings: () => MembershipSettings,
    private readonly table: MemberTable,
    private readonly prober: Prober,
    private readonly ring: HeartbeatRing,
    private readonly wakeups: Wakeups,
    private readonly guard: StallGuard,
    private readonly transitions: Transitions,
  ) {}

  /** A PONG from `from`. */
  onPong(from: string, correlationId: number, generation: number): void {
    const member = this.table.get(from);
    // Correlation id 0 answers no ping: the node's heartbeat, or its objection to a verdict. Either
    // way the node itself says it is alive.
    if (correlationId === 0) {
      if (member?.direct && isLive(member) && generation === member.generation) this.onDirectBeat(member, member.direct, true);
      else if (member) this.noteLife(member, generation);
      return;
    }
    if (this.prober.onPong(from, correlationId, generation) || !member) return;
    if (member.direct && member.direct.pingId === correlationId && isLive(member)) {
      if (generation > member.generation) this.transitions.restart(member, generation, this.clock.now());
      else if (generation === member.generation) this.onDirectBeat(member, member.direct, false);
      return;
    }
    if (member.revival?.id === correlationId && member.status === "dead") this.noteLife(member, generation);
    // Anything else is late (after its timeout), unsolicited, or from another node than the one
    // pinged: ignored.
  }

  /** Evidence from a probe that `name` runs at `generation` (a PONG, directly or through a helper). */
  onProbeAnswer(name: string, generation: number): void {
    const member = this.table.get(name);
    if (!member) return;
    // A dead node comes back by answering us (noteLife), not through a ping someone else asked for.
    if (generation > member.generation || member.status === "suspect") this.noteLife(member, generation);
  }

  /**
   * Asks a node we hold dead whether it lives, REVIVAL_CHECKS times after the conviction: 2, 4, 8,
   * … probe timeouts after it (1 s to about a minute at the LAN setting), and after that only
   * through the occasional dead retry (Membership.pickDeadPeerForRetry). A node convicted while it
   * stalled, or while its frames were lost to an overloaded cluster, is alive here again only on
   * its own word, and it cannot tell that we convicted it unless we were one of its monitors:
   * without these checks, 23 of 100 nodes on 2 cores held a live node dead for minutes (the dead
   * retry reaches one dead node about once per 100 rounds from each of them). A crashed node costs
   * each member REVIVAL_CHECKS pings.
   */
  recheckDead(member: Member, now: number): void {
    if (member.revivalChecks >= REVIVAL_CHECKS) return;
    if (now - member.sinceMs < this.settings().probeTimeoutMs * 2 ** (member.revivalChecks + 1)) return;
    member.revivalChecks++;
    this.pingForRevival(member, now);
  }

  /** A dead node's heartbeat advanced in gossip: ask it directly (once per probe timeout). */
  pingForRevival(member: Member, now: number): void {
    if (member.revival && now - member.revival.atMs < this.settings().probeTimeoutMs) return;
    member.revival = { id: this.prober.correlationId(), atMs: now };
    this.prober.sendPing(member.name, member.revival.id);
  }

  /** A beat from a watched node: its heartbeat (`heartbeat` true) or the PONG to our ping. */
  private onDirectBeat(member: Member, direct: DirectWatch, heartbeat: boolean): void {
    const now = this.clock.now();
    this.guard.excuseNewStalls(now);
    this.ring.beat(direct, now, heartbeat);
    if (member.status === "suspect") this.transitions.refute(member, now);
    else this.wakeups.armCrossing(member);
  }

  /** The node itself answered (a refutation, or the PONG to a revival ping), at `generation`. */
  private noteLife(member: Member, generation: number): void {
    const now = this.clock.now();
    if (generation > member.generation) {
      this.transitions.restart(member, generation, now);
    } else if (generation < member.generation) {
      return;
    } else if (member.status === "suspect") {
      // The answer stands in for a heartbeat: without it phi would still be over the threshold
      // and the next check would suspect the node again at once.
      this.table.detectorOf(member).heartbeat(now);
      this.transitions.refute(member, now);
    } else if (member.status === "dead") {
      this.transitions.revive(member, now);
    }
  }
}
