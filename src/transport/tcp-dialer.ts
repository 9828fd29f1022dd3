// The outgoing side of the TCP transport: one Dial per address (tcp-dial.ts), connection attempts
// with a connect timeout, retries with backoff, and, while stopping, waiting for the dials that
// queued frames depend on. Opening the socket and the handshake after it belong to tcp.ts.

import type { Clock } from "../clock.ts";
import { backoffDelay, newDial, type Dial, type DialAttempt } from "./tcp-dial.ts";
import { parseAddress, type ResolvedTcpOptions, type TransportLogger } from "./tcp-options.ts";

export interface DialerHooks {
  /** Opens the socket for an attempt; a failure is reported through attemptFailed. */
  connect(attempt: DialAttempt): void;
  /** The named peer may have lost the dial its frames waited on. */
  settleLink(name: string): void;
  /** Whether frames are queued waiting for this dial's peer. */
  framesWaitOn(dial: Dial): boolean;
}

export class Dialer {
  /** Outgoing dials by address. */
  readonly dials = new Map<string, Dial>();
  stopping = false;
  /** While waitForDialsWithFrames() runs: called whenever a dial settles. */
  private onDialSettled: (() => void) | null = null;

  constructor(
    private readonly options: ResolvedTcpOptions,
    private readonly clock: Clock,
    private readonly log: TransportLogger,
    private readonly hooks: DialerHooks,
  ) {}

  get(address: string): Dial | undefined {
    return this.dials.get(address);
  }

  add(address: string, persistent: boolean, expectedName: string | undefined): Dial {
    const dial = newDial(address, parseAddress(address), persistent, expectedName);
    this.dials.set(address, dial);
    return dial;
  }

  attempt(dial: Dial): void {
    dial.retryTimer?.cancel();
    dial.retryTimer = null;
    dial.phase = "connecting";
    const attempt: DialAttempt = { dial, settled: false, connectTimer: null };
    dial.attempt = attempt;
    attempt.connectTimer = this.clock.setTimer(this.options.connectTimeoutMs, () =>
      this.attemptFailed(attempt, `no connection within ${this.options.connectTimeoutMs} ms`),
    );
    this.hooks.connect(attempt);
  }

  attemptFailed(attempt: DialAttempt, reason: string): void {
    if (attempt.settled) return;
    this.settleAttempt(attempt);
    this.failed(attempt.dial, reason, false);
  }

  /** Marks the connect phase decided: a late open, rejection or timeout of it is then ignored. */
  settleAttempt(attempt: DialAttempt): void {
    attempt.settled = true;
    attempt.connectTimer?.cancel();
    attempt.connectTimer = null;
  }

  /** reasonLogged: the reason already went out as a warning (a refusal), so repeat it only in debug. */
  failed(dial: Dial, reason: string, reasonLogged: boolean): void {
    settleWaiters(dial, false);
    if (dial.phase === "self") return;
    if (this.stopping) {
      // No retry now; the frames that waited for it are dropped.
      dial.phase = "waiting";
      if (dial.expectedName !== undefined) this.hooks.settleLink(dial.expectedName);
      this.onDialSettled?.();
      return;
    }
    dial.failures++;
    const delay = backoffDelay(dial.failures, this.options.reconnectBaseMs, this.options.reconnectMaxMs, this.options.random);
    dial.phase = "waiting";
    dial.retryAt = this.clock.now() + delay;
    const what = dial.persistent ? `seed ${dial.address}` : `${dial.expectedName ?? "peer"} at ${dial.address}`;
    const next = dial.persistent ? `retrying in ${Math.round(delay)} ms` : `no new attempt for ${Math.round(delay)} ms`;
    this.report(dial, `cannot reach ${what}: ${reason}; ${next}`, reasonLogged);
    if (dial.persistent) dial.retryTimer = this.clock.setTimer(delay, () => this.attempt(dial));
    if (dial.expectedName !== undefined) this.hooks.settleLink(dial.expectedName);
  }

