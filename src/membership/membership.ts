// The membership lifecycle of the other nodes, as this node sees them:
//
//   (discovered) ──joined──▶ alive ──suspect──▶ suspect ──dead──▶ dead ──removed──▶ (forgotten)
//                              ▲                   │                │
//                              └──────alive────────┴──────alive─────┘   (fresh heartbeat / probe answer)
//   alive | suspect | dead ──left──▶ left ──removed──▶ (forgotten)      (LEAVE, or its status says so)
//   any state ──joined──▶ alive                                          (a new generation: a restart)
//
// Suspicion comes from a phi accrual detector per node, fed by the node's heartbeat counter as seen
// in gossip digests, so a node we never talk to directly is still watched. Before a suspect is
// declared dead it is pinged directly and k live nodes are asked to ping it too (SWIM's indirect
// probe); any answer, or any fresh heartbeat, refutes the suspicion. After a stall of our own
// event loop (LocalHealth), nobody is suspected or convicted until fresh heartbeats had time to
// arrive, and the stall is excused in every detector.
//
// Every status change produces exactly one Transition record. Time comes only from the Clock, so
// the same code runs under the simulator's virtual clock. Everything is bounded: probe requests
// and helper pings are forgotten at their timeouts, removed nodes after removedMemoryMs.

import type { Clock, Timer } from "../clock.ts";
import { FrameWriter } from "../codec/writer.ts";
import { MessageType } from "../codec/frame.ts";
import type { Random } from "../random.ts";
import type { LocalHealth } from "./local-health.ts";
import { PhiAccrualDetector, defaultPhiSettings, type PhiSettings } from "./phi.ts";
import {
  decodeLeave,
  decodePing,
  decodePong,
  decodeProbe,
  decodeProbeAck,
  writeLeave,
  writePing,
  writePong,
  writeProbe,
  writeProbeAck,
  type ProbeAck,
} from "./probe-messages.ts";

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
  /** Current suspicion level; 0 for left nodes. */
  phi: number;
  lastHeartbeatAgeMs: number;
}

export interface MembershipSettings {
  phi: PhiSettings;
  /** Live nodes asked to ping a suspect on our behalf (k of SWIM's indirect probe). */
  probeFanout: number;
  /**
   * How long a ping waits for its PONG: our direct ping, and a helper's ping for a PROBE. A PROBE
   * waits twice as long, so the helper's own "failed" answer arrives before we give up on it.
   */
  probeTimeoutMs: number;
  /** Minimum time a node stays suspect (and its probe round must have failed) before it is dead. */
  suspectTimeoutMs: number;
  /** A dead node is removed (its state dropped) this long after it was declared dead. */
  deadRemovalMs: number;
  /** A node that left is removed this long after it left. */
  leftRemovalMs: number;
  /**
   * Upper bound on the chance, per gossip round, of retrying one dead peer (see
   * pickDeadPeerForRetry); 0 never retries.
   */
  deadRetryProbability: number;
  /** A removed node's generation is remembered this long, so stale gossip cannot resurrect it. */
  removedMemoryMs: number;
  /** Longest node name accepted in PROBE and LEAVE bodies (bytes of UTF-8). */
  maxNameBytes: number;
}

