// SWIM's probe round, both sides. As requester: ping the suspect directly and ask up to
// probeFanout helpers to ping it for us (PROBE); the round fails when every request failed or
// timed out, and any answer is reported at once. As helper: ping the target on a requester's
// behalf and tell it what happened (PROBE_ACK). Every request is forgotten at its timeout, and
// helper pings are capped, so a flood of PROBEs cannot grow memory.
//
// The Prober also hands out the correlation ids for the membership's other pings (heartbeats,
// revival checks), so that no two requests in flight share one.

import type { Clock, Timer } from "../clock.ts";
import { FrameWriter } from "../codec/writer.ts";
import type { Random } from "../random.ts";
import { writePing, writePong, writeProbe, writeProbeAck, type ProbeAck } from "../codec/probe-messages.ts";

/** One probe round: our direct ping plus one PROBE per helper. */
export interface ProbeRound {
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

export interface ProbeSettings {
  /** Live nodes asked to ping the target on our behalf. */
  probeFanout: number;
  /** How long a ping waits for its PONG; a PROBE waits twice as long (two more hops). */
  probeTimeoutMs: number;
}

export interface ProberHooks {
  send(peer: string, frame: Uint8Array): boolean;
  /** Nodes that may be asked to ping `target` for us (alive, not the target). */
  helperCandidates(target: string): string[];
  /** `name` answered at `generation`: to our ping, or to a helper's (ours or one we relayed). */
  onAnswer(name: string, generation: number): void;
  /** Every request of the round failed. */
  onRoundFailed(round: ProbeRound): void;
}

/** A round against `target`, known at `generation`, not started yet. */
export function newProbeRound(target: string, generation: number): ProbeRound {
  return { target, generation, outstanding: new Set(), timers: [], failed: false, untrusted: false };
}

// A node can be asked to ping on behalf of others; a peer flooding it with PROBEs must not grow
// its memory without bound. Beyond this many helper pings in flight it answers "failed" at once
// (the requester still has its own ping and the other helpers).
export const MAX_HELPER_PINGS = 1024;

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

export class Prober {
  private readonly ownRequests = new Map<number, OwnRequest>();
  private readonly helperPings = new Map<number, HelperPing>();
  /**
   * Targets our helper pings went unanswered by, with when (at most MAX_HELPER_PINGS, oldest out
   * first; an answer from the target clears it): our own check of the target, made for a peer.
   */
  private readonly unanswered = new Map<string, number>();
  private readonly writer = new FrameWriter(256);
  private nextCorrelationId = 1;

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly settings: () => ProbeSettings,
    /** Carried in our PONGs. */
    /** Carried in PONG and PROBE_ACK; renewed with the node's identity. */
    public selfGeneration: number,
    private readonly hooks: ProberHooks,
  ) {}

  /** Requests and helper pings awaiting an answer. */
  get pending(): number {
    return this.ownRequests.size + this.helperPings.size;
  }

  /**
   * Runs `round` (from newProbeRound); its outcome comes through the hooks, possibly before this
   * returns (a refused connection fails at once), which is why the caller gets the round first.
   */
  start(round: ProbeRound): void {
    const { target } = round;
    const { probeFanout, probeTimeoutMs } = this.settings();

    // Every request is registered before any is sent: a transport that delivers synchronously
    // may hand us an answer (or a failure) before send() returns, and the round must not count
    // as finished while requests are still unsent.
    const requests: Array<{ peer: string; id: number; frame: Uint8Array }> = [];
    const pingId = this.correlationId();
    writePing(this.writer, pingId);
    requests.push({ peer: target, id: pingId, frame: this.writer.finish() });
    this.register(pingId, { kind: "ping", round });
    const helpers = probeFanout === 0 ? [] : this.random.shuffle(this.hooks.helperCandidates(target)).slice(0, probeFanout);
    for (const helper of helpers) {
      const probeId = this.correlationId();
      writeProbe(this.writer, probeId, target);
      requests.push({ peer: helper, id: probeId, frame: this.writer.finish() });
      this.register(probeId, { kind: "probe", helper, round });
    }
    round.timers.push(this.clock.setTimer(probeTimeoutMs, () => this.requestFailed(round, pingId)));
    // A helper's ping may take the full timeout; the second timeout covers its two extra hops.
    if (requests.length > 1) round.timers.push(this.clock.setTimer(2 * probeTimeoutMs, () => this.failOutstanding(round)));
    for (const request of requests) {
      // Skipped once the round is over: refuted by an answer, or failed.
      if (!round.outstanding.has(request.id)) continue;
      if (!this.hooks.send(request.peer, request.frame)) this.requestFailed(round, request.id);
    }
  }

