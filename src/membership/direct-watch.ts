// The direct watch (Akka's heartbeat ring, monitor-ring.ts): this node watches its
// `monitorsPerNode` ring successors with one failure detector each. Every round each node sends
// its heartbeat (a PONG with correlation id 0, carrying its generation) to its ring predecessors,
// the nodes that watch it, and those heartbeats feed the detectors. A monitor pings a watched node
// itself, and feeds the detector from the PONG, only when a round and a half went by without a
// heartbeat from it: views of the ring that differ for a while, a node that predates heartbeats,
// or a silent node. Either way the arrivals are first-hand (the node's own message, not gossip)
// and regular, so a crash shows within the acceptable pause; one message per watch and round
// instead of two.

import { FrameWriter } from "../codec/writer.ts";
import { writePong } from "../codec/probe-messages.ts";
import { createDetector } from "./detector.ts";
import type { DirectWatch, Member, MemberTable } from "./lifecycle.ts";
import type { MembershipSettings } from "./membership-settings.ts";
import { ringPredecessors, ringSuccessors } from "./monitor-ring.ts";
import type { Prober } from "./probes.ts";

export class HeartbeatRing {
  /** Our heartbeat: the same bytes every round, so encoded once (the transport never modifies them). */
  heartbeatFrame: Uint8Array;
  /** Our ring successors, the nodes we watch. */
  private watched: string[] = [];
  /** Our ring predecessors, the nodes that watch us: they get our heartbeat every round. */
  private watchers: string[] = [];
  /** What the ring was last computed from; either moving recomputes it. */
  private builtFrom = { liveSetChanges: -1, monitorsPerNode: -1 };

  constructor(
    private readonly selfName: string,
    selfGeneration: number,
    private readonly table: MemberTable,
    private readonly settings: () => MembershipSettings,
    private readonly prober: Prober,
    private readonly send: (peer: string, frame: Uint8Array) => boolean,
  ) {
    this.heartbeatFrame = heartbeatOf(selfGeneration);
  }

  /** This node renewed its identity: heartbeats carry the new generation. */
  renewGeneration(generation: number): void {
    this.heartbeatFrame = heartbeatOf(generation);
  }

  /**
   * Recomputes our ring successors and predecessors if the live set or monitorsPerNode changed
   * since: new successors get a fresh detector (then `onWatched`), former ones lose theirs.
   */
  refresh(now: number, onWatched: (member: Member) => void): void {
    const { monitorsPerNode, phi } = this.settings();
    const liveSetChanges = this.table.liveSetChanges;
    if (liveSetChanges === this.builtFrom.liveSetChanges && monitorsPerNode === this.builtFrom.monitorsPerNode) return;
    this.builtFrom = { liveSetChanges, monitorsPerNode };
    const live = this.table.ringMembers();
    this.watched = ringSuccessors(this.selfName, live, monitorsPerNode);
    this.watchers = ringPredecessors(this.selfName, live, monitorsPerNode);
    const watched = new Set(this.watched);
    for (const member of this.table.values()) {
      if (!watched.has(member.name)) {
        member.direct = undefined;
      } else if (!member.direct) {
        // Silence counts from now, so a successor that never answers is suspected in time.
        member.direct = { detector: createDetector(phi, now), pingId: 0, answered: false, lastHeartbeatMs: Number.NEGATIVE_INFINITY };
        onWatched(member);
      }
    }
  }

  /** Our heartbeat to every node that watches us. */
  sendHeartbeats(): void {
    for (const name of this.watchers) this.send(name, this.heartbeatFrame);
  }

  /**
   * Pings each ring successor whose heartbeat did not come within the last round and a half (or
   * never came): its PONG is the beat instead, every round for as long as its heartbeats stay
   * away. A heartbeat normally arrives once a round, so a node that sends them is not pinged.
   */
  pingSilent(now: number, roundMs: number): void {
    for (const name of this.watched) {
      const direct = this.table.get(name)?.direct;
      if (!direct) continue;
      if (now - direct.lastHeartbeatMs <= 1.5 * roundMs) continue;
      direct.pingId = this.prober.correlationId();
      this.prober.sendPing(name, direct.pingId);
    }
  }

  /** A beat from a watched node: its heartbeat (`heartbeat` true) or the PONG to our ping. */
  beat(direct: DirectWatch, now: number, heartbeat: boolean): void {
    // The first beat starts the rhythm: the time from the start of the watch to it is not an
    // interval between heartbeats, and would drag the mean down.
    if (direct.answered) direct.detector.heartbeat(now);
    else direct.detector.reset(now);
    direct.answered = true;
    if (heartbeat) direct.lastHeartbeatMs = now;
    // Whichever came first, the heartbeat or the PONG to our ping, the other is the same beat.
    direct.pingId = 0;
  }
}

function heartbeatOf(generation: number): Uint8Array {
  const writer = new FrameWriter(16);
  writePong(writer, 0, generation);
  return writer.finish();
}
