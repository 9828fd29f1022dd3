// The accept gate: decides at TCP accept, before any TLS or handshake work, whether a connection
// may stay. Two limits: maxConnections over all open connections (both directions), and a cap on
// handshakes in progress per source address, so one host cannot hold many of the slots. Every
// handshake ends within handshakeTimeoutMs (counted from accept), so a slot held without
// authenticating frees itself; an authenticated connection is a cluster member.

import type { Clock } from "../clock.ts";
import type { TransportLogger } from "./tcp-options.ts";

/** At most one warning per limit per this interval; the lines count what was suppressed. */
const REFUSAL_WARNING_INTERVAL_MS = 10_000;

export type AcceptRefusal = "ConnectionLimit" | "PendingHandshakesPerSource";

export class AcceptGate {
  /** Inbound handshakes in progress, by source IP address. */
  private readonly pending = new Map<string, number>();
  private readonly warnings = new Map<AcceptRefusal, { lastAt: number; suppressed: number }>();

  constructor(
    private readonly maxConnections: number,
    private readonly maxPendingPerSource: number,
    private readonly clock: Clock,
    private readonly log: TransportLogger,
  ) {}

  /**
   * Whether an accepted connection from `source` may stay, given how many are open already (not
   * counting it). When it may, it counts as a pending handshake until release(source).
   */
  admit(source: string, openConnections: number): AcceptRefusal | null {
    if (openConnections >= this.maxConnections) {
      this.warn("ConnectionLimit", `refused a connection from ${source}: ${openConnections} connections open, the limit (maxConnections) is ${this.maxConnections}`);
      return "ConnectionLimit";
    }
    const pending = this.pending.get(source) ?? 0;
    if (pending >= this.maxPendingPerSource) {
      this.warn("PendingHandshakesPerSource", `refused a connection from ${source}: it already has ${pending} handshakes in progress (at most ${this.maxPendingPerSource} per address)`);
      return "PendingHandshakesPerSource";
    }
    this.pending.set(source, pending + 1);
    return null;
  }

  /** The handshake of a connection admit() let in has ended (completed or closed). */
  release(source: string): void {
    const pending = (this.pending.get(source) ?? 0) - 1;
    if (pending > 0) this.pending.set(source, pending);
    else this.pending.delete(source);
  }

  /** Handshakes in progress from one address (for tests and stats). */
  pendingFrom(source: string): number {
    return this.pending.get(source) ?? 0;
  }

  private warn(limit: AcceptRefusal, message: string): void {
    const now = this.clock.now();
    const state = this.warnings.get(limit);
    if (state && now - state.lastAt < REFUSAL_WARNING_INTERVAL_MS) {
      state.suppressed++;
      return;
    }
    const suppressed = state?.suppressed ?? 0;
    this.warnings.set(limit, { lastAt: now, suppressed: 0 });
    const more = suppressed > 0 ? ` (and ${suppressed} more refused for the same reason since the last warning)` : "";
    this.log.warn(`${message}${more}`, { limit });
  }
}
