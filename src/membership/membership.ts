// The membership lifecycle of the other nodes, as this node sees them:
//
//   (discovered) ──joined──▶ alive ──suspect──▶ suspect ──dead──▶ dead ──removed──▶ (forgotten)
//                              ▲                   │                │
//                              └──────alive────────┴──────alive─────┘   (an answer, a fresh heartbeat)
//   alive | suspect | dead ──left──▶ left ──removed──▶ (forgotten)      (LEAVE, or its status says so)
//   any state ──joined──▶ alive                                          (a new generation: a restart)
//
// Where suspicion comes from:
// - Direct watch (Akka's heartbeat ring, monitor-ring.ts): this node watches its `monitorsPerNode`
//   ring successors with one phi detector each. Every round each node sends its heartbeat (a PONG
//   with correlation id 0, carrying its generation) to its ring predecessors, the nodes that watch
//   it, and those heartbeats feed the detectors. A monitor pings a watched node itself, and feeds
//   the detector from the PONG, only when a round and a half went by without a heartbeat from it:
//   views of the ring that differ for a while, a node that predates heartbeats, or a silent node.
//   Either way the arrivals are first-hand (the node's own message, not gossip) and regular, so a
//   crash shows within the acceptable pause; one message per watch and round instead of two.
// - Gossip: every node's heartbeat counter, as seen advancing in digests, feeds a second detector
//   per node, so a node nobody here pings directly is still watched. Digests carry heartbeats
//   second-hand, several rounds late and in bursts, so this path is slow; it is the fallback.
// - Verdicts: a node that convicted someone on its own evidence tells every live node (a PROBE
//   with correlation id 0). The receivers do not take its word for it: each suspects the node and
//   checks it for itself with a probe round, and convicts only if that fails too.
// Before anyone is declared dead it is pinged directly and k live nodes are asked to ping it too
// (SWIM's indirect probe); any answer refutes the suspicion. The accused is told of the verdict as
// well and, if alive, answers every live node at once (Lifeguard's buddy system). A dead node is
// alive again only on word from itself (a PONG to a ping, its heartbeat): gossiped heartbeats of
// a crashed node keep arriving for rounds after the crash and must not revive it. The same holds
// for a node already removed as dead: when a digest shows its heartbeat past the one it was
// removed at (it was frozen, or behind a partition, for longer than deadRemovalMs), the cluster
// state readmits it and we hold it as dead, unannounced, until it answers; then it joins again.
// One that never answers is removed again, and that removal is reported like every other.
// After a stall of our own event loop (LocalHealth) nobody is suspected or convicted until fresh
// heartbeats had time to arrive, and the stall is excused in every detector.
//
// Every status change produces exactly one Transition record. Time comes only from the Clock, so
// the same code runs under the simulator's virtual clock. Everything is bounded: probe requests
// and helper pings are forgotten at their timeouts, removed nodes after removalMemoryMs() (in
// the cluster state's registry of removed nodes, the only one).

import type { Clock, Timer } from "../clock.ts";
import { FrameWriter } from "../codec/writer.ts";
import { MessageType } from "../codec/frame.ts";
import { decodeLeave, decodePing, decodePong, decodeProbe, decodeProbeAck, writeLeave, writePing, writePong, writeProbe } from "../codec/probe-messages.ts";
import type { Random } from "../random.ts";
import type { RemovedAs, RemovedNodesView } from "../state/removed-nodes.ts";
import type { LocalHealth } from "./local-health.ts";
import { ringPredecessors, ringSuccessors } from "./monitor-ring.ts";
import { createDetector, sameDetectorSettings, type FailureDetector } from "./detector.ts";
import { removalMemoryMs, validateMembershipSettings, type MembershipSettings } from "./membership-settings.ts";
import { Prober, newProbeRound, type ProbeRound } from "./probes.ts";
import { Suspicion, type SuspicionSource } from "./suspicion.ts";

export { defaultMembershipSettings, removalMemoryMs, type MembershipSettings } from "./membership-settings.ts";

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

