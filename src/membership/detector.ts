// The failure detector the membership runs per watched node, behind an interface: the one place
// that builds one, so that replacing phi accrual (phi.ts) touches this file only.

import { defaultPhiSettings, PhiAccrualDetector, type PhiSettings } from "./phi.ts";

/** Settings of the failure detector (MembershipSettings.phi). */
export type DetectorSettings = PhiSettings;

/** Its defaults, and the reasons for them, are the detector's own (phi.ts). */
export const defaultDetectorSettings: Readonly<DetectorSettings> = defaultPhiSettings;

export interface FailureDetector {
  /** A heartbeat (or an answer standing in for one) arrived at `nowMs`. */
  heartbeat(nowMs: number): void;
  /** Starts over as if the first heartbeat arrived at `nowMs`: the old rhythm says nothing any more. */
  reset(nowMs: number): void;
  /** The suspicion level at `nowMs`; the node is suspected once it reaches the settings' threshold. */
  phi(nowMs: number): number;
  /** The silence of the last `pauseMs` was our own event loop's stall, not the node's. */
  excuseLocalPause(pauseMs: number, nowMs: number): void;
  /** When the suspicion level reaches `level` if no heartbeat comes. */
  crossingAt(level: number): number;
  /** Clock time of the latest heartbeat (the start, before any). */
  readonly lastHeartbeatMs: number;
}

/** A detector whose silence counts from `nowMs`. Throws RangeError for invalid settings. */
export function createDetector(settings: DetectorSettings, nowMs: number): FailureDetector {
  return new PhiAccrualDetector(settings, nowMs);
}

export function sameDetectorSettings(a: DetectorSettings, b: DetectorSettings): boolean {
  return (
    a.threshold === b.threshold &&
    a.windowSize === b.windowSize &&
    a.minStdDeviationMs === b.minStdDeviationMs &&
    a.acceptablePauseMs === b.acceptablePauseMs &&
    a.firstHeartbeatEstimateMs === b.firstHeartbeatEstimateMs
  );
}
