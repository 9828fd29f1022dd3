// Which nodes a query asks: the live members (this node included) whose names match `nodes` and
// whose entries meet every condition of `filter`, as Serf's node and tag filters. Evaluated at the
// origin, over its replica of every member's entries, so the origin knows exactly whom it asked
// and can name those that did not answer.

import type { Value } from "../state/index.ts";

/** An entry condition: the node has entry group/key, and (when given) its value reads `value`. */
export interface EntryCondition {
  group: string;
  key: string;
  /** Compared with the entry's value as text: strings as they are, numbers, bigints and booleans as written, JSON as JSON. */
  value?: string;
}

export interface QueryTargeting {
  /** Node names, or patterns with `*` (any run of characters) and `?` (one character). */
  nodes?: readonly string[] | undefined;
  /** Conditions on the node's entries; a node is asked only when it meets all of them. */
  filter?: EntryCondition | readonly EntryCondition[] | undefined;
}

/** Throws RangeError naming what is wrong with the filters. */
export function checkTargeting(targeting: QueryTargeting): void {
  const { nodes, filter } = targeting;
  if (nodes !== undefined && (!Array.isArray(nodes) || !nodes.every((name) => typeof name === "string" && name.length > 0))) {
    throw new RangeError("query nodes must be a list of node names or patterns (with * and ?)");
  }
  for (const condition of conditionsOf(filter)) {
    const { group, key, value } = condition as Partial<EntryCondition>;
    if (typeof group !== "string" || group === "" || typeof key !== "string" || key === "" || (value !== undefined && typeof value !== "string")) {
      throw new RangeError(`query filter ${JSON.stringify(condition)} must be {group, key, value?} with non-empty group and key and a string value`);
    }
  }
}

/** The candidates that match; `entry` reads a node's entry (undefined when it has none). */
export function selectTargets(candidates: readonly string[], targeting: QueryTargeting, entry: (node: string, group: string, key: string) => Value | undefined): string[] {
  const patterns = targeting.nodes?.map(namePattern);
  const conditions = conditionsOf(targeting.filter);
  return candidates.filter(
    (name) =>
      (patterns === undefined || patterns.some((pattern) => pattern.test(name))) &&
      conditions.every((condition) => {
        const value = entry(name, condition.group, condition.key);
        return value !== undefined && (condition.value === undefined || valueText(value) === condition.value);
      }),
  );
}

function conditionsOf(filter: QueryTargeting["filter"]): readonly EntryCondition[] {
  if (filter === undefined) return [];
  return Array.isArray(filter) ? filter : [filter as EntryCondition];
}

/**
 * A name or glob as an anchored RegExp. Only `*` and `?` are special (everything else is escaped),
 * and node names are at most 64 characters, so matching cannot run away.
 */
function namePattern(glob: string): RegExp {
  const source = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${source}$`);
}

function valueText(value: Value): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return String(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  return JSON.stringify(value);
}
