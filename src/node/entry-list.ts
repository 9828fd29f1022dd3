// A node's live entries as the API lists them (GossipNode.entries): decoded, and for the node's
// own entries, the writes flow control holds back (version 0) included.

import type { GossipEngine } from "../gossip/engine.ts";
import { type EntrySnapshot, decodeValue, valueTypeNames } from "../state/index.ts";
import type { EntryInfo, StoredEntry } from "./types.ts";

function info(group: string, key: string, entry: EntrySnapshot, version: number): EntryInfo {
  return { group, key, value: decodeValue(entry.valueType, entry.value), type: valueTypeNames[entry.valueType], version };
}

/** `stored`: the node's live entries as stored, reserved ones excluded; `own`: whether they are this node's. */
export function entryList(stored: Iterable<StoredEntry>, engine: GossipEngine, own: boolean): EntryInfo[] {
  const list: EntryInfo[] = [];
  for (const entry of stored) {
    if (own && engine.isHeld(entry.group, entry.key)) continue;
    list.push(info(entry.group, entry.key, entry, entry.version));
  }
  if (own) {
    for (const held of engine.heldWrites()) {
      const entry = engine.ownEntry(held.group, held.key);
      if (entry) list.push(info(held.group, held.key, entry, 0));
    }
  }
  return list;
}
