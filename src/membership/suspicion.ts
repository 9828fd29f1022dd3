// One suspicion of one node, from its start until it is refuted or ends in a conviction: whose
// evidence it rests on, its probe rounds, and what is due at each evaluation. Modelled on
// memberlist's suspicion.go, without I/O or timers of its own: the membership runs the probe
// rounds and the wakeups a step asks for, and decides what counts as our own evidence.
//
// The rules:
// - On our own evidence (our detector crossed its threshold), the verdict goes to every node, so
//   it takes two failed probe rounds, the second once suspectTimeoutMs is over: under heavy loss
//   one round fails for a live node now and then (~1% at 10% loss), two in a row almost never.
//   A crash fails both at once. Our detector falling back below its threshold refutes it.
// - On another node's verdict, one failed round convicts, with no wait: that node waited
//   already, our round is the check. A verdict that arrives while we suspect on our own evidence
//   confirms ours, which then needs no second round either.
// - While our own event loop's stall guard is up (canConvict false), a failure may be our fault (a
//   timeout that fired before the answer queued behind the stall was read): a failed round is
//   dropped, and one in flight is marked untrusted; its failure then counts for nothing.

import type { ProbeRound } from "./probes.ts";

/** Whose evidence a suspicion rests on. */
export type SuspicionSource = "own" | "verdict";

/** What an evaluation of the suspicion asks the membership to do. */
export type SuspicionStep =
  | { readonly action: "refute" }
  | { readonly action: "probe" }
  | { readonly action: "wait"; readonly untilMs: number }
  | { readonly action: "convict" }
  | { readonly action: "hold" };

export interface SuspicionCheck {
  nowMs: number;
  /** Whether our own health allows convicting (the local-health guard is down). */
  canConvict: boolean;
  /** Whether our own detector is at or over its threshold for the node. */
  detectorOver: boolean;
  suspectTimeoutMs: number;
}

/** Failed rounds a suspicion on our own evidence needs before it convicts. */
export const OWN_EVIDENCE_ROUNDS = 2;

export class Suspicion {
  /** The current probe round: in flight, or failed and awaiting the next step. */
  round: ProbeRound | undefined;
  /** Rounds of this suspicion that failed while we were healthy. */
  private failedRounds = 0;

  constructor(
    private origin: SuspicionSource,
    /** When the suspicion began: the suspect timeout counts from here. */
    readonly sinceMs: number,
  ) {}

  get source(): SuspicionSource {
    return this.origin;
  }

  /**
   * Another node's verdict about the suspect arrived. Returns true when it makes a conviction due
   * at once: a suspicion of our own whose round has failed already.
   */
  confirm(): boolean {
    if (this.origin !== "own") return false;
    this.origin = "verdict";
    return this.round?.failed === true;
  }

  /**
   * A probe round failed. Returns true when it was this suspicion's trusted round: evaluate now
   * (a conviction may be due).
   */
  roundFailed(round: ProbeRound): boolean {
    if (this.round !== round) return false;
    if (round.untrusted) {
      this.round = undefined;
      return false;
    }
    round.failed = true;
    this.failedRounds++;
    return true;
  }

  /** What is due now. */
  next(check: SuspicionCheck): SuspicionStep {
    // Fresh beats and answers refute where they arrive; the detector falls back here only through
    // a local stall's excuse or a threshold raised live. A verdict stands until our round answers.
    if (this.origin === "own" && !check.detectorOver) return { action: "refute" };
    const round = this.round;
    if (!check.canConvict) {
      if (round?.failed) {
        this.round = undefined;
        this.failedRounds = 0;
      } else if (round) {
        round.untrusted = true;
      }
      return { action: "hold" };
    }
    if (!round) return { action: "probe" };
    if (!round.failed) return { action: "hold" };
    if (this.origin === "own") {
      const dueMs = this.sinceMs + check.suspectTimeoutMs;
      if (check.nowMs < dueMs) return { action: "wait", untilMs: dueMs };
      if (this.failedRounds < OWN_EVIDENCE_ROUNDS) return { action: "probe" };
    }
    return { action: "convict" };
  }
}
