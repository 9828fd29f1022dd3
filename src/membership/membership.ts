// The membership of the other nodes, as this node sees them: it decides every transition of the
// lifecycle table (lifecycle.ts) from three sources of suspicion, and checks each before anyone is
// declared dead.
//
// Where suspicion comes from:
// - Direct watch (direct-watch.ts): each node watches its `monitorsPerNode` ring successors, fed
//   by their heartbeats (or the PONGs to our pings when those stop): first-hand and regular, so a
//   crash shows within the acceptable pause.
// - Gossip: every node's heartbeat counter, as seen advancing in digest entries, feeds a second
//   detector per node. Since protocol 4 entries travel only where two nodes' summaries differ
//   (state/summary.ts), so that detector alone convicts no one while the direct watch is on
//   (watchesItself): it decides only with monitorsPerNode 0, and stands in for a watch's detector
//   nowhere else but in the phi reported for unwatched members.
// - Verdicts (verdicts.ts): a node that convicted someone on its own evidence tells every live
//   node; each receiver suspects the node and checks it for itself. The verdict is also published
//   as a versioned fact (node/gone-facts.ts, verdictFact) that reaches, by anti-entropy, the nodes
//   the frames missed; and a settled peer whose page lacks a member prompts the same check
//   (peerLacks).
// Before anyone is declared dead it is pinged directly and k live nodes are asked to ping it too
// (SWIM's indirect probe, probes.ts); any answer refutes the suspicion, and suspicion.ts decides
// when a failed round convicts. A dead node is alive again only on word from itself (a PONG to a
// ping, its heartbeat): gossiped heartbeats of a crashed node keep arriving for rounds after the
// crash and must not revive it. The same holds for a node already removed as dead: when a digest
// shows its heartbeat past the one it was removed at (it was frozen, or behind a partition, for
// longer than deadRemovalMs), the cluster state readmits it and we hold it as dead, unannounced,
// until it answers; then it joins again (one that never answers is removed again, and that removal
// is reported like every other). After a stall of our own event loop (LocalHealth) nobody
// is suspected or convicted until fresh heartbeats had time to arrive, and the stall is excused in
// every detector.
//
// Time comes only from the Clock, so the same code runs under the simulator's virtual clock.
// Everything is bounded: probe requests and helper pings are forgotten at their timeouts, removed
// nodes after removalMemoryMs() (in the cluster state's registry of removed nodes, the only one).

import type { Clock } from "../clock.ts";
import { FrameWriter } from "../codec/writer.ts";
import { MessageType } from "../codec/frame.ts";
import { decodeLeave, decodePing, decodePong, decodeProbe, decodeProbeAck, writeLeave } from "../codec/probe-messages.ts";
import type { Random } from "../random.ts";
import type { RemovedAs, RemovedNodesView } from "../state/removed-nodes.ts";
import { Answers } from "./answers.ts";
import type { LocalHealth } from "./local-health.ts";
import { createDetector, sameDetectorSettings } from "./detector.ts";
import { HeartbeatRing } from "./direct-watch.ts";
import { MemberTable, type Member, type MemberStatus, type MemberView, type Transition } from "./lifecycle.ts";
import { validateMembershipSettings, type MembershipSettings } from "./membership-settings.ts";
import { Prober, type ProbeRound } from "./probes.ts";
import { StallGuard } from "./stall-guard.ts";
import { Transitions } from "./transitions.ts";
import { Verdicts } from "./verdicts.ts";
import { Wakeups } from "./wakeups.ts";

export { defaultMembershipSettings, removalMemoryMs, type MembershipSettings } from "./membership-settings.ts";
export type { MemberStatus, MemberView, Transition, TransitionKind } from "./lifecycle.ts";

