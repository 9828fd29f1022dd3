// Outgoing connection attempts, one record per address: seeds are retried with exponential
// backoff and jitter until a handshake succeeds; lazy dials (send() to a peer without a
// connection) wait out the same backoff before the next send may try again.

import type { Timer } from "../clock.ts";
import type { Random } from "../random.ts";
import type { HostPort } from "./tcp-options.ts";

export type DialPhase =
  /** Waiting for retryAt (or, never attempted yet). */
  | "waiting"
  | "connecting"
  | "handshaking"
  /** The address turned out to be this node itself: never dialled again. */
  | "self";

export interface Dial {
  readonly address: string;
  readonly target: HostPort;
  /** Seeds: retried on a timer until a handshake succeeds. */
  persistent: boolean;
  /** The node we dial for, when a send() started the dial; its queued frames wait on this dial. */
  expectedName: string | undefined;
  /** A node believed dead (DialPolicy "quiet"), or a remembered member: failures are logged at debug level only. */
  quiet: boolean;
  /** A remembered member's address: retried like a seed, but only until any peer is reached. */
  untilJoined: boolean;
  /** join() calls waiting for this dial's next outcome: true once a handshake completed. */
  waiters: ((reached: boolean) => void)[];
  /** Clock time of the last warning about this dial failing (retry reports are rate-limited). */
  reportedAt: number;
  phase: DialPhase;
  /** Consecutive failures: the exponent of the backoff. */
  failures: number;
  /** Clock time before which a lazy dial is not retried. */
  retryAt: number;
  retryTimer: Timer | null;
  /** The latest connection attempt. */
  attempt: DialAttempt | null;
}

/** One Bun.connect call; settled once it opened, failed or timed out, so only one of those counts. */
export interface DialAttempt {
  readonly dial: Dial;
  settled: boolean;
  connectTimer: Timer | null;
}

export function newDial(address: string, target: HostPort, persistent: boolean, expectedName: string | undefined): Dial {
  return { address, target, persistent, expectedName, quiet: false, untilJoined: false, waiters: [], reportedAt: 0, phase: "waiting", failures: 0, retryAt: 0, retryTimer: null, attempt: null };
}

/**
 * Delay before retry number `failures`: base·2^(failures-1) capped at max, then "equal jitter"
 * (uniform in the upper half), so nodes that lost a seed together do not retry in lockstep while
 * each still waits at least half the nominal delay.
 */
export function backoffDelay(failures: number, baseMs: number, maxMs: number, random: Random): number {
  const nominal = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return nominal / 2 + (random.next() * nominal) / 2;
}
