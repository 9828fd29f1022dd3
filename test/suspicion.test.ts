// The suspicion unit on its own: what each evaluation asks for, on our own evidence and on
// another node's verdict, with failed, untrusted and dropped probe rounds.

import { describe, expect, test } from "bun:test";
import { newProbeRound } from "../src/membership/probes.ts";
import { OWN_EVIDENCE_ROUNDS, Suspicion, type SuspicionCheck } from "../src/membership/suspicion.ts";

const SUSPECT_TIMEOUT_MS = 1000;
const SINCE_MS = 10_000;

function check(overrides: Partial<SuspicionCheck> = {}): SuspicionCheck {
  return { nowMs: SINCE_MS, canConvict: true, detectorOver: true, suspectTimeoutMs: SUSPECT_TIMEOUT_MS, ...overrides };
}

/** Starts a round as the membership does on a "probe" step, and fails it. */
function failRound(suspicion: Suspicion): void {
  const round = newProbeRound("x", 1);
  suspicion.round = round;
  expect(suspicion.roundFailed(round)).toBe(true);
}

describe("Suspicion on our own evidence", () => {
  test("two failed rounds, the second after the suspect timeout, then a conviction", () => {
    const suspicion = new Suspicion("own", SINCE_MS);
    expect(suspicion.next(check())).toEqual({ action: "probe" });
    suspicion.round = newProbeRound("x", 1);
    expect(suspicion.next(check({ nowMs: SINCE_MS + 100 }))).toEqual({ action: "hold" }); // in flight
    expect(suspicion.roundFailed(suspicion.round)).toBe(true);
    expect(suspicion.next(check({ nowMs: SINCE_MS + 500 }))).toEqual({ action: "wait", untilMs: SINCE_MS + SUSPECT_TIMEOUT_MS });
    expect(suspicion.next(check({ nowMs: SINCE_MS + SUSPECT_TIMEOUT_MS }))).toEqual({ action: "probe" });
    failRound(suspicion);
    expect(OWN_EVIDENCE_ROUNDS).toBe(2);
    expect(suspicion.next(check({ nowMs: SINCE_MS + SUSPECT_TIMEOUT_MS + 600 }))).toEqual({ action: "convict" });
  });

  test("our detector back under its threshold refutes it, even with a failed round", () => {
    const suspicion = new Suspicion("own", SINCE_MS);
    failRound(suspicion);
    expect(suspicion.next(check({ detectorOver: false }))).toEqual({ action: "refute" });
  });

  test("a verdict confirms it: one failed round convicts at once, without the timeout", () => {
    const suspicion = new Suspicion("own", SINCE_MS);
    suspicion.round = newProbeRound("x", 1);
    expect(suspicion.confirm()).toBe(false); // its round is still in flight
    expect(suspicion.source).toBe("verdict");
    expect(suspicion.roundFailed(suspicion.round)).toBe(true);
    expect(suspicion.next(check({ nowMs: SINCE_MS + 10 }))).toEqual({ action: "convict" });

    const failedFirst = new Suspicion("own", SINCE_MS);
    failRound(failedFirst);
    expect(failedFirst.confirm()).toBe(true); // due now
    expect(failedFirst.confirm()).toBe(false); // confirmed once only
  });
});

describe("Suspicion on another node's verdict", () => {
  test("one failed round convicts with no wait; the detector's view does not refute it", () => {
    const suspicion = new Suspicion("verdict", SINCE_MS);
    expect(suspicion.next(check({ detectorOver: false }))).toEqual({ action: "probe" });
    failRound(suspicion);
    expect(suspicion.next(check({ detectorOver: false, nowMs: SINCE_MS + 1 }))).toEqual({ action: "convict" });
  });
});

describe("Suspicion under the local-health guard", () => {
  test("a round in flight during our stall is untrusted: its failure counts for nothing", () => {
    const suspicion = new Suspicion("verdict", SINCE_MS);
    const round = newProbeRound("x", 1);
    suspicion.round = round;
    expect(suspicion.next(check({ canConvict: false }))).toEqual({ action: "hold" });
    expect(round.untrusted).toBe(true);
    expect(suspicion.roundFailed(round)).toBe(false);
    expect(suspicion.round).toBeUndefined();
    expect(suspicion.next(check())).toEqual({ action: "probe" }); // starts over once healthy
  });

  test("a round that failed before the guard went up is dropped, with the failures counted so far", () => {
    const suspicion = new Suspicion("own", SINCE_MS);
    failRound(suspicion);
    expect(suspicion.next(check({ canConvict: false, nowMs: SINCE_MS + 2000 }))).toEqual({ action: "hold" });
    expect(suspicion.round).toBeUndefined();
    // Healthy again: two fresh rounds are needed, not one.
    expect(suspicion.next(check({ nowMs: SINCE_MS + 3000 }))).toEqual({ action: "probe" });
    failRound(suspicion);
    expect(suspicion.next(check({ nowMs: SINCE_MS + 3500 }))).toEqual({ action: "probe" });
    failRound(suspicion);
    expect(suspicion.next(check({ nowMs: SINCE_MS + 4000 }))).toEqual({ action: "convict" });
  });

  test("a failed round of another suspicion (or a stale one) is not ours", () => {
    const suspicion = new Suspicion("own", SINCE_MS);
    suspicion.round = newProbeRound("x", 1);
    expect(suspicion.roundFailed(newProbeRound("x", 1))).toBe(false);
    expect(suspicion.next(check())).toEqual({ action: "hold" });
  });
});
