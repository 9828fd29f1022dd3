// GET /v1/state as a stream: `{node: {group: {key: entry}}}` written in slices of at most
// SLICE_MS of work each, with a macrotask turn between slices, so a dump of a million entries
// never holds up gossip, probes or /healthz for longer than one slice.
//
// Entries come in the order the state keeps them (by version, groups interleaved), so each
// node's entries are first sorted into groups, also in slices, and then written out. The dump
// walks the live state: it is not a snapshot, and an entry written meanwhile may show its old or
// its new value, or both (a repeated key in an object: JSON.parse keeps the last). A node whose
// entries did not change since an earlier dump is written from that dump's bytes (dump-cache.ts).

import { RESERVED_GROUP, type EntrySnapshot } from "../state/index.ts";
import type { DumpCache } from "./dump-cache.ts";
import { entryJson, toJson } from "./json.ts";

/** The fields of an entry the dump shows. */
export interface DumpedEntry extends EntrySnapshot {
  group: string;
  key: string;
  expiresAt?: number | undefined;
}

/** A node to dump: its live entries, walked lazily, and the stamp its cached part is kept under (none: not cached). */
export interface DumpedNode {
  readonly name: string;
  readonly entries: Iterable<DumpedEntry>;
  readonly stamp: string | undefined;
}

/** Work done between two turns of the event loop. */
const SLICE_MS = 10;
/** Entries handled between two clock readings. */
const CHECK_EVERY = 256;

const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

const encoder = new TextEncoder();

/** The response body, from `nodes` (walked lazily); parts of unchanged nodes come from `cache`. */
export function stateDumpStream(nodes: Iterable<DumpedNode>, cache: DumpCache): ReadableStream<Uint8Array> {
  const slices = dumpSlices(nodes, cache);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // Bounded by the dump: each round takes one slice. Slices spent sorting entries into groups
      // carry no text, and an empty chunk is not enqueued (the stream would not pull again).
      for (;;) {
        await nextTurn();
        const { done, value } = await slices.next();
        if (done) return controller.close();
        if (value.length === 0) continue;
        return controller.enqueue(typeof value === "string" ? encoder.encode(value) : value);
      }
    },
    async cancel() {
      await slices.return(undefined);
    },
  });
}

/** The JSON text, one slice's worth per yield, or a node's cached part as it is. */
async function* dumpSlices(nodes: Iterable<DumpedNode>, cache: DumpCache): AsyncGenerator<string | Uint8Array, void, undefined> {
  let sliceStart = performance.now();
  let handled = 0;
  let text = "{";
  /** True when the slice's time is up: the caller yields `text` before going on. */
  const sliceOver = (): boolean => {
    if (++handled % CHECK_EVERY !== 0 || performance.now() - sliceStart < SLICE_MS) return false;
    sliceStart = performance.now();
    return true;
  };
  let firstNode = true;
  for (const { name, entries, stamp } of nodes) {
    if (!firstNode) text += ",";
    firstNode = false;
    const cached = stamp === undefined ? undefined : cache.get(name, stamp);
    if (cached !== undefined) {
      yield text;
      text = "";
      yield cached;
      continue;
    }
    // Arrays, not maps by key: a million-key map costs rehashes and collector time in one slice.
    const groups = new Map<string, DumpedEntry[]>();
    let validUntil = Number.POSITIVE_INFINITY;
    for (const entry of entries) {
      if (entry.group === RESERVED_GROUP) continue;
      let keys = groups.get(entry.group);
      if (keys === undefined) groups.set(entry.group, (keys = []));
      keys.push(entry);
      if (entry.expiresAt !== undefined && entry.expiresAt < validUntil) validUntil = entry.expiresAt;
      if (sliceOver()) {
        yield text;
        text = "";
      }
    }
    // The node's part, also kept whole when it may be cached: it is yielded in slices meanwhile.
    const part: string[] | null = stamp === undefined ? null : [];
    let piece = `${toJson(name)}:{`;
    let firstGroup = true;
    for (const [group, keys] of groups) {
      piece += `${firstGroup ? "" : ","}${toJson(group)}:{`;
      firstGroup = false;
      let firstKey = true;
      for (const entry of keys) {
        piece += `${firstKey ? "" : ","}${toJson(entry.key)}:${toJson(entryJson(entry))}`;
        firstKey = false;
        if (sliceOver()) {
          part?.push(piece);
          yield text + piece;
          text = "";
          piece = "";
        }
      }
      piece += "}";
    }
    piece += "}";
    text += piece;
    if (part !== null) {
      part.push(piece);
      cache.put(name, stamp!, validUntil, encoder.encode(part.join("")));
    }
  }
  yield `${text}}`;
}