export interface MembershipHooks {
  /** Send an encoded frame (built with FrameWriter) to a peer; returns false if it could not be queued. */
  send(peer: string, frame: Uint8Array): boolean;
  onTransition(transition: Transition): void;
  /**
   * Publish, as a versioned fact of this node that gossips like a write (node/gone-facts.ts), that
   * `name` at `generation` is gone: convicted on our own evidence, or it said LEAVE to us itself.
   * Every node that holds it alive at that generation checks it for itself (verdictFact), however
   * late the fact reaches it: a partition or a stall only delays it.
   */
  publishGone?(name: string, generation: number): void;
  /**
   * Remove the node's state from the cluster state (called on "removed"), and remember the removal
   * in the registry of removed nodes for `rememberForMs`. `generation` is the one removed: a newer
   * generation the state holds stays.
   */
  removeNode(name: string, generation: number, as: RemovedAs, rememberForMs: number): void;
  /** The registry of removed nodes that removeNode records into (the cluster state's). */
  readonly removed: RemovedNodesView;
}

export class Membership {
  private readonly table: MemberTable;
  private readonly prober: Prober;
  private readonly ring: HeartbeatRing;
  private readonly verdicts: Verdicts;
  private readonly wakeups: Wakeups;
  private readonly guard: StallGuard;
  private readonly transitions: Transitions;
  private readonly answers: Answers;
  private current: MembershipSettings;
  /** Published facts that arrived during our stall's grace, checked once it is over (verdictFact). */
  private readonly pendingFacts = new Map<string, number>();

  constructor(
    readonly selfName: string,
    private readonly clock: Clock,
    private readonly random: Random,
    settings: MembershipSettings,
    health: LocalHealth,
    private readonly hooks: MembershipHooks,
    /** This node's generation: carried in PONG, PROBE_ACK and LEAVE. */
    private selfGeneration: number,
  ) {
    validateMembershipSettings(settings);
    this.current = settings;
    if (!Number.isSafeInteger(selfGeneration) || selfGeneration < 0) {
      throw new RangeError(`self generation must be an integer >= 0, got ${selfGeneration}`);
    }
    const current = (): MembershipSettings => this.current;
    const send = (peer: string, frame: Uint8Array): boolean => hooks.send(peer, frame);
    this.table = new MemberTable(clock, () => this.current.phi, (transition) => hooks.onTransition(transition));
    this.prober = new Prober(clock, random, current, selfGeneration, {
      send,
      helperCandidates: (target) => this.table.helperCandidates(target),
      onAnswer: (name, generation) => this.answers.onProbeAnswer(name, generation),
      onRoundFailed: (round) => this.roundFailed(round),
    });
    this.ring = new HeartbeatRing(selfName, selfGeneration, this.table, current, this.prober, send);
    this.verdicts = new Verdicts(clock, random, current, this.ring.heartbeatFrame, { send, livePeers: () => this.livePeers(), publish: (name, generation) => hooks.publishGone?.(name, generation) });
    this.wakeups = new Wakeups(clock, () => this.current.phi.threshold, (member) => this.wake(member));
    this.guard = new StallGuard(health, () => this.current.localHealthGuard, (pauseMs, now) => this.table.excuseLocalPause(pauseMs, now));
    this.transitions = new Transitions(this.table, current, this.prober, this.wakeups, this.verdicts, (name, generation, as, rememberForMs) =>
      hooks.removeNode(name, generation, as, rememberForMs),
    );
    this.answers = new Answers(clock, current, this.table, this.prober, this.ring, this.wakeups, this.guard, this.transitions);
  }

  get settings(): MembershipSettings {
    return this.current;
  }

  /**
   * Applies new settings live (a cluster configuration change). Detectors are rebuilt only when
   * the phi settings changed; they keep each node's silence but start a fresh window, since the
   * old one was fitted under the old settings. A new monitorsPerNode rebuilds the ring at the
   * next check().
   */
  updateSettings(settings: MembershipSettings): void {
    validateMembershipSettings(settings);
    const phiChanged = !sameDetectorSettings(settings.phi, this.current.phi);
    this.current = settings;
    if (!phiChanged) return;
    for (const member of this.table.values()) {
      member.gossipDetector = createDetector(settings.phi, member.gossipDetector.lastHeartbeatMs);
      if (member.direct) member.direct = { ...member.direct, detector: createDetector(settings.phi, member.direct.detector.lastHeartbeatMs) };
      this.wakeups.armCrossing(member);
    }
  }