export interface MembershipHooks {
  /** Send an encoded frame (built with FrameWriter) to a peer; returns false if it could not be queued. */
  send(peer: string, frame: Uint8Array): boolean;
  onTransition(transition: Transition): void;
  /**
   * Remove the node's state from the cluster state (called on "removed"), and remember the removal
   * in the registry of removed nodes for `rememberForMs`. `generation` is the one removed: a newer
   * generation the state holds stays.
   */
  removeNode(name: string, generation: number, as: RemovedAs, rememberForMs: number): void;
  /** The registry of removed nodes that removeNode records into (the cluster state's). */
  readonly removed: RemovedNodesView;
}


/** A ring successor we watch: fed by its heartbeats, or by the PONGs to our pings when they stop. */
interface DirectWatch {
  readonly detector: FailureDetector;
  /** Our latest ping; only its PONG counts (an older one is late, or a duplicate). */
  pingId: number;
  /** Whether any beat (heartbeat or PONG) came yet; the first starts the rhythm (see onDirectBeat). */
  answered: boolean;
  /** Clock time of the node's latest heartbeat: a round and a half without one and we ping it. */
  lastHeartbeatMs: number;
}

interface Member {
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
   * False for a node first heard of as already left, or readmitted as dead: it never joined in
   * our view (again), so it produces no records (until it joins) but its removal's.
   */
  announced: boolean;
  /** Set while suspect. */
  suspicion: Suspicion | undefined;
  /** The next evaluation between rounds: phi's threshold crossing, or a conviction falling due. */
  wakeup: Timer | undefined;
  /** When `wakeup` fires. */
  wakeupAtMs: number;
  /** Dead only: the ping that checks whether gossiped heartbeats are fresh, and when it went out. */
  revival: { readonly id: number; readonly atMs: number } | undefined;
}

export class Membership {
  private readonly byName = new Map<string, Member>();
  private readonly prober: Prober;
  private readonly writer = new FrameWriter(256);
  /** Our heartbeat: the same bytes every round, so encoded once (the transport never modifies them). */
  private readonly heartbeatFrame: Uint8Array;
  /** Our ring successors, recomputed at the next check() once the live set changed. */
  private watched: string[] = [];
  /** Our ring predecessors, the nodes that watch us: they get our heartbeat every round. */
  private watchers: string[] = [];
  private ringChanged = true;
  /** Moves whenever a member becomes live or stops being live (see liveSetChanges). */
  private liveChanges = 0;
  /** When check() last ran, and the time between its last two runs (0 until it ran twice). */
  private lastCheckMs = Number.NEGATIVE_INFINITY;
  private roundMs = 0;
  private stallsExcused: number;
  private lastSelfDefenceMs = Number.NEGATIVE_INFINITY;
  private current: MembershipSettings;

  constructor(
    readonly selfName: string,
    private readonly clock: Clock,
    private readonly random: Random,
    settings: MembershipSettings,
    private readonly health: LocalHealth,
    private readonly hooks: MembershipHooks,
    /** This node's generation: carried in PONG, PROBE_ACK and LEAVE. */
    readonly selfGeneration: number,
  ) {
    validateMembershipSettings(settings);
    this.current = settings;
    if (!Number.isSafeInteger(selfGeneration) || selfGeneration < 0) {
      throw new RangeError(`self generation must be an integer >= 0, got ${selfGeneration}`);
    }
    // Stalls from before we existed concern no detector of ours.
    this.stallsExcused = health.stallCount;
    writePong(this.writer, 0, selfGeneration);
    this.heartbeatFrame = this.writer.finish();
    this.prober = new Prober(clock, random, () => this.current, selfGeneration, {
      send: (peer, frame) => hooks.send(peer, frame),
      helperCandidates: (target) => this.helperCandidates(target),
      onAnswer: (name, generation) => this.noteAnswer(name, generation),
      onRoundFailed: (round) => this.roundFailed(round),
    });
  }

  get settings(): MembershipSettings {
    return this.current;
  }