// - phi: the detector's Akka defaults (phi.ts): conviction ≈ 4.5 s after the last of regular 1 s
//   heartbeats, ≈ 5.3 s after a node heard from once.
// - probeFanout 3: SWIM's and memberlist's IndirectChecks; three independent paths make a false
//   death from one lossy link unlikely while costing only 3 small messages per suspicion.
// - probeTimeoutMs 500: memberlist's LAN ProbeTimeout. A TCP round trip on a LAN is well under
//   1 ms; 500 ms tolerates a GC pause on the target. (The Go original's 300 ms, 100 ms for the
//   helper's ping, convicts nodes that are merely busy.)
// - suspectTimeoutMs 1000: one default gossip interval, so gossip has one more round to bring a
//   heartbeat that refutes; it also covers the whole probe round (2 × probeTimeoutMs). Together
//   with the phi default this declares a crashed node dead ≈ 6 s after its last heartbeat (T3).
// - deadRemovalMs 300 000: a dead node's state is kept 5 minutes, so one that returns with the
//   same generation (a healed partition, a resumed VM) continues with deltas instead of a full
//   resynchronisation; after that its memory is freed (the Go original never frees it).
// - leftRemovalMs 30 000: a node that left has said so; its state only needs to live until the
//   "left" status has reached everyone (⌈log2 N⌉ + 1 rounds, 15 s at N = 10 000) with slack.
//   memberlist's GossipToTheDeadTime is the same 30 s.
// - deadRetryProbability 0.1: a dead peer that came back is noticed within ~10 rounds even in a
//   two-node cluster, while the cluster-wide retry traffic stays about one attempt per round.
// - removedMemoryMs 600 000: twice the dead removal grace; the other nodes drop a removed node at
//   about the same time as we do, so stale copies are gone long before we forget it.
// - maxNameBytes 256: node names are host names or identifiers; the same limit as the codec's.
export const defaultMembershipSettings: MembershipSettings = Object.freeze({
  phi: defaultPhiSettings,
  probeFanout: 3,
  probeTimeoutMs: 500,
  suspectTimeoutMs: 1000,
  deadRemovalMs: 300_000,
  leftRemovalMs: 30_000,
  deadRetryProbability: 0.1,
  removedMemoryMs: 600_000,
  maxNameBytes: 256,
});

export interface MembershipHooks {
  /** Send an encoded frame (built with FrameWriter) to a peer; returns false if it could not be queued. */
  send(peer: string, frame: Uint8Array): boolean;
  onTransition(transition: Transition): void;
  /** Remove the node's state from the cluster state (called on "removed"). */
  removeNode(name: string): void;
}

// A node can be asked to ping on behalf of others; a peer flooding it with PROBEs must not grow
// its memory without bound. Beyond this many helper pings in flight it answers "failed" at once
// (the requester still has its own ping and the other helpers).
const MAX_HELPER_PINGS = 1024;

/** One suspicion's probe: our direct ping plus one PROBE per helper. */
interface ProbeRound {
  readonly target: string;
  readonly generation: number;
  /** Correlation ids of our requests still unanswered. */
  readonly outstanding: Set<number>;
  readonly timers: Timer[];
  /** Every request failed or timed out: the suspicion stands. */
  failed: boolean;
  /**
   * A local stall overlapped the round: its timeouts may have fired before answers queued behind
   * the stall were read, so a failure proves nothing (an answer still refutes).
   */
  untrusted: boolean;
}

/** A request of ours awaiting its answer, by correlation id. */
type OwnRequest =
  | { readonly kind: "ping"; readonly round: ProbeRound }
  | { readonly kind: "probe"; readonly helper: string; readonly round: ProbeRound };

/** A ping we send as a helper, for another node's PROBE. */
interface HelperPing {
  readonly target: string;
  readonly requester: string;
  readonly requesterCorrelationId: number;
  readonly timer: Timer;
}

interface Member {
  readonly name: string;
  generation: number;
  status: MemberStatus;
  detector: PhiAccrualDetector;
  /** When the current status began: the clock for suspect, dead and left timeouts. */
  sinceMs: number;
  /**
   * False for a node first heard of as already left: it never joined in our view, so it produces
   * no records (until a new generation joins).
   */
  announced: boolean;
  probe: ProbeRound | undefined;
}

/** What is remembered of a removed node. */
interface RemovedNode {
  generation: number;
  left: boolean;
  forgetAtMs: number;
}

