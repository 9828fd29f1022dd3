// The log lines for input refused from peers and output left out of this node's own messages. A
// hostile or broken peer can cause a refusal in every frame it sends, so each cause gets at most
// one line per REFUSAL_LOG_PERIOD_MS: the first refusal is logged at once, later ones are added up
// and reported with the next line of that cause. The exact counts are in the node's stats (and
// /metrics); the lines say that it happens, how much, and about which nodes.

import { printableName } from "../codec/index.ts";
import type { Refusals } from "../gossip/outcome.ts";
import { escapeForLog, type Logger, RateLimitedLog } from "../log.ts";

export const REFUSAL_LOG_PERIOD_MS = 10_000;

/** Names or examples shown in one line; the rest are counted. */
const SHOWN = 5;

type Cause = "entry-cap" | "invalid-name" | "left-out";

/** What was refused for one cause since its last line. */
class Pending {
  count = 0;
  readonly examples = new Set<string>();
  readonly peers = new Set<string>();
  moreExamples = 0;

  add(count: number, examples: readonly string[], peer: string): void {
    this.count += count;
    if (peer !== "") this.peers.add(peer);
    for (const example of examples) {
      if (this.examples.has(example)) continue;
      if (this.examples.size < SHOWN) this.examples.add(example);
      else this.moreExamples++;
    }
  }
}

export class RefusalLog {
  private readonly limiter = new RateLimitedLog(REFUSAL_LOG_PERIOD_MS);
  private readonly pending = new Map<Cause, Pending>();

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
    /** maxEntriesPerNode now, for the line. */
    private readonly entryCap: () => number,
  ) {}

  /** Notes the refusals of one outcome; `peer` is the peer whose frame it handled ("" for none). */
  note(refusals: Refusals, peer: string): void {
    if (refusals.entriesOverCap > 0) {
      this.add("entry-cap", refusals.entriesOverCap, refusals.overCapNodes.map(printableName), peer);
    }
    if (refusals.invalidNames > 0) this.add("invalid-name", refusals.invalidNames, refusals.invalidNameExamples, peer);
    if (refusals.leftOut > 0) this.add("left-out", refusals.leftOut, refusals.leftOutExamples.map(escapeForLog), peer);
  }

  private add(cause: Cause, count: number, examples: readonly string[], peer: string): void {
    let pending = this.pending.get(cause);
    if (!pending) {
      pending = new Pending();
      this.pending.set(cause, pending);
    }
    pending.add(count, examples, peer);
    if (!this.limiter.allow(cause, this.now())) return;
    this.pending.delete(cause);
    this.logger.warn(this.line(cause, pending), { cause, count: pending.count });
  }

  private line(cause: Cause, pending: Pending): string {
    const shown = [...pending.examples].join(", ") + (pending.moreExamples > 0 ? ` and ${pending.moreExamples} more` : "");
    const peers = pending.peers.size === 0 ? "" : ` from ${[...pending.peers].slice(0, SHOWN).map(printableName).join(", ")}${pending.peers.size > SHOWN ? ` and ${pending.peers.size - SHOWN} more` : ""}`;
    const since = ` (at most one such line per ${REFUSAL_LOG_PERIOD_MS / 1000} s; counts since the last)`;
    switch (cause) {
      case "entry-cap":
        return `refused ${pending.count} entries${peers}: their node already holds maxEntriesPerNode (${this.entryCap()}) entries here; nodes ${shown}${since}`;
      case "invalid-name":
        return `ignored ${pending.count} node names${peers} that break the node-name rule: ${shown}${since}`;
      case "left-out":
        return `left ${pending.count} parts out of gossip messages to peers because they do not encode: ${shown}${since}`;
    }
  }
}