  /**
   * Applies new settings live (a cluster configuration change). Detectors are rebuilt only when
   * the phi settings changed; they keep each node's silence but start a fresh window, since the
   * old one was fitted under the old settings.
   */
  updateSettings(settings: MembershipSettings): void {
    validateMembershipSettings(settings);
    const phiChanged = !sameDetectorSettings(settings.phi, this.current.phi);
    if (settings.monitorsPerNode !== this.current.monitorsPerNode) this.ringChanged = true;
    this.current = settings;
    if (!phiChanged) return;
    for (const member of this.byName.values()) {
      member.gossipDetector = createDetector(settings.phi, member.gossipDetector.lastHeartbeatMs);
      if (member.direct) member.direct = { ...member.direct, detector: createDetector(settings.phi, member.direct.detector.lastHeartbeatMs) };
      this.armCrossing(member);
    }
  }

  /**
   * This process's own event loop stalled for `pauseMs` (reported by LocalHealth): the silence is
   * ours, not the peers'. check() also picks up stalls from LocalHealth by itself; a stall
   * excused here is not excused again there.
   */
  excuseLocalPause(pauseMs: number): void {
    if (this.current.localHealthGuard) this.excuse(pauseMs, this.clock.now());
  }

  /** The node was seen in a digest or delta: discovered, or with a new generation (a restart). */
  observe(name: string, generation: number): void {
    if (name === this.selfName) return;
    const now = this.clock.now();
    const member = this.byName.get(name);
    if (!member) {
      // A removed node at its old generation is a stale copy still circulating (the cluster state
      // does not learn it either); one really back shows it by its heartbeat (see heartbeat()).
      if (!this.hooks.removed.bars(name, generation)) this.admit(name, generation, now);
      return;
    }
    if (generation <= member.generation) return;
    // A restart: the new process replaces the old one, whatever state the old one was in. It is
    // not a death, so no "dead" record; its old rhythm says nothing about the new process.
    this.endSuspicion(member);
    member.generation = generation;
    member.revival = undefined;
    this.resetDetectors(member, now);
    member.announced = true;
    this.setStatus(member, "alive", "joined", now);
  }

  /**
   * The node's heartbeat counter advanced in a digest, at `generation` (the one the cluster state
   * holds). An unknown node here is one the cluster state readmitted: removed as dead, its
   * heartbeat now past the one it was removed at.
   */
  heartbeat(name: string, generation: number): void {
    const now = this.clock.now();
    // A stall that just ended is excused before this beat is measured against it.
    this.excuseNewStalls(now);
    let member = this.byName.get(name);
    if (!member) {
      if (name === this.selfName) return;
      // Held as dead, unannounced, like any dead node whose gossiped heartbeat moves: it is alive
      // again (and joins) only once it answers itself. A partition peer may still hold a later
      // heartbeat of a node that crashed meanwhile; that one never answers and is removed again.
      member = this.newMember(name, generation, "dead", now);
      member.announced = false;
      this.byName.set(name, member);
    }
    switch (member.status) {
      case "left":
        return;
      case "dead":
        // Gossip still carries beats from before a crash for several rounds; only an answer
        // tells a stale beat from a fresh one.
        this.pingForRevival(member, now);
        return;
      case "suspect":
        member.gossipDetector.heartbeat(now);
        // Only a suspicion that rests on the same gossip evidence falls to it. A direct watch
        // or a verdict saw something fresher than what gossip can tell.
        if (member.suspicion?.source === "own" && !member.direct) this.refute(member, now);
        return;
      case "alive":
        member.gossipDetector.heartbeat(now);
        return;
    }
  }

  /** The node announced it is leaving (LEAVE received, or its status entry says left). */
  markLeft(name: string, generation: number): void {
    if (name === this.selfName) return;
    const now = this.clock.now();
    let member = this.byName.get(name);
    if (!member) {
      if (this.hooks.removed.bars(name, generation)) return;
      // Remember it as left, so stale gossip about it cannot make it join (and later die).
      member = this.newMember(name, generation, "left", now);
      member.announced = false;
      this.byName.set(name, member);
      return;
    }
    if (generation < member.generation) return; // an older process's goodbye
    if (generation > member.generation) this.observe(name, generation);
    if (member.status === "left") return;
    this.endSuspicion(member);
    member.revival = undefined;
    this.setStatus(member, "left", "left", now);
  }