export class Membership {
  private readonly byName = new Map<string, Member>();
  private readonly removed = new Map<string, RemovedNode>();
  private readonly ownRequests = new Map<number, OwnRequest>();
  private readonly helperPings = new Map<number, HelperPing>();
  private readonly writer = new FrameWriter(256);
  private nextCorrelationId = 1;
  private stallsExcused: number;
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
    const phiChanged = !samePhiSettings(settings.phi, this.current.phi);
    this.current = settings;
    if (!phiChanged) return;
    for (const member of this.byName.values()) {
      member.detector = new PhiAccrualDetector(settings.phi, member.detector.lastHeartbeatMs);
    }
  }

  /**
   * This process's own event loop stalled for `pauseMs` (reported by LocalHealth): the silence is
   * ours, not the peers'. check() also picks up stalls from LocalHealth by itself; a stall
   * excused here is not excused again there.
   */
  excuseLocalPause(pauseMs: number): void {
    this.excuse(pauseMs, this.clock.now());
  }

  /** The node was seen in a digest or delta: discovered, or with a new generation (a restart). */
  observe(name: string, generation: number): void {
    if (name === this.selfName) return;
    const now = this.clock.now();
    const member = this.byName.get(name);
    if (!member) {
      const removed = this.removed.get(name);
      // A removed node at its old generation is a stale copy still circulating; if it is really
      // back, its heartbeats will say so (see heartbeat()).
      if (removed && generation <= removed.generation) return;
      this.removed.delete(name);
      this.admit(name, generation, now);
      return;
    }
    if (generation <= member.generation) return;
    // A restart: the new process replaces the old one, whatever state the old one was in. It is
    // not a death, so no "dead" record; its old rhythm says nothing about the new process.
    this.cancelProbe(member);
    member.generation = generation;
    member.detector.reset(now);
    member.announced = true;
    this.setStatus(member, "alive", "joined", now);
  }

  /** The node's heartbeat counter advanced (same generation). */
  heartbeat(name: string): void {
    const now = this.clock.now();
    // A stall that just ended is excused before this beat is measured against it.
    this.excuseNewStalls(now);
    const member = this.byName.get(name);
    if (!member) {
      // A node removed as dead whose heartbeats advance again is alive after all (a partition
      // healed after removal). One removed as left stays gone at that generation.
      const removed = this.removed.get(name);
      if (removed && !removed.left) {
        this.removed.delete(name);
        this.admit(name, removed.generation, now);
      }
      return;
    }
    switch (member.status) {
      case "left":
        return;
      case "dead":
        // Its old rhythm ended with a long gap that is not a sample of its behaviour.
        member.detector.reset(now);
        this.setStatus(member, "alive", "alive", now);
        return;
      case "suspect":
        member.detector.heartbeat(now);
        this.cancelProbe(member);
        this.setStatus(member, "alive", "alive", now);
        return;
      case "alive":
        member.detector.heartbeat(now);
        return;
    }
  }

  /** The node announced it is leaving (LEAVE received, or its status entry says left). */
  markLeft(name: string, generation: number): void {
    if (name === this.selfName) return;
    const now = this.clock.now();
    let member = this.byName.get(name);
    if (!member) {
      const removed = this.removed.get(name);
      if (removed && generation <= removed.generation) return;
      this.removed.delete(name);
      // Remember it as left, so stale gossip about it cannot make it join (and later die).
      member = this.newMember(name, generation, "left", now);
      member.announced = false;
      this.byName.set(name, member);
      return;
    }
    if (generation < member.generation) return; // an older process's goodbye
    if (generation > member.generation) this.observe(name, generation);
    if (member.status === "left") return;
    this.cancelProbe(member);
    this.setStatus(member, "left", "left", now);
  }

  /** Runs every gossip round: stalls, suspicion, probes, conviction, removal. */
  check(): void {
    const now = this.clock.now();
    this.excuseNewStalls(now);
    const canConvict = this.health.canConvict(now);
    const threshold = this.current.phi.threshold;
    // A copy: removal deletes from the map, and hooks may call back into us.
    for (const member of [...this.byName.values()]) {
      if (this.byName.get(member.name) !== member) continue; // removed by a hook meanwhile
      switch (member.status) {
        case "alive":
          if (canConvict && member.detector.phi(now) >= threshold) {
            this.setStatus(member, "suspect", "suspect", now);
            this.startProbe(member);
          }
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
    for (const [name, removed] of this.removed) {
      if (now >= removed.forgetAtMs) this.removed.delete(name);
    }
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
        if (correlationId !== 0) this.sendPong(from, correlationId);
        return true;
      case MessageType.Pong:
        this.onPong(from, correlationId, decodePong(body));
        return true;
      case MessageType.Probe:
        this.onProbe(from, correlationId, decodeProbe(body, this.current.maxNameBytes));
        return true;
      case MessageType.ProbeAck:
        this.onProbeAck(from, correlationId, decodeProbeAck(body));
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
        lastHeartbeatAgeMs: Math.max(0, now - member.detector.lastHeartbeatMs),
      });
    }
    return views.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Peers worth gossiping with: alive and suspect (suspect nodes still get gossip so they can refute). */
  livePeers(): string[] {
    const peers: string[] = [];
    for (const member of this.byName.values()) {
      if (member.status === "alive" || member.status === "suspect") peers.push(member.name);
    }
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
   * per round from the whole cluster, whatever its size, instead of one from every node.
   */
  pickDeadPeerForRetry(): string | undefined {
    const dead = this.deadPeers();
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
    return this.ownRequests.size + this.helperPings.size;
  }

  /** Removed nodes still remembered (bounded by removedMemoryMs; for tests and metrics). */
  get rememberedRemovals(): number {
    return this.removed.size;
  }

  // ---- lifecycle ----

  private admit(name: string, generation: number, now: number): void {
    const member = this.newMember(name, generation, "alive", now);
    this.byName.set(name, member);
    this.emit("joined", member, now);
  }

  private newMember(name: string, generation: number, status: MemberStatus, now: number): Member {
    // Creating the detector counts as the first heartbeat: a node we learn of and never hear
    // from again must still be suspected eventually.
    const detector = new PhiAccrualDetector(this.current.phi, now);
    return { name, generation, status, detector, sinceMs: now, announced: true, probe: undefined };
  }

  private checkSuspect(member: Member, now: number, canConvict: boolean): void {
    // Heartbeats refute in heartbeat(); phi falls back here only through a local stall's excuse
    // or a threshold raised by updateSettings().
    if (member.detector.phi(now) < this.current.phi.threshold) {
      this.cancelProbe(member);
      this.setStatus(member, "alive", "alive", now);
      return;
    }
    const probe = member.probe;
    if (!canConvict) {
      // After our stall, a failure of this round may be our fault: probe again once healthy.
      if (probe?.failed) member.probe = undefined;
      else if (probe) probe.untrusted = true;
      return;
    }
    if (!probe) {
      this.startProbe(member);
      return;
    }
    if (probe.failed && now - member.sinceMs >= this.current.suspectTimeoutMs) {
      member.probe = undefined;
      this.setStatus(member, "dead", "dead", now);
    }
  }

  private remove(member: Member, now: number): void {
    this.cancelProbe(member);
    this.byName.delete(member.name);
    this.removed.set(member.name, {
      generation: member.generation,
      left: member.status === "left",
      forgetAtMs: now + this.current.removedMemoryMs,
    });
    this.hooks.removeNode(member.name);
    if (member.announced) this.emit("removed", member, now);
  }

  private setStatus(member: Member, status: MemberStatus, kind: TransitionKind, now: number): void {
    member.status = status;
    member.sinceMs = now;
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

  private phiOf(member: Member, now: number): number {
    return member.status === "left" ? 0 : member.detector.phi(now);
  }

  /** Excuses, in every detector, a stall LocalHealth saw since the last check. */
  private excuseNewStalls(now: number): void {
    if (this.health.stallCount === this.stallsExcused) return;
    // LocalHealth keeps only the latest stall's length; when several happened between two checks
    // (one check per round), the latest is excused and canConvict covers the rest.
    this.excuse(this.health.lastStallMs, now);
  }

  private excuse(pauseMs: number, now: number): void {
    this.stallsExcused = this.health.stallCount;
    for (const member of this.byName.values()) member.detector.excuseLocalPause(pauseMs, now);
  }

  /** Evidence that `name` runs at `generation` (a PONG, directly or through a helper). */
  private noteAnswer(name: string, generation: number): void {
    const member = this.byName.get(name);
    if (!member) return;
    if (generation > member.generation) {
      this.observe(name, generation);
      return;
    }
    // An older generation's answer proves nothing about the current one. A dead node comes back
    // through its heartbeats (gossip), not through a ping someone else asked for.
    if (generation < member.generation || member.status !== "suspect") return;
    this.cancelProbe(member);
    // The answer stands in for a heartbeat: without it phi would still be over the threshold and
    // the next check would suspect the node again at once.
    member.detector.heartbeat(this.clock.now());
    this.setStatus(member, "alive", "alive", this.clock.now());
  }

  // ---- probing (requester side) ----

  private startProbe(member: Member): void {
    const round: ProbeRound = {
      target: member.name,
      generation: member.generation,
      outstanding: new Set(),
      timers: [],
      failed: false,
      untrusted: false,
    };
    member.probe = round;
    const timeoutMs = this.current.probeTimeoutMs;

    // Every request is registered before any is sent: a transport that delivers synchronously
    // may hand us an answer (or a failure) before send() returns, and the round must not count
    // as finished while requests are still unsent.
    const requests: Array<{ peer: string; id: number; frame: Uint8Array }> = [];
    const pingId = this.correlationId();
    writePing(this.writer, pingId);
    requests.push({ peer: member.name, id: pingId, frame: this.writer.finish() });
    this.register(pingId, { kind: "ping", round });
    for (const helper of this.chooseHelpers(member.name)) {
      const probeId = this.correlationId();
      writeProbe(this.writer, probeId, member.name);
      requests.push({ peer: helper, id: probeId, frame: this.writer.finish() });
      this.register(probeId, { kind: "probe", helper, round });
    }
    round.timers.push(this.clock.setTimer(timeoutMs, () => this.requestFailed(round, pingId)));
    // A helper's ping may take the full timeout; the second timeout covers its two extra hops.
    if (requests.length > 1) round.timers.push(this.clock.setTimer(2 * timeoutMs, () => this.failOutstanding(round)));
    for (const request of requests) {
      // Skipped once the round is over: refuted by an answer, or failed.
      if (!round.outstanding.has(request.id)) continue;
      if (!this.hooks.send(request.peer, request.frame)) this.requestFailed(round, request.id);
    }
  }

  private register(correlationId: number, request: OwnRequest): void {
    request.round.outstanding.add(correlationId);
    this.ownRequests.set(correlationId, request);
  }

  /** Up to probeFanout alive nodes other than the target, at random. */
  private chooseHelpers(target: string): string[] {
    if (this.current.probeFanout === 0) return [];
    const candidates: string[] = [];
    for (const member of this.byName.values()) {
      if (member.status === "alive" && member.announced && member.name !== target) candidates.push(member.name);
    }
    return this.random.shuffle(candidates).slice(0, this.current.probeFanout);
  }

  private requestFailed(round: ProbeRound, correlationId: number): void {
    if (!round.outstanding.delete(correlationId)) return;
    this.ownRequests.delete(correlationId);
    if (round.outstanding.size === 0) this.roundFailed(round);
  }

  private failOutstanding(round: ProbeRound): void {
    for (const id of round.outstanding) this.ownRequests.delete(id);
    round.outstanding.clear();
    this.roundFailed(round);
  }

  private roundFailed(round: ProbeRound): void {
    for (const timer of round.timers) timer.cancel();
    round.timers.length = 0;
    const member = this.byName.get(round.target);
    if (member?.probe !== round) return;
    if (round.untrusted) member.probe = undefined;
    else round.failed = true;
  }

  private cancelProbe(member: Member): void {
    const round = member.probe;
    if (!round) return;
    for (const timer of round.timers) timer.cancel();
    for (const id of round.outstanding) this.ownRequests.delete(id);
    round.outstanding.clear();
    member.probe = undefined;
  }

  private onPong(from: string, correlationId: number, generation: number): void {
    const helperPing = this.helperPings.get(correlationId);
    if (helperPing && helperPing.target === from) {
      this.helperPings.delete(correlationId);
      helperPing.timer.cancel();
      this.sendProbeAck(helperPing.requester, helperPing.requesterCorrelationId, { ok: true, generation });
      this.noteAnswer(from, generation);
      return;
    }
    const request = this.ownRequests.get(correlationId);
    // Late (after its timeout), unsolicited, or from another node than the one pinged: ignored.
    if (request?.kind !== "ping" || request.round.target !== from) return;
    this.answerReceived(request.round, correlationId, { ok: true, generation });
  }

  private onProbeAck(from: string, correlationId: number, ack: ProbeAck): void {
    const request = this.ownRequests.get(correlationId);
    if (request?.kind !== "probe" || request.helper !== from) return;
    this.answerReceived(request.round, correlationId, ack);
  }

  private answerReceived(round: ProbeRound, correlationId: number, answer: ProbeAck): void {
    if (answer.ok && answer.generation >= round.generation) {
      this.noteAnswer(round.target, answer.generation);
      // noteAnswer cancelled the round, unless the node stopped being suspect meanwhile.
      if (round.outstanding.has(correlationId)) this.requestFailed(round, correlationId);
      return;
    }
    this.requestFailed(round, correlationId);
  }

  // ---- probing (helper side) ----

  private onProbe(from: string, correlationId: number, target: string): void {
    if (correlationId === 0) return; // nobody to answer
    if (target === this.selfName) {
      this.sendProbeAck(from, correlationId, { ok: true, generation: this.selfGeneration });
      return;
    }
    if (this.helperPings.size >= MAX_HELPER_PINGS) {
      this.sendProbeAck(from, correlationId, { ok: false, generation: 0 });
      return;
    }
    const pingId = this.correlationId();
    const fail = (): void => {
      const pending = this.helperPings.get(pingId);
      if (!pending) return; // answered already
      this.helperPings.delete(pingId);
      pending.timer.cancel();
      this.sendProbeAck(from, correlationId, { ok: false, generation: 0 });
    };
    const timer = this.clock.setTimer(this.current.probeTimeoutMs, fail);
    // Registered before sending, in case the transport delivers the PONG synchronously.
    this.helperPings.set(pingId, { target, requester: from, requesterCorrelationId: correlationId, timer });
    writePing(this.writer, pingId);
    if (!this.hooks.send(target, this.writer.finish())) fail();
  }

  // ---- sending ----

  private sendPong(peer: string, correlationId: number): void {
    writePong(this.writer, correlationId, this.selfGeneration);
    this.hooks.send(peer, this.writer.finish());
  }

  private sendProbeAck(peer: string, correlationId: number, ack: ProbeAck): void {
    writeProbeAck(this.writer, correlationId, ack);
    this.hooks.send(peer, this.writer.finish());
  }

  /** Non-zero (0 means "no reply expected"), and never one still awaiting its answer. */
  private correlationId(): number {
    for (;;) {
      const id = this.nextCorrelationId;
      this.nextCorrelationId = id >= 0xffffffff ? 1 : id + 1;
      if (!this.ownRequests.has(id) && !this.helperPings.has(id)) return id;
    }
  }
}

function validateMembershipSettings(settings: MembershipSettings): void {
  // The detector validates its own settings; one is built now so a bad value fails here, at
  // startup, rather than when the first node is discovered.
  new PhiAccrualDetector(settings.phi, 0);
  const nonNegative: Array<keyof MembershipSettings> = ["suspectTimeoutMs", "deadRemovalMs", "leftRemovalMs", "removedMemoryMs"];
  for (const key of nonNegative) {
    const value = settings[key];
    if (typeof value !== "number" || !(Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`membership ${key} must be a number >= 0, got ${String(value)}`);
    }
  }
  if (!(Number.isFinite(settings.probeTimeoutMs) && settings.probeTimeoutMs > 0)) {
    throw new RangeError(`membership probeTimeoutMs must be > 0, got ${settings.probeTimeoutMs}`);
  }
  if (!(Number.isInteger(settings.probeFanout) && settings.probeFanout >= 0)) {
    throw new RangeError(`membership probeFanout must be an integer >= 0, got ${settings.probeFanout}`);
  }
  const retry = settings.deadRetryProbability;
  if (!(retry >= 0 && retry <= 1)) {
    throw new RangeError(`membership deadRetryProbability must be in [0, 1], got ${retry}`);
  }
  if (!(Number.isInteger(settings.maxNameBytes) && settings.maxNameBytes >= 1)) {
    throw new RangeError(`membership maxNameBytes must be an integer >= 1, got ${settings.maxNameBytes}`);
  }
}

function samePhiSettings(a: PhiSettings, b: PhiSettings): boolean {
  return (
    a.threshold === b.threshold &&
    a.windowSize === b.windowSize &&
    a.minStdDeviationMs === b.minStdDeviationMs &&
    a.acceptablePauseMs === b.acceptablePauseMs &&
    a.firstHeartbeatEstimateMs === b.firstHeartbeatEstimateMs
  );
}
