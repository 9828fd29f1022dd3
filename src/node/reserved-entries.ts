// This node's reserved entries (group RESERVED_GROUP): its advertised address, its status ("left"
// when it leaves) and the cluster config document it holds, and how a config document received
// from a peer is read and ranked.

import type { Clock } from "../clock.ts";
import { ClusterState, RESERVED_GROUP, type EncodedValue, type EntrySnapshot, type Value, ValueType, decodeValue, encodeValue } from "../state/index.ts";
import type { ClusterConfigDocument, NodeSettings } from "./types.ts";

export const ADDRESS_KEY = "address";
export const STATUS_KEY = "status";
export const CONFIG_KEY = "config";

/** The address a node advertises, from its reserved entry; undefined until that arrived. */
export function addressOf(state: ClusterState, name: string): string | undefined {
  const entry = state.get(name, RESERVED_GROUP, ADDRESS_KEY);
  return entry ? (decodeValue(entry.valueType, entry.value) as string) : undefined;
}

export function configValue(document: ClusterConfigDocument): EncodedValue {
  return encodeValue(document as unknown as Value, ValueType.Json);
}

/** A config document from a peer's entry; throws when the entry is not one. */
export function decodeConfig(snapshot: EntrySnapshot): ClusterConfigDocument {
  const document = decodeValue(snapshot.valueType, snapshot.value) as unknown as ClusterConfigDocument;
  if (typeof document?.version !== "number" || typeof document.origin !== "string" || typeof document.settings !== "object") throw new Error("not a config document");
  return document;
}

/**
 * Whether `document` replaces `current`. Version 0 is every node's start-up config from its own
 * options: only a change made at run time (version 1 and up) travels. Equal versions made
 * concurrently: the larger origin wins; and from one origin (it restarted, forgot its last version
 * and made the same number again), the larger settings in a canonical form, so that every node
 * settles on the same document.
 */
export function supersedes(document: ClusterConfigDocument, current: ClusterConfigDocument): boolean {
  if (document.version !== current.version) return document.version > current.version;
  if (document.version === 0 || document.origin < current.origin) return false;
  return document.origin > current.origin || canonicalJson(document.settings) > canonicalJson(current.settings);
}

/** JSON with every object's keys sorted: equal settings give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  const entries = Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${entries.join(",")}}`;
}

/**
 * The record of each node as it is once started (its cluster config at version 0 and its
 * address written), for a converged start (NodeSettings.startMembers): each node then finds its
 * start entries in place, and every other node already holds them.
 */
export function startRecords(nodes: readonly { name: string; generation: number; address: string; config: Record<string, unknown> }[], clock: Clock, settings: Pick<NodeSettings, "tombstoneGraceMs" | "limits">): ClusterState["self"][] {
  return nodes.map(({ name, generation, address, config }) => {
    const state = new ClusterState(name, generation, clock, settings);
    state.set(RESERVED_GROUP, CONFIG_KEY, configValue({ version: 0, origin: name, settings: config }));
    state.set(RESERVED_GROUP, ADDRESS_KEY, encodeValue(address));
    return state.self;
  });
}