  /** Runs every gossip round: stalls, suspicion, probes, conviction, removal, heartbeats. */
  check(): void {
    const now = this.clock.now();
    if (Number.isFinite(this.lastCheckMs)) this.roundMs = now - this.lastCheckMs;
    this.lastCheckMs = now;
    this.excuseNewStalls(now);
    if (this.ringChanged) this.rewatch(now);
    const canConvict = this.canConvict(now);
    // A copy: removal deletes from the map, and hooks may call back into us.
    for (const member of [...this.byName.values()]) {
      if (this.byName.get(member.name) !== member) continue; // removed by a hook meanwhile
      this.evaluate(member, now, canConvict);
      this.armCrossing(member);
    }
    for (const name of this.watchers) this.hooks.send(name, this.heartbeatFrame);
    this.pingWatched(now);
  }

  /** Cancels every timer and pending request: the node is stopping. */
  stop(): void {
    for (const member of this.byName.values()) {
      this.endSuspicion(member);
      this.cancelWakeup(member);
    }
    this.prober.stop();
  }

  /**
   * Handles a membership frame (PING, PONG, PROBE, PROBE_ACK, LEAVE); returns false for any other
   * type. A malformed body throws DecodeError; the caller decides about the connection.
   */
  handleFrame(from: string, type: number, correlationId: number, body: Uint8Array): boolean {
    switch (type) {
      case MessageType.Ping:
        decodePing(body);
        // Id 0 means "no reply expected".
        if (correlationId !== 0) this.prober.sendPong(from, correlationId);
        return true;
      case MessageType.Pong:
        this.onPong(from, correlationId, decodePong(body));
        return true;
      case MessageType.Probe: {
        const target = decodeProbe(body, this.current.maxNameBytes);
        // A PROBE nobody waits an answer for is a verdict (codec/probe-messages.ts).
        if (correlationId === 0) this.onVerdict(target);
        else this.prober.onProbe(from, correlationId, target, this.selfName);
        return true;
      }
      case MessageType.ProbeAck:
        this.prober.onProbeAck(from, correlationId, decodeProbeAck(body));
        return true;
      case MessageType.Leave: {
        const notice = decodeLeave(body, this.current.maxNameBytes);
        // A LEAVE comes from the leaving node itself; another node cannot make it leave.
        if (notice.name === from) this.markLeft(notice.name, notice.generation);
        return true;
      }
      default:
        return false;
    }
  }

  /** Status of a node other than this one; undefined if unknown or removed. */
  status(name: string): MemberStatus | undefined {
    return this.byName.get(name)?.status;
  }

  /**
   * status(), and for a node removed but still remembered (removalMemoryMs) the status it was
   * removed in: "left" or "dead". Undefined for a node never heard of, or forgotten.
   */
  lastKnownStatus(name: string): MemberStatus | undefined {
    return this.byName.get(name)?.status ?? this.hooks.removed.statusOf(name);
  }

