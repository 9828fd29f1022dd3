// The settings of the membership (failure detection, probing, removal) with their defaults and
// the reasons for them, and their validation.

import { createDetector, defaultDetectorSettings, type DetectorSettings } from "./detector.ts";

export interface MembershipSettings {
  /** The failure detector's (detector.ts). */
  phi: DetectorSettings;
  /**
   * Ring successors this node watches directly (Akka's monitored-by-nr-of-members), fed by their
   * heartbeats; each node is then watched directly by about as many monitors, the ring
   * predecessors it sends its heartbeat to. 0 watches through gossip digests only.
   */
  monitorsPerNode: number;
  /** Live nodes asked to ping a suspect on our behalf (k of SWIM's indirect probe). */
  probeFanout: number;
  /**
   * How long a ping waits for its PONG: our direct ping, and a helper's ping for a PROBE. A PROBE
   * waits twice as long, so the helper's own "failed" answer arrives before we give up on it.
   */
  probeTimeoutMs: number;
  /**
   * A node suspected on our own evidence is dead only when a probe round at the suspicion and a
   * second one started this long after it have both failed. A suspicion on another node's verdict
   * needs one failed round and no wait: that node waited already, our round is the check.
   */
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
  /** Longest node name accepted in PROBE and LEAVE bodies (bytes of UTF-8). */
  maxNameBytes: number;
  /**
   * Whether our own event-loop stalls hold back suspicion and conviction (LocalHealth). Always on
   * in production; off only to measure what the guard prevents.
   */
  localHealthGuard: boolean;
}

// Chosen by measurement (scripts/bench/detector.ts, docs/BENCHMARKS.md "Failure detection":
// N = 100, 1 s interval, crash detection at no loss, and 10% loss with a node stalling 2 s every
// 30 s for false verdicts; the sweep there varies one setting at a time):
// - phi: phi.ts's defaults (threshold 8, acceptable pause 2.5 s). A watched node's heartbeats
//   arrive once a round, so a crash is suspected ≈ 4 s after its last one (1 s mean + 2.5 s pause +
//   5.2 σ at the 100 ms floor), later under loss, where the window learns the larger spread.
// - monitorsPerNode 3: each monitor watches on its own, so false suspicions grow with their
//   number (measured 24, 72 and 142 an hour for 1, 3 and 5 at 10% loss) while detection gains
//   little past one (p99 5.0, 4.9, 4.6 s); one monitor alone would leave a node unwatched when
//   it dies with its monitor. Akka's 9 would triple the false suspicions of 3.
// - probeFanout 3: SWIM's and memberlist's IndirectChecks; three independent paths make a false
//   death from one lossy link unlikely while costing only 3 small messages per suspicion.
// - probeTimeoutMs 500: memberlist's LAN ProbeTimeout. A TCP round trip on a LAN is well under
//   1 ms; 500 ms tolerates a GC pause on the target. (The Go original's 300 ms, 100 ms for the
//   helper's ping, convicts nodes that are merely busy.)
// - suspectTimeoutMs 1000: the confirming round comes one heartbeat period after the first, and
//   the heartbeat ping in between can refute too. It costs 1 s of detection (p99 3.8 s with 0,
//   4.9 s with 1000); the simulator's losses are independent, so it shows no false death either
//   way, but a real outage or pause is not, and two rounds back to back would both fall into it.
// - deadRemovalMs 86 400 000 (24 h): the product default, whose reasons are in the options table
//   (config/options-table.ts); a node takes it from its options (settings.ts), and
//   test/config-table.test.ts checks that this copy, for a Membership built on its own, agrees.
// - leftRemovalMs 30 000: a node that left has said so; its state only needs to live until the
//   "left" status has reached everyone (⌈log2 N⌉ + 1 rounds, 15 s at N = 10 000) with slack.
//   memberlist's GossipToTheDeadTime is the same 30 s.
// - deadRetryProbability 0.1: a dead peer that came back is noticed within ~10 rounds even in a
//   two-node cluster, while the cluster-wide retry traffic stays about one attempt per round.
// - maxNameBytes 256: node names are host names or identifiers; the same limit as the codec's.
export const defaultMembershipSettings: MembershipSettings = Object.freeze({
  phi: defaultDetectorSettings,
  monitorsPerNode: 3,
  probeFanout: 3,
  probeTimeoutMs: 500,
  suspectTimeoutMs: 1000,
  deadRemovalMs: 86_400_000,
  leftRemovalMs: 30_000,
  deadRetryProbability: 0.1,
  maxNameBytes: 256,
  localHealthGuard: true,
});

/**
 * How long a removal is remembered: twice the longer removal grace. The other nodes remove a node
 * at about the same time as we do (their verdicts are seconds apart), so stale copies of it are
 * gone long before we forget it; until then a node removed as dead is retried now and then, so a
 * partition that outlasted the grace still heals.
 */
export function removalMemoryMs(settings: MembershipSettings): number {
  return 2 * Math.max(settings.deadRemovalMs, settings.leftRemovalMs);
}

export function validateMembershipSettings(settings: MembershipSettings): void {
  // The detector validates its own settings; one is built now so a bad value fails here, at
  // startup, rather than when the first node is discovered.
  createDetector(settings.phi, 0);
  const nonNegative: Array<keyof MembershipSettings> = ["suspectTimeoutMs", "deadRemovalMs", "leftRemovalMs"];
  for (const key of nonNegative) {
    const value = settings[key];
    if (typeof value !== "number" || !(Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`membership ${key} must be a number >= 0, got ${String(value)}`);
    }
  }
  if (!(Number.isFinite(settings.probeTimeoutMs) && settings.probeTimeoutMs > 0)) {
    throw new RangeError(`membership probeTimeoutMs must be > 0, got ${settings.probeTimeoutMs}`);
  }
  if (!(Number.isInteger(settings.monitorsPerNode) && settings.monitorsPerNode >= 0)) {
    throw new RangeError(`membership monitorsPerNode must be an integer >= 0, got ${settings.monitorsPerNode}`);
  }
  if (typeof settings.localHealthGuard !== "boolean") {
    throw new RangeError(`membership localHealthGuard must be a boolean, got ${String(settings.localHealthGuard)}`);
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