  /**
   * This process's own event loop stalled for `pauseMs` (reported by LocalHealth): the silence is
   * ours, not the peers'. check() also picks up stalls from LocalHealth by itself; a stall
   * excused here is not excused again there.
   */
  excuseLocalPause(pauseMs: number): void {
    this.guard.excuse(pauseMs, this.clock.now());
  }

  /** The node was seen in a digest or delta: discovered, or with a new generation (a restart). */
  observe(name: string, generation: number): void {
    if (name === this.selfName) return;
    const now = this.clock.now();
    const member = this.table.get(name);
    if (!member) {
      // A removed node at its old generation is a stale copy still circulating (the cluster state
      // does not learn it either); one really back shows it by its heartbeat (see heartbeat()).
      if (!this.hooks.removed.bars(name, generation)) this.table.admit(name, generation, now);
      return;
    }
    if (generation > member.generation) this.transitions.restart(member, generation, now);
  }

  /**
   * The node's heartbeat counter advanced in a digest, at `generation` (the one the cluster state
   * holds). An unknown node here is one the cluster state readmitted: removed as dead, its
   * heartbeat now past the one it was removed at.
   */
  heartbeat(name: string, generation: number): void {
    const now = this.clock.now();
    // A stall that just ended is excused before this beat is measured against it.
    this.guard.excuseNewStalls(now);
    let member = this.table.get(name);
    if (!member) {
      if (name === this.selfName) return;
      // Held as dead, unannounced, like any dead node whose gossiped heartbeat moves: it is alive
      // again (and joins) only once it answers itself. A partition peer may still hold a later
      // heartbeat of a node that crashed meanwhile; that one never answers and is removed again.
      member = this.table.addUnannounced(name, generation, "dead", now);
    }
    switch (member.status) {
      case "left":
        return;
      case "dead":
        // Gossip still carries beats from before a crash for several rounds; only an answer
        // tells a stale beat from a fresh one.
        this.answers.pingForRevival(member, now);
        return;
      case "suspect":
        member.gossipDetector.heartbeat(now);
        // Only a suspicion that rests on the same gossip evidence falls to it. A direct watch
        // or a verdict saw something fresher than what gossip can tell.
        if (member.suspicion?.source === "own" && !member.direct) this.transitions.refute(member, now);
        return;
      case "alive":
        member.gossipDetector.heartbeat(now);
        return;
    }
  }

  /** This node restarted its identity at a higher generation: PONG, PROBE_ACK and LEAVE carry it from now on. */
  renewGeneration(generation: number): void {
    this.selfGeneration = generation;
    this.prober.selfGeneration = generation;
    this.ring.renewGeneration(generation);
  }

  /**
   * The node announced it is leaving (LEAVE received, or its status entry says left). True when
   * that made a known member left here.
   */
  markLeft(name: string, generation: number): boolean {
    if (name === this.selfName) return false;
    const now = this.clock.now();
    const member = this.table.get(name);
    if (!member) {
      if (this.hooks.removed.bars(name, generation)) return false;
      // Remember it as left, so stale gossip about it cannot make it join (and later die).
      this.table.addUnannounced(name, generation, "left", now);
      return false;
    }
    if (generation < member.generation) return false; // an older process's goodbye
    if (generation > member.generation) this.observe(name, generation);
    if (member.status === "left") return false;
    this.transitions.leave(member, now);
    return true;
  }

  /**
   * A peer's published fact (MembershipHooks.publishGone): `target` at `generation` is gone. Taken
   * as a verdict, checked, not trusted. One that arrives during our own stall's grace is kept and
   * checked once the grace is over: the fact reached us once, and need not again.
   */
  verdictFact(target: string, generation: number): void {
    if (target === this.selfName) {
      if (generation === this.selfGeneration) this.verdicts.defendSelf();
      return;
    }
    if (this.table.get(target)?.generation !== generation) return;
    if (!this.guard.canConvict(this.clock.now())) {
      this.pendingFacts.set(target, generation);
      return;
    }
    this.onVerdict(target);
  }