  /** Every known node but this one, by name, with its current phi. */
  members(): MemberView[] {
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

  /** A counter that moves whenever livePeers() may have changed: callers cache what they derive from it. */
  get liveSetChanges(): number {
    return this.liveChanges;
  }

  /** Peers worth gossiping with: alive and suspect (suspect nodes still get gossip so they can refute). */
  livePeers(): string[] {
    const peers: string[] = [];
    for (const member of this.byName.values()) if (isLive(member)) peers.push(member.name);
    return peers;
  }

  /** Dead peers, for the occasional retry. */
  deadPeers(): string[] {
    const peers: string[] = [];
    for (const member of this.byName.values()) if (member.status === "dead") peers.push(member.name);
    return peers;
  }

  /**
   * A dead peer to gossip with this round, or undefined (most rounds). The chance is Cassandra's
   * dead / (live + 1), capped at deadRetryProbability: each dead node then gets about one retry
   * per round from the whole cluster, whatever its size, instead of one from every node. Nodes
   * removed as dead count while remembered: after a partition longer than deadRemovalMs each side
   * has removed the other, and only such a retry lets them hear of each other again.
   */
  pickDeadPeerForRetry(): string | undefined {
    const dead = [...this.deadPeers(), ...this.hooks.removed.deadNames()];
    if (dead.length === 0) return undefined;
    const live = this.livePeers().length;
    const chance = Math.min(this.current.deadRetryProbability, dead.length / (live + 1));
    if (!(this.random.next() < chance)) return undefined;
    return dead[this.random.int(dead.length)];
  }

  /** The LEAVE frame this node sends to its peers when stopping. */
  encodeLeave(): Uint8Array {
    writeLeave(this.writer, { name: this.selfName, generation: this.selfGeneration });
    return this.writer.finish();
  }

  /** Probe requests and helper pings awaiting an answer (bounded; for tests and metrics). */
  get pendingRequests(): number {
    return this.prober.pending;
  }

  // ---- lifecycle ----

  private liveSetChanged(): void {
    this.ringChanged = true;
    this.liveChanges++;
  }

  private admit(name: string, generation: number, now: number): void {
    const member = this.newMember(name, generation, "alive", now);
    this.byName.set(name, member);
    this.liveSetChanged();
    this.emit("joined", member, now);
  }

  private newMember(name: string, generation: number, status: MemberStatus, now: number): Member {
    return {
      name,
      generation,
      status,
      // Creating the detector counts as the first heartbeat: a node we learn of and never hear
      // from again must still be suspected eventually.
      gossipDetector: createDetector(this.current.phi, now),
      direct: undefined,
      sinceMs: now,
      announced: true,
      suspicion: undefined,
      wakeup: undefined,
      wakeupAtMs: Number.POSITIVE_INFINITY,
      revival: undefined,
    };
  }

  /** What check() does for one member; also run between rounds by the member's wakeup. */
  private evaluate(member: Member, now: number, canConvict: boolean): void {
    switch (member.status) {
      case "alive":
        if (canConvict && this.phiOf(member, now) >= this.current.phi.threshold) this.suspect(member, "own", now);
        break;
      case "suspect":
        this.checkSuspect(member, now, canConvict);
        break;
      case "dead":
        if (now - member.sinceMs >= this.current.deadRemovalMs) this.remove(member, now);
        break;
      case "left":
        if (now - member.sinceMs >= this.current.leftRemovalMs) this.remove(member, now);
        break;
    }
  }

  private suspect(member: Member, source: SuspicionSource, now: number): void {
    member.suspicion = new Suspicion(source, now);
    this.setStatus(member, "suspect", "suspect", now);
    this.startProbe(member, member.suspicion);
  }

  private checkSuspect(member: Member, now: number, canConvict: boolean): void {
    const suspicion = member.suspicion!;
    const detectorOver = this.phiOf(member, now) >= this.current.phi.threshold;
    const step = suspicion.next({ nowMs: now, canConvict, detectorOver, suspectTimeoutMs: this.current.suspectTimeoutMs });
    switch (step.action) {
      case "refute":
        return this.refute(member, now);
      case "probe":
        return this.startProbe(member, suspicion);
      case "wait":
        return this.wakeAt(member, step.untilMs);
      case "convict":
        return this.convict(member, now);
      case "hold":
        return;
    }
  }

  private convict(member: Member, now: number): void {
    // Our own detector agrees when the node's monitors convict (whatever verdict came first) and
    // on the gossip path; a node convicted only on another's word and our probe round does not.
    const ownEvidence = this.phiOf(member, now) >= this.current.phi.threshold;
    member.suspicion = undefined;
    this.setStatus(member, "dead", "dead", now);
    this.shareVerdict(member, ownEvidence);
  }

  /** The suspicion was wrong: the node answered, or a fresh beat came. */
  private refute(member: Member, now: number): void {
    this.endSuspicion(member);
    this.setStatus(member, "alive", "alive", now);
    this.armCrossing(member);
  }

  private remove(member: Member, now: number): void {
    this.endSuspicion(member);
    this.cancelWakeup(member);
    this.byName.delete(member.name);
    this.liveSetChanged();
    this.hooks.removeNode(member.name, member.generation, member.status === "left" ? "left" : "dead", removalMemoryMs(this.current));
    // Reported even for a node never announced: the cluster state may have held it, its entries
    // then reported (entry-added), and only this record says they are gone.
    this.emit("removed", member, now);
  }

  private setStatus(member: Member, status: MemberStatus, kind: TransitionKind, now: number): void {
    const wasLive = isLive(member);
    member.status = status;
    member.sinceMs = now;
    if (wasLive !== isLive(member)) {
      this.liveSetChanged();
      // A node we no longer consider live is pinged no more; the ring picks its successor.
      if (!isLive(member)) member.direct = undefined;
    }
    if (member.announced) this.emit(kind, member, now);
  }

  private emit(kind: TransitionKind, member: Member, now: number): void {
    this.hooks.onTransition({
      kind,
      node: member.name,
      generation: member.generation,
      phi: this.phiOf(member, now),
      at: now,
    });
  }

  /** The detector that decides about the node: the direct watch's when there is one. */
  private detectorOf(member: Member): FailureDetector {
    return member.direct?.detector ?? member.gossipDetector;
  }

  private phiOf(member: Member, now: number): number {
    return member.status === "left" ? 0 : this.detectorOf(member).phi(now);
  }

  private resetDetectors(member: Member, now: number): void {
    member.gossipDetector.reset(now);
    member.direct?.detector.reset(now);
  }

  private canConvict(now: number): boolean {
    return !this.current.localHealthGuard || this.health.canConvict(now);
  }

  /** Excuses, in every detector, a stall LocalHealth saw since the last check. */
  private excuseNewStalls(now: number): void {
    if (!this.current.localHealthGuard || this.health.stallCount === this.stallsExcused) return;
    // LocalHealth keeps only the latest stall's length; when several happened between two checks
    // (one check per round), the latest is excused and canConvict covers the rest.
    this.excuse(this.health.lastStallMs, now);
  }

  private excuse(pauseMs: number, now: number): void {
    this.stallsExcused = this.health.stallCount;
    for (const member of this.byName.values()) {
      member.gossipDetector.excuseLocalPause(pauseMs, now);
      member.direct?.detector.excuseLocalPause(pauseMs, now);
    }
  }

  // ---- wakeups between rounds ----

  /** Runs evaluate() for the member at `atMs` (replacing any other wakeup). */
  private wakeAt(member: Member, atMs: number): void {
    member.wakeup?.cancel();
    member.wakeupAtMs = atMs;
    member.wakeup = this.clock.setTimer(Math.max(0, atMs - this.clock.now()), () => {
      member.wakeup = undefined;
      member.wakeupAtMs = Number.POSITIVE_INFINITY;
      if (this.byName.get(member.name) !== member) return;
      const now = this.clock.now();
      this.excuseNewStalls(now);
      this.evaluate(member, now, this.canConvict(now));
      this.armCrossing(member);
    });
  }

  private cancelWakeup(member: Member): void {
    member.wakeup?.cancel();
    member.wakeup = undefined;
    member.wakeupAtMs = Number.POSITIVE_INFINITY;
  }

  /**
   * For a directly watched live node: wake up just after its phi would cross the threshold, so a
   * crash is suspected at once rather than at our next round. Only a crossing before the next
   * round needs a timer: check() evaluates every node each round and arms it then. A beat moves
   * the crossing later and leaves an earlier wakeup in place (it evaluates and re-arms), so a
   * node whose beats keep coming costs no timer at all.
   */
  private armCrossing(member: Member): void {
    if (member.status !== "alive" || !member.direct) return;
    // 1 ms past the crossing, so rounding can never leave phi a hair below the threshold there.
    const atMs = member.direct.detector.crossingAt(this.current.phi.threshold) + 1;
    const now = this.clock.now();
    if (atMs <= now || atMs >= this.nextCheckByMs()) return;
    if (member.wakeupAtMs > atMs) this.wakeAt(member, atMs);
  }

  /**
   * By when the next check() will have run: half a round of slack past its due time. Until check()
   * ran twice there is no round to measure, and every crossing gets its timer.
   */
  private nextCheckByMs(): number {
    return this.roundMs > 0 ? this.lastCheckMs + 1.5 * this.roundMs : Number.POSITIVE_INFINITY;
  }

  // ---- direct watch (heartbeat ring) ----

  /**
   * Recomputes our ring successors (new ones get a fresh detector, former ones lose theirs) and
   * predecessors.
   */
  private rewatch(now: number): void {
    this.ringChanged = false;
    const live: string[] = [];
    for (const member of this.byName.values()) if (isLive(member) && member.announced) live.push(member.name);
    this.watched = ringSuccessors(this.selfName, live, this.current.monitorsPerNode);
    this.watchers = ringPredecessors(this.selfName, live, this.current.monitorsPerNode);
    const watched = new Set(this.watched);
    for (const member of this.byName.values()) {
      if (!watched.has(member.name)) {
        member.direct = undefined;
      } else if (!member.direct) {
        // Silence counts from now, so a successor that never answers is suspected in time.
        member.direct = { detector: createDetector(this.current.phi, now), pingId: 0, answered: false, lastHeartbeatMs: Number.NEGATIVE_INFINITY };
        this.armCrossing(member);
      }
    }
  }

  /**
   * Pings each ring successor whose heartbeat did not come within the last round and a half (or
   * never came): its PONG is the beat instead, every round for as long as its heartbeats stay
   * away. A heartbeat normally arrives once a round, so a node that sends them is not pinged.
   */
  private pingWatched(now: number): void {
    for (const name of this.watched) {
      const direct = this.byName.get(name)?.direct;
      if (!direct) continue;
      if (now - direct.lastHeartbeatMs <= 1.5 * this.roundMs) continue;
      direct.pingId = this.prober.correlationId();
      writePing(this.writer, direct.pingId);
      this.hooks.send(name, this.writer.finish());
    }
  }

  /** A beat from a watched node: its heartbeat (`heartbeat` true) or the PONG to our ping. */
  private onDirectBeat(member: Member, direct: DirectWatch, heartbeat: boolean): void {
    const now = this.clock.now();
    this.excuseNewStalls(now);
    // The first beat starts the rhythm: the time from the start of the watch to it is not an
    // interval between heartbeats, and would drag the mean down.
    if (direct.answered) direct.detector.heartbeat(now);
    else direct.detector.reset(now);
    direct.answered = true;
    if (heartbeat) direct.lastHeartbeatMs = now;
    // Whichever came first, the heartbeat or the PONG to our ping, the other is the same beat.
    direct.pingId = 0;
    if (member.status === "suspect") this.refute(member, now);
    else this.armCrossing(member);
  }

  // ---- verdicts ----

  /**
   * Tells others that we convicted `member`. On our own evidence: every live node, and the accused
   * itself so that it can object; each monitor of the node does so, so that a lost copy costs
   * nothing. Otherwise a few random live nodes, once: a rumour that reaches the nodes that
   * missed every broadcast, and dies out as the nodes it reaches know already.
   */
  private shareVerdict(member: Member, ownEvidence: boolean): void {
    writeProbe(this.writer, 0, member.name);
    const verdict = this.writer.finish();
    if (ownEvidence) {
      for (const peer of this.livePeers()) this.hooks.send(peer, verdict);
      this.hooks.send(member.name, verdict);
      return;
    }
    for (const peer of this.random.shuffle(this.livePeers()).slice(0, this.current.probeFanout)) this.hooks.send(peer, verdict);
  }

  /** Another node convicted `target`: suspect it and check for ourselves. */
  private onVerdict(target: string): void {
    if (target === this.selfName) {
      this.defendSelf();
      return;
    }
    const member = this.byName.get(target);
    if (!member?.announced) return;
    const now = this.clock.now();
    // Right after our own stall we suspect no one, on anyone's word either: our probe round could
    // fail for our own slowness. The gossip path convicts a really dead node once we are healthy.
    if (!this.canConvict(now)) return;
    if (member.status === "alive") {
      this.suspect(member, "verdict", now);
    } else if (member.status === "suspect" && member.suspicion?.confirm()) {
      // Our own suspicion is confirmed and its round failed: no need to wait out the suspect timeout.
      this.wakeAt(member, now);
    }
  }

  /**
   * Someone convicted us: tell every live node we are alive (an unsolicited PONG), so those still
   * checking the verdict drop it and those that already convicted take it back. Once per probe
   * timeout at most: the verdicts of several monitors arrive together, and a peer must not be
   * able to turn us into an amplifier.
   */
  private defendSelf(): void {
    const now = this.clock.now();
    if (now - this.lastSelfDefenceMs < this.current.probeTimeoutMs) return;
    this.lastSelfDefenceMs = now;
    // The same unsolicited PONG as our heartbeat: "I am alive", with our generation.
    for (const peer of this.livePeers()) this.hooks.send(peer, this.heartbeatFrame);
  }

  /** The node itself answered (a refutation, or the PONG to a revival ping), at `generation`. */
  private noteLife(member: Member, generation: number): void {
    if (generation > member.generation) {
      this.observe(member.name, generation);
      return;
    }
    if (generation < member.generation) return;
    const now = this.clock.now();
    if (member.status === "suspect") {
      // The answer stands in for a heartbeat: without it phi would still be over the threshold
      // and the next check would suspect the node again at once.
      this.detectorOf(member).heartbeat(now);
      this.refute(member, now);
    } else if (member.status === "dead") {
      member.revival = undefined;
      // Its old rhythm ended with a long gap that is not a sample of its behaviour.
      this.resetDetectors(member, now);
      // A readmitted node (unannounced) joins again: our last record of it was its removal.
      const kind = member.announced ? "alive" : "joined";
      member.announced = true;
      this.setStatus(member, "alive", kind, now);
      this.armCrossing(member);
    }
  }

  /** A dead node's heartbeat advanced in gossip: ask it directly (once per probe timeout). */
  private pingForRevival(member: Member, now: number): void {
    if (member.revival && now - member.revival.atMs < this.current.probeTimeoutMs) return;
    member.revival = { id: this.prober.correlationId(), atMs: now };
    writePing(this.writer, member.revival.id);
    this.hooks.send(member.name, this.writer.finish());
  }

  // ---- probing ----

  /** Evidence from a probe that `name` runs at `generation` (a PONG, directly or through a helper). */
  private noteAnswer(name: string, generation: number): void {
    const member = this.byName.get(name);
    if (!member) return;
    if (generation > member.generation) {
      this.observe(name, generation);
      return;
    }
    // An older generation's answer proves nothing about the current one. A dead node comes back
    // by answering us (noteLife), not through a ping someone else asked for.
    if (generation < member.generation || member.status !== "suspect") return;
    this.noteLife(member, generation);
  }

  private startProbe(member: Member, suspicion: Suspicion): void {
    suspicion.round = newProbeRound(member.name, member.generation);
    this.prober.start(suspicion.round);
  }

  /** Alive nodes other than the target, for a probe round's helpers. */
  private helperCandidates(target: string): string[] {
    const candidates: string[] = [];
    for (const member of this.byName.values()) {
      if (member.status === "alive" && member.announced && member.name !== target) candidates.push(member.name);
    }
    return candidates;
  }

  private roundFailed(round: ProbeRound): void {
    const member = this.byName.get(round.target);
    // Convict as soon as it is due rather than at the next round. Through a timer, not directly:
    // a round can fail inside startProbe (a refused connection), before the caller is done.
    if (member?.suspicion?.roundFailed(round)) this.wakeAt(member, this.clock.now());
  }

  /** The suspicion is over (refuted, or the node restarted, left or was removed): its round too. */
  private endSuspicion(member: Member): void {
    if (member.suspicion?.round) this.prober.cancel(member.suspicion.round);
    member.suspicion = undefined;
  }

  private onPong(from: string, correlationId: number, generation: number): void {
    const member = this.byName.get(from);
    // Correlation id 0 answers no ping: the node's heartbeat, or its objection to a verdict. Either
    // way the node itself says it is alive.
    if (correlationId === 0) {
      if (member?.direct && isLive(member) && generation === member.generation) this.onDirectBeat(member, member.direct, true);
      else if (member) this.noteLife(member, generation);
      return;
    }
    if (this.prober.onPong(from, correlationId, generation) || !member) return;
    if (member.direct && member.direct.pingId === correlationId && isLive(member)) {
      if (generation > member.generation) this.observe(from, generation);
      else if (generation === member.generation) this.onDirectBeat(member, member.direct, false);
      return;
    }
    if (member.revival?.id === correlationId && member.status === "dead") this.noteLife(member, generation);
    // Anything else is late (after its timeout), unsolicited, or from another node than the one
    // pinged: ignored.
  }
}

/** Alive or suspect: gossiped with, pinged, and counted on the ring. */
function isLive(member: Member): boolean {
  return member.status === "alive" || member.status === "suspect";
}
