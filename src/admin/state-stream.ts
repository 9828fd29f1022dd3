// GET /v1/state as a stream: `{node: {group: {key: entry}}}` written in slices of at most
// SLICE_MS of work each, with a macrotask turn between slices, so a dump of a million entries
// never holds up gossip, probes or /healthz for longer than one slice.
//
// Entries come in the order the state keeps them (by version, groups interleaved), so each
// node's entries are first sorted into groups, also in slices, and then written out. The dump
// walks the live state: it is not a snapshot, and an entry written meanwhile may show its old or
// its new value, or both (a repeated key in an object: JSON.parse keeps the last).

import { RESERVED_GROUP, type EntrySnapshot } from "../state/index.ts";
import { entryJson, toJson } from "./json.ts";

/** The fields of an entry the dump shows. */
export interface DumpedEntry extends EntrySnapshot {
  group: string;
  key: string;
  expiresAt?: number | undefined;
}

/** Work done between two turns of the event loop. */
const SLICE_MS = 10;
/** Entries handled between two clock readings. */
const CHECK_EVERY = 256;

const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** The response body: `nodes` yields each node's name and its live entries, walked lazily. */
export function stateDumpStream(nodes: Iterable<readonly [name: string, entries: Iterable<DumpedEntry>]>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const slices = dumpSlices(nodes);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // Bounded by the dump: each round takes one slice. Slices spent sorting entries into groups
      // carry no text, and an empty chunk is not enqueued (the stream would not pull again).
      for (;;) {
        await nextTurn();
        const { done, value } = await slices.next();
        if (done) return controller.close();
        if (value === "") continue;
        return controller.enqueue(encoder.encode(value));
      }
    },
    async cancel() {
      await slices.return(undefined);
    },
  });
}

/** The JSON text, one slice's worth per yield. */
async function* dumpSlices(nodes: Iterable<readonly [string, Iterable<DumpedEntry>]>): AsyncGenerator<string, void, undefined> {
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
  for (const [name, entries] of nodes) {
    // Arrays, not maps by key: a million-key map costs rehashes and collector time in one slice.
    const groups = new Map<string, DumpedEntry[]>();
    for (const entry of entries) {
      if (entry.group === RESERVED_GROUP) continue;
      let keys = groups.get(entry.group);
      if (keys === undefined) groups.set(entry.group, (keys = []));
      keys.push(entry);
      if (sliceOver()) {
        yield text;
        text = "";
      }
    }
    text += `${firstNode ? "" : ","}${toJson(name)}:{`;
    firstNode = false;
    let firstGroup = true;
    for (const [group, keys] of groups) {
      text += `${firstGroup ? "" : ","}${toJson(group)}:{`;
      firstGroup = false;
      let firstKey = true;
      for (const entry of keys) {
        text += `${firstKey ? "" : ","}${toJson(entry.key)}:${toJson(entryJson(entry))}`;
        firstKey = false;
        if (sliceOver()) {
          yield text;
          text = "";
        }
      }
      text += "}";
    }
    text += "}";
  }
  yield `${text}}`;
}