  /**
   * One warning at the first failure, then, while a seed stays unreachable, at most one line per
   * retryLogIntervalMs with the attempt count and the last error; every failure also goes to debug.
   */
  private report(dial: Dial, message: string, reasonLogged: boolean): void {
    const fields = { address: dial.address, failures: dial.failures };
    const now = this.clock.now();
    const first = dial.failures === 1;
    const due = dial.persistent && now - dial.reportedAt >= this.options.retryLogIntervalMs;
    if (dial.quiet || (first ? reasonLogged : !due)) {
      if (first) dial.reportedAt = now;
      this.log.debug(message, fields);
      return;
    }
    dial.reportedAt = now;
    this.log.warn(first ? message : `still ${message} (${dial.failures} attempts so far)`, fields);
  }

  /**
   * Dials an address once (or joins the attempt under way) for join(): resolves true once a
   * handshake completes, false when it fails or the transport stops.
   */
  reach(address: string): Promise<boolean> {
    const dial = this.dials.get(address) ?? this.add(address, false, undefined);
    if (dial.phase === "self" || this.stopping) return Promise.resolve(false);
    const reached = new Promise<boolean>((resolve) => dial.waiters.push(resolve));
    if (dial.phase === "waiting") this.attempt(dial);
    return reached;
  }

  succeeded(dial: Dial, peerName: string): void {
    settleWaiters(dial, true);
    if (dial.failures > 0) this.log.info(`reached ${dial.address} (${peerName}) after ${dial.failures} failed attempts`);
    this.dials.delete(dial.address);
    // A lazy dial whose address now belongs to another node: the frames waiting for the old one go.
    if (dial.expectedName !== undefined && dial.expectedName !== peerName) this.hooks.settleLink(dial.expectedName);
  }

  /** A peer got a connection: stop() may be waiting for the last dial that carried frames. */
  peerConnected(): void {
    // Joined: the members a previous run remembered are not needed any more, gossip knows the cluster.
    for (const dial of this.dials.values()) {
      if (!dial.untilJoined || dial.phase !== "waiting") continue;
      dial.retryTimer?.cancel();
      this.dials.delete(dial.address);
    }
    this.onDialSettled?.();
  }

  /** Whether a dial for this name is connecting or handshaking. */
  pendingFor(name: string): boolean {
    for (const dial of this.dials.values()) {
      if (dial.expectedName === name && (dial.phase === "connecting" || dial.phase === "handshaking")) return true;
    }
    return false;
  }

  /**
   * stop(), first part: no new dial or retry; attempts no frames wait on are abandoned, and the
   * others get up to closeTimeoutMs to complete, so that their frames (a LEAVE) still go out.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const dial of this.dials.values()) {
      settleWaiters(dial, false);
      dial.retryTimer?.cancel();
      if (dial.attempt && !this.hooks.framesWaitOn(dial)) this.settleAttempt(dial.attempt);
    }
    await this.dialsWithFramesSettled(this.options.closeTimeoutMs);
    for (const dial of this.dials.values()) if (dial.attempt) this.settleAttempt(dial.attempt);
  }

  /** Resolves once no dial carries frames any more, or after timeoutMs. */
  private async dialsWithFramesSettled(timeoutMs: number): Promise<void> {
    const pending = () => [...this.dials.values()].some((dial) => this.hooks.framesWaitOn(dial));
    if (!pending()) return;
    await new Promise<void>((resolve) => {
      const timer = this.clock.setTimer(timeoutMs, () => finish());
      const finish = (): void => {
        timer.cancel();
        this.onDialSettled = null;
        resolve();
      };
      this.onDialSettled = () => {
        if (!pending()) finish();
      };
    });
  }
}

function settleWaiters(dial: Dial, reached: boolean): void {
  const waiters = dial.waiters;
  if (waiters.length === 0) return;
  dial.waiters = [];
  for (const resolve of waiters) resolve(reached);
}
