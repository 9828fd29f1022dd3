// Shared verdicts: a node that convicted someone on its own evidence tells every live node (a
// PROBE with correlation id 0). The receivers do not take its word for it: each suspects the node
// and checks it for itself with a probe round (membership.ts), and convicts only if that fails
// too. The accused is told of the verdict as well and, if alive, answers every live node at once
// (Lifeguard's buddy system).

import type { Clock } from "../clock.ts";
import { FrameWriter } from "../codec/writer.ts";
import { writeProbe } from "../codec/probe-messages.ts";
import type { Random } from "../random.ts";
import type { MembershipSettings } from "./membership-settings.ts";

export interface VerdictHooks {
  send(peer: string, frame: Uint8Array): boolean;
  livePeers(): string[];
  /** Publish the verdict as a versioned fact (MembershipHooks.publishGone). */
  publish(name: string, generation: number): void;
}

export class Verdicts {
  private readonly writer = new FrameWriter(64);
  private lastSelfDefenceMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly settings: () => MembershipSettings,
    /** What we send to say we are alive: our heartbeat, an unsolicited PONG with our generation. */
    private readonly aliveFrame: Uint8Array,
    private readonly hooks: VerdictHooks,
  ) {}

  /**
   * Tells others that we convicted `name`. On our own evidence: every live node, and the accused
   * itself so that it can object; each monitor of the node does so, so that a lost copy costs
   * nothing. Otherwise a few random live nodes, once: a rumour that reaches the nodes that
   * missed every broadcast, and dies out as the nodes it reaches know already.
   */
  share(name: string, generation: number, ownEvidence: boolean): void {
    writeProbe(this.writer, 0, name);
    const verdict = this.writer.finish();
    if (ownEvidence) {
      // The frames reach the nodes we can reach now; the fact reaches the rest, and those that
      // drop the frame during a stall of their own, by anti-entropy.
      this.hooks.publish(name, generation);
      for (const peer of this.hooks.livePeers()) this.hooks.send(peer, verdict);
      this.hooks.send(name, verdict);
      return;
    }
    for (const peer of this.random.shuffle(this.hooks.livePeers()).slice(0, this.settings().probeFanout)) this.hooks.send(peer, verdict);
  }

  /**
   * Someone convicted us: tell every live node we are alive, so those still checking the verdict
   * drop it and those that already convicted take it back. Once per probe timeout at most: the
   * verdicts of several monitors arrive together, and a peer must not be able to turn us into an
   * amplifier.
   */
  defendSelf(): void {
    const now = this.clock.now();
    if (now - this.lastSelfDefenceMs < this.settings().probeTimeoutMs) return;
    this.lastSelfDefenceMs = now;
    for (const peer of this.hooks.livePeers()) this.hooks.send(peer, this.aliveFrame);
  }
}
