// Force-leave (issue #19 item 2): an operator declares a failed or dead member gone. The decision
// is a fact in the reserved group of the node that made it (key "left/<name>", value the member's
// generation and whether to prune it), so it carries a version and travels by anti-entropy like
// any entry: every node applies it once it reaches it, a partition only delays that, and a node
// that joins later learns it with the rest of the state. It names one generation: a restarted
// member (a higher generation) is not affected.

import type { Membership, MemberStatus } from "../membership/membership.ts";
import { type EncodedValue, type EntrySnapshot, ValueType, decodeValue, encodeValue } from "../state/index.ts";

const KEY_PREFIX = "left/";

export interface ForceLeaveOptions {
  /** Also remove the member from every node's state now, not after the left-removal delay. */
  prune?: boolean;
  /** Mark it left even though it is alive here. */
  force?: boolean;
}

export interface ForceLeaveFact {
  node: string;
  generation: number;
  prune: boolean;
}

/** Thrown when a force-leave is refused (an unknown or live member, this node itself). */
export class ForceLeaveError extends Error {
  override readonly name = "ForceLeaveError";
}

/** Checks that `target` may be forced out; returns the generation it is known at. */
export function checkForceLeave(target: string, self: string, generation: number | undefined, status: MemberStatus | undefined, options: ForceLeaveOptions): number {
  if (target === self) throw new ForceLeaveError(`${target} is this node: stop it instead of forcing it out`);
  if (generation === undefined) throw new ForceLeaveError(`node ${JSON.stringify(target)} is not known here`);
  if (status === undefined) throw new ForceLeaveError("force-leave needs membership (failure detection), which is off on this node");
  if (status === "alive" && options.force !== true) {
    throw new ForceLeaveError(`node ${target} is alive: a live member is only forced out with force (it would be marked left while it runs)`);
  }
  return generation;
}

export function forceLeaveKey(target: string): string {
  return `${KEY_PREFIX}${target}`;
}

export function encodeForceLeave(fact: ForceLeaveFact): EncodedValue {
  return encodeValue({ generation: fact.generation, prune: fact.prune }, ValueType.Json);
}

/** The fact a reserved entry holds, or null when the key is not a force-leave or its value is malformed. */
export function decodeForceLeave(key: string, snapshot: EntrySnapshot): ForceLeaveFact | null {
  if (!key.startsWith(KEY_PREFIX)) return null;
  try {
    const value = decodeValue(snapshot.valueType, snapshot.value) as { generation?: unknown; prune?: unknown };
    if (!Number.isSafeInteger(value?.generation)) return null;
    return { node: key.slice(KEY_PREFIX.length), generation: value.generation as number, prune: value.prune === true };
  } catch {
    return null;
  }
}

/** Carries out a force-leave fact (ours or a peer's) on this node's membership. */
export function applyForceLeave(membership: Membership | null, selfName: string, fact: ForceLeaveFact): void {
  if (!membership || fact.node === selfName) return;
  membership.markLeft(fact.node, fact.generation);
  if (fact.prune) membership.removeLeft(fact.node);
}