  /** An operator pruned a member that left (force-leave with prune): removed now, not after leftRemovalMs. */
  removeLeft(name: string): void {
    const member = this.table.get(name);
    if (member?.status === "left") this.transitions.remove(member, this.clock.now());
  }

  /** Runs every gossip round: stalls, suspicion, probes, conviction, removal, heartbeats. */
  check(): void {
    const now = this.clock.now();
    this.wakeups.roundStarted(now);
    this.guard.excuseNewStalls(now);
    this.ring.refresh(now, (member) => this.wakeups.armCrossing(member));
    const canConvict = this.guard.canConvict(now);
    if (canConvict && this.pendingFacts.size > 0) this.checkPendingFacts();
    // A copy: removal deletes from the table, and hooks may call back into us.
    for (const member of [...this.table.values()]) {
      if (!this.table.holds(member)) continue; // removed by a hook meanwhile
      this.evaluate(member, now, canConvict);
      this.wakeups.armCrossing(member);
    }
    this.ring.sendHeartbeats();
    this.ring.pingSilent(now, this.wakeups.roundMs);
  }

  /** Cancels every timer and pending request: the node is stopping. */
  stop(): void {
    for (const member of this.table.values()) {
      this.transitions.endSuspicion(member);
      this.wakeups.cancel(member);
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
        this.answers.onPong(from, correlationId, decodePong(body));
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
        if (notice.name !== from) return true;
        // Its monitors publish the departure for the nodes the LEAVE misses; the others need not
        // (a fact from each of N nodes would cost N² deliveries).
        const monitor = this.table.get(notice.name)?.direct !== undefined;
        if (this.markLeft(notice.name, notice.generation) && monitor) this.hooks.publishGone?.(notice.name, notice.generation);
        return true;
      }
      default:
        return false;
    }
  }

  /** Status of a node other than this one; undefined if unknown or removed. */
  status(name: string): MemberStatus | undefined {
    return this.table.get(name)?.status;
  }

  /**
   * status(), and for a node removed but still remembered (removalMemoryMs) the status it was
   * removed in: "left" or "dead". Undefined for a node never heard of, or forgotten.
   */
  lastKnownStatus(name: string): MemberStatus | undefined {
    return this.table.get(name)?.status ?? this.hooks.removed.statusOf(name);
  }

  /** Every known node but this one, by name, with its current phi. */
  members(): MemberView[] {
    return this.table.views();
  }

  /** A counter that moves whenever livePeers() may have changed: callers cache what they derive from it. */
  get liveSetChanges(): number {
    return this.table.liveSetChanges;
  }

  /** Peers worth gossiping with: alive and suspect (suspect nodes still get gossip so they can refute). */
  livePeers(): string[] {
    return this.table.livePeers();
  }

  /** Dead peers, for the occasional retry. */
  deadPeers(): string[] {
    return this.table.deadPeers();
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
    const writer = new FrameWriter(64);
    writeLeave(writer, { name: this.selfName, generation: this.selfGeneration });
    return writer.finish();
  }

  /** Probe requests and helper pings awaiting an answer (bounded; for tests and metrics). */
  get pendingRequests(): number {
    return this.prober.pending;
  }

  // ---- evaluation ----

  /** What check() does for one member; also run between rounds by the member's wakeup. */
  private evaluate(member: Member, now: number, canConvict: boolean): void {
    switch (member.status) {
      case "alive":
        if (canConvict && this.watchesItself(member) && this.table.phiOf(member, now) >= this.current.phi.threshold) this.transitions.suspect(member, "own", now);
        break;
      case "suspect":
        this.checkSuspect(member, now, canConvict);
        break;
      case "dead":
        if (now - member.sinceMs >= this.current.deadRemovalMs) this.transitions.remove(member, now);
        else this.answers.recheckDead(member, now);
        break;
      case "left":
        if (now - member.sinceMs >= this.current.leftRemovalMs) this.transitions.remove(member, now);
        break;
    }
  }

  /**
   * Whether this node suspects the member on its own evidence. With the direct watch on, only its
   * monitors do (they then tell everyone, verdicts.ts): gossip carries heartbeats only where two
   * nodes' summaries differ (state/summary.ts), so a node nobody here watches goes unheard for
   * long stretches, and its silence here means nothing.
   */
  private watchesItself(member: Member): boolean {
    return member.direct !== undefined || this.current.monitorsPerNode === 0;
  }

  /** The member's wakeup between rounds fired. */
  private wake(member: Member): void {
    if (!this.table.holds(member)) return;
    const now = this.clock.now();
    this.guard.excuseNewStalls(now);
    this.evaluate(member, now, this.guard.canConvict(now));
    this.wakeups.armCrossing(member);
  }

  /** Applies the step the suspicion (suspicion.ts) says is due. */
  private checkSuspect(member: Member, now: number, canConvict: boolean): void {
    const suspicion = member.suspicion!;
    const detectorOver = this.table.phiOf(member, now) >= this.current.phi.threshold;
    const step = suspicion.next({ nowMs: now, canConvict, detectorOver, suspectTimeoutMs: this.current.suspectTimeoutMs });
    switch (step.action) {
      case "refute":
        return this.transitions.refute(member, now);
      case "probe":
        return this.transitions.probe(member, suspicion);
      case "wait":
        return this.wakeups.at(member, step.untilMs);
      case "convict":
        return this.transitions.convict(member, now);
      case "hold":
        return;
    }
  }

  /** Another node convicted `target`: suspect it and check for ourselves. */
  private onVerdict(target: string): void {
    if (target === this.selfName) {
      this.verdicts.defendSelf();
      return;
    }
    const member = this.table.get(target);
    if (!member?.announced) return;
    const now = this.clock.now();
    // Right after our own stall we suspect no one, on anyone's word either: our probe round could
    // fail for our own slowness. A verdict missed here comes again as its published fact
    // (verdictFact), which waits out the stall's grace.
    if (!this.guard.canConvict(now)) return;
    if (member.status === "alive") {
      // Our helper ping for one of its monitors' probe rounds went unanswered within that
      // suspicion's span: that was our check, and it failed. Since protocol 4 a non-monitor hears
      // of a hung node only by the verdict, and a round of its own after it would add a probe
      // timeout to detection.
      const unanswered = this.prober.unansweredSince(target);
      const checked = unanswered !== undefined && now - unanswered <= this.current.suspectTimeoutMs + this.current.probeTimeoutMs;
      if (checked) this.transitions.suspectChecked(member, now);
      else this.transitions.suspect(member, "verdict", now);
    } else if (member.status === "suspect" && member.suspicion?.confirm()) {
      // Our own suspicion is confirmed and its round failed: no need to wait out the suspect timeout.
      this.wakeups.at(member, now);
    }
  }

  /**
   * A live peer's page showed it does not hold `names`. A peer known here for longer than a dead
   * node is kept that lacks a member we have held alive as long removed it: its side convicted the
   * member (or saw it leave) while the verdict missed us (we were frozen, or cut off, past the
   * fact's lifetime). Checked like a verdict. Fresh members and fresh peers are left out: a
   * joiner, or a peer a joiner's state has not reached yet, lacks nodes for no such reason.
   */
  peerLacks(peer: string, names: readonly string[]): void {
    const now = this.clock.now();
    const settled = (member: Member | undefined): member is Member => member?.status === "alive" && member.announced && now - member.sinceMs >= this.current.deadRemovalMs;
    if (!settled(this.table.get(peer))) return;
    for (const name of names) {
      const member = this.table.get(name);
      if (settled(member)) this.verdictFact(name, member.generation);
    }
  }

  private checkPendingFacts(): void {
    const facts = [...this.pendingFacts];
    this.pendingFacts.clear();
    for (const [target, generation] of facts) this.verdictFact(target, generation);
  }

  private roundFailed(round: ProbeRound): void {
    const member = this.table.get(round.target);
    // Convict as soon as it is due rather than at the next round. Through a timer, not directly:
    // a round can fail inside Prober.start (a refused connection), before the caller is done.
    if (member?.suspicion?.roundFailed(round)) this.wakeups.at(member, this.clock.now());
  }
}
