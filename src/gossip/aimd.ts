// The allowed update rate of flow control (van Renesse et al., "Efficient Reconciliation and Flow
// Control for Anti-Entropy Protocols"): additive increase while gossip messages fit their budget,
// multiplicative decrease when they overflow. Every node keeps one such rate and moves it toward
// the rates its congested peers report, so the cluster settles on one shared level: the fair
// share. A node that wants less than the share uses less, which leaves room for the level to rise
// (max-min fairness, without anyone knowing the cluster's capacity).
//
// Two additions keep the loop from swinging: a decrease applies to the smaller of the rate and an
// estimate of one node's share of the capacity (what its messages can carry, spread over the other
// nodes), so the first overflow bites at once instead of after many halvings from a cap far above
// the load; and a decrease waits out a cooldown, since a lower rate shows only once the updates
// already out have spread.

export interface AimdSettings {
  /** Added every round without overflow, as a fraction of the demand ceiling (so it scales with load). */
  increaseFraction: number;
  /** After a round in which messages overflowed, the rate becomes this times min(rate, capacity share). */
  decreaseFactor: number;
  /**
   * Rounds after a decrease during which further overflows do not decrease again: a lower rate
   * shows in the messages only once the updates already out have spread (TCP cuts once per
   * round trip for the same reason). Not much longer than that, though: the nodes whose messages
   * overflow must cut about as often as the others add a step, or the rates settle well above
   * the overflow threshold (at 6 rounds the benchmark's cluster sat at twice it).
   */
  cooldownRounds: number;
  /** The rate never exceeds the demand ceiling times this: unused capacity earns no credit. */
  headroom: number;
  /**
   * Rounds without overflow, with no write waiting, after which the rate jumps straight to its
   * cap: nothing is congested and nobody is held back, so a burst may go out at once.
   */
  releaseRounds: number;
  /**
   * After releaseRounds without overflow while writes still wait, the rate grows by this factor
   * per round instead of one step: the capacity is back, and the waiting writes should go out
   * within a few rounds, not after the slow climb meant for probing a congested cluster.
   */
  recoveryFactor: number;
  /** Lowest rate, updates per second: even the most congested cluster publishes something. */
  minRate: number;
}

export const defaultAimdSettings: AimdSettings = {
  increaseFraction: 0.02,
  decreaseFactor: 0.8,
  cooldownRounds: 3,
  headroom: 1.25,
  releaseRounds: 10,
  recoveryFactor: 1.25,
  minRate: 0.05,
};

export class AimdRate {
  private current: number;
  /** Not limiting: nothing overflowed for releaseRounds and nothing waited. A node starts so. */
  private released = true;
  /** Rounds since this node, or one it heard from, saw an overflow. */
  private quietRounds: number;
  private roundsSinceDecrease: number;
  /** Multiplicative decreases so far (a counter for metrics). */
  decreases = 0;

  constructor(private readonly settings: AimdSettings) {
    this.current = settings.minRate; // the cap, once the first round knows the demand
    this.quietRounds = settings.releaseRounds;
    this.roundsSinceDecrease = settings.cooldownRounds;
  }

  /** Updates per second this node may publish. */
  get rate(): number {
    return this.current;
  }

  /** True while writes beyond the rate wait: since an overflow, until quiet rounds release it. */
  get limiting(): boolean {
    return !this.released;
  }

  /** Rounds since this node, or one it heard from, saw an overflow (capped: older is all the same). */
  get roundsSinceOverflow(): number {
    return Math.min(this.quietRounds, this.settings.releaseRounds);
  }

  /**
   * One gossip round: `overflowed` when this node's messages fall short of what peers lack.
   * `ceiling` is the largest desired rate known in the cluster; `waiting` whether writes wait here;
   * `capacityShare` the estimate of one node's share of the capacity, updates per second.
   */
  endRound(overflowed: boolean, ceiling: number, waiting: boolean, capacityShare = Number.POSITIVE_INFINITY): void {
    const { decreaseFactor, cooldownRounds, increaseFraction, releaseRounds, recoveryFactor, minRate } = this.settings;
    if (this.released) this.current = this.cap(ceiling);
    this.roundsSinceDecrease++;
    if (overflowed) {
      this.released = false;
      this.quietRounds = 0;
      if (this.roundsSinceDecrease >= cooldownRounds) {
        this.current = decreaseFactor * Math.min(this.current, capacityShare);
        this.decreases++;
        this.roundsSinceDecrease = 0;
      }
    } else if (!this.released) {
      this.quietRounds++;
      if (this.quietRounds < releaseRounds) this.current += Math.max(minRate, ceiling * increaseFraction);
      else if (waiting) this.current *= recoveryFactor;
      else {
        this.released = true;
        this.current = Number.POSITIVE_INFINITY; // the cap, below
      }
    }
    this.current = Math.max(minRate, Math.min(this.current, this.cap(ceiling)));
  }

  /**
   * A peer's rate and how recently it (or one it heard from) overflowed. Only a limiting peer's
   * rate says anything about the share (a released node's is just its cap). A node limits while
   * any node it hears of does, or it would take more than the share the others hold to: one that
   * was released takes the peer's rate; two limiting ones meet halfway, and repeated pairwise
   * averaging brings every node to one level.
   */
  blend(peerRate: number, peerRoundsSinceOverflow: number, ceiling: number): void {
    if (peerRoundsSinceOverflow >= this.settings.releaseRounds) return;
    const next = this.released ? peerRate : (this.current + peerRate) / 2;
    this.released = false;
    this.quietRounds = Math.min(this.quietRounds, peerRoundsSinceOverflow);
    this.current = Math.max(this.settings.minRate, Math.min(next, this.cap(ceiling)));
  }

  private cap(ceiling: number): number {
    return Math.max(this.settings.minRate, ceiling * this.settings.headroom);
  }
}
