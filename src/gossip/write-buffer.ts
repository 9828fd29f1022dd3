// Local writes that flow control holds back: at most one per key, oldest first. A new write of a
// key already held replaces its value but keeps its place and its age, so a key written faster
// than the allowed rate is still published in turn (with its newest value) instead of being
// pushed to the back forever; the intermediate values are never published.

import { entryId, type EncodedValue } from "../state/index.ts";

export interface HeldWrite {
  group: string;
  key: string;
  /** The newest value; null for a delete. */
  value: EncodedValue | null;
  /** Wall-clock ms at which the value expires (a set with a TTL). */
  expiresAt?: number;
  /** Local ms of the oldest write this one stands for: how long the key has waited. */
  firstWrittenAt: number;
  /** Application writes folded into this one. */
  writes: number;
}

export class CoalescingWriteBuffer {
  /** By entryId; a Map keeps insertion order, which is the publishing order. */
  private readonly held = new Map<string, HeldWrite>();

  get size(): number {
    return this.held.size;
  }

  get(group: string, key: string): HeldWrite | undefined {
    return this.held.get(entryId(group, key));
  }

  /** Holds a write; returns true when it replaced a held write of the same key (coalesced). */
  put(group: string, key: string, value: EncodedValue | null, expiresAt: number | undefined, now: number): boolean {
    const id = entryId(group, key);
    const held = this.held.get(id);
    if (held) {
      held.value = value;
      if (expiresAt === undefined) delete held.expiresAt;
      else held.expiresAt = expiresAt;
      held.writes++;
      return true;
    }
    const write: HeldWrite = { group, key, value, firstWrittenAt: now, writes: 1 };
    if (expiresAt !== undefined) write.expiresAt = expiresAt;
    this.held.set(id, write);
    return false;
  }

  /** Forgets a held write (a delete of a key that was never published). */
  drop(group: string, key: string): void {
    this.held.delete(entryId(group, key));
  }

  /** The write that has waited longest. */
  oldest(): HeldWrite | undefined {
    for (const write of this.held.values()) return write;
    return undefined;
  }

  /** Removes and returns the write that has waited longest. */
  shift(): HeldWrite | undefined {
    const write = this.oldest();
    if (write) this.held.delete(entryId(write.group, write.key));
    return write;
  }

  values(): IterableIterator<HeldWrite> {
    return this.held.values();
  }
}
