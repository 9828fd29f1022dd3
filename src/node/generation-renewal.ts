// A node restarted below the generation the cluster remembers for its name (no data dir, and the
// wall clock stepped back, or --generation forced low) would be ignored for good: every peer keeps
// the old generation's state, and a digest of a lower generation changes nothing. A handshake
// tells each side what the other remembers of its name (transport/admission.ts); the node that is
// behind renews its identity just above the remembered generation: its own entries, heartbeats
// and probe answers carry the new generation from then on, which the peers take as a restart.
// Both sides log the gap with both generations.

import type { RememberedIdentity } from "../codec/index.ts";
import type { Logger } from "../log.ts";
import type { ClusterState } from "../state/index.ts";
import type { GenerationGap } from "../transport/admission.ts";

/** What this node knows of `name` at its newest generation, held in the state or removed; undefined when new. */
export function rememberedIdentity(state: ClusterState, name: string): RememberedIdentity | undefined {
  const held = state.nodes.get(name);
  const removed = state.removed.get(name);
  if (held && (!removed || held.generation >= removed.generation)) {
    return { generation: held.generation, heartbeat: state.heartbeatOf(name), maxVersion: held.maxVersion };
  }
  return removed && { generation: removed.generation, heartbeat: removed.heartbeat, maxVersion: 0 };
}

/** What a renewal changes: everything that announces this node's generation. */
export interface RenewalTarget {
  readonly name: string;
  readonly generation: number;
  renew(generation: number): void;
}

/**
 * Handles a gap a handshake reported: the peer's is only logged (the peer renews itself); this
 * node's renews its identity, unless an earlier renewal already moved it past the remembered one.
 */
export function onGenerationGap(gap: GenerationGap, self: RenewalTarget, logger: Logger): void {
  if (gap.node !== self.name) {
    logger.warn(`node ${gap.node} announced generation ${gap.announced}, below the ${gap.remembered} remembered here: told it, so it renews its identity above ${gap.remembered}`);
    return;
  }
  if (gap.remembered < self.generation) return; // renewed already, above what this peer remembers
  const next = gap.remembered + 1;
  if (!Number.isSafeInteger(next)) {
    logger.error(`${gap.rememberedBy} remembers generation ${gap.remembered} for this node, too large to renew above: this node stays at ${self.generation} and is ignored by peers that remember more`);
    return;
  }
  const behind = gap.remembered === gap.announced ? `the same generation, with more heartbeats or versions than this run has,` : `generation ${gap.remembered},`;
  logger.warn(`this node announced generation ${gap.announced}, but ${gap.rememberedBy} remembers ${behind} for ${self.name} (a restart with the clock stepped back or a forced generation): renewing its identity at generation ${next}`);
  self.renew(next);
}