  /** Forgets a round that no longer matters (answered, or the node changed state). */
  cancel(round: ProbeRound): void {
    for (const timer of round.timers) timer.cancel();
    for (const id of round.outstanding) this.ownRequests.delete(id);
    round.outstanding.clear();
  }

  /** Cancels every helper ping (our rounds are cancelled by their owners). */
  stop(): void {
    for (const helperPing of this.helperPings.values()) helperPing.timer.cancel();
    this.helperPings.clear();
  }

  /** A PONG: returns true if it answered one of our probe or helper pings. */
  onPong(from: string, correlationId: number, generation: number): boolean {
    this.unanswered.delete(from);
    const helperPing = this.helperPings.get(correlationId);
    if (helperPing && helperPing.target === from) {
      this.helperPings.delete(correlationId);
      helperPing.timer.cancel();
      this.sendProbeAck(helperPing.requester, helperPing.requesterCorrelationId, { ok: true, generation });
      this.hooks.onAnswer(from, generation);
      return true;
    }
    const request = this.ownRequests.get(correlationId);
    if (request?.kind !== "ping" || request.round.target !== from) return false;
    this.answerReceived(request.round, correlationId, { ok: true, generation });
    return true;
  }

  onProbeAck(from: string, correlationId: number, ack: ProbeAck): void {
    const request = this.ownRequests.get(correlationId);
    // Late (after its timeout), unsolicited, or from another node than the one asked: ignored.
    if (request?.kind !== "probe" || request.helper !== from) return;
    this.answerReceived(request.round, correlationId, ack);
  }

  /** Helper side: `from` asks us to ping `target` for it. */
  onProbe(from: string, correlationId: number, target: string, selfName: string): void {
    if (target === selfName) {
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
      this.noteUnanswered(target);
      this.sendProbeAck(from, correlationId, { ok: false, generation: 0 });
    };
    const timer = this.clock.setTimer(this.settings().probeTimeoutMs, fail);
    // Registered before sending, in case the transport delivers the PONG synchronously.
    this.helperPings.set(pingId, { target, requester: from, requesterCorrelationId: correlationId, timer });
    if (!this.sendPing(target, pingId)) fail();
  }

  /** When a helper ping of ours to `target` last went unanswered, if none answered since. */
  unansweredSince(target: string): number | undefined {
    return this.unanswered.get(target);
  }

  private noteUnanswered(target: string): void {
    this.unanswered.delete(target);
    if (this.unanswered.size >= MAX_HELPER_PINGS) this.unanswered.delete(this.unanswered.keys().next().value!);
    this.unanswered.set(target, this.clock.now());
  }

  /**
   * Sends a PING with `correlationId` (from correlationId()); returns false if it could not be
   * queued. Outside a probe round (a watch or revival ping) the caller matches the PONG itself.
   */
  sendPing(peer: string, correlationId: number): boolean {
    writePing(this.writer, correlationId);
    return this.hooks.send(peer, this.writer.finish());
  }

  /** Answers a PING. */
  sendPong(peer: string, correlationId: number): void {
    writePong(this.writer, correlationId, this.selfGeneration);
    this.hooks.send(peer, this.writer.finish());
  }

  /** Non-zero (0 means "no reply expected"), and never one still awaiting its answer. */
  correlationId(): number {
    for (;;) {
      const id = this.nextCorrelationId;
      this.nextCorrelationId = id >= 0xffffffff ? 1 : id + 1;
      if (!this.ownRequests.has(id) && !this.helperPings.has(id)) return id;
    }
  }

  private register(correlationId: number, request: OwnRequest): void {
    request.round.outstanding.add(correlationId);
    this.ownRequests.set(correlationId, request);
  }

  private answerReceived(round: ProbeRound, correlationId: number, answer: ProbeAck): void {
    if (answer.ok && answer.generation >= round.generation) {
      this.hooks.onAnswer(round.target, answer.generation);
      // The answer normally ends the round (its owner cancels it); if the node stopped being
      // suspect meanwhile, the request is simply done.
      if (round.outstanding.has(correlationId)) this.requestFailed(round, correlationId);
      return;
    }
    this.requestFailed(round, correlationId);
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
    this.hooks.onRoundFailed(round);
  }

  private sendProbeAck(peer: string, correlationId: number, ack: ProbeAck): void {
    writeProbeAck(this.writer, correlationId, ack);
    this.hooks.send(peer, this.writer.finish());
  }
}
