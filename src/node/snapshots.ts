// Keeps a node's data directory current: what a restart needs (data-dir.ts) is written when the
// node starts (the new generation, before it listens), every few seconds while it runs (only
// when something changed), and when it stops. A failed write is logged and retried at the next
// tick: a full disk must not stop gossip.

import type { Logger } from "../log.ts";
import { decodeValue, type Value, type ValueType } from "../state/index.ts";
import { DataDir, nextGeneration, type RememberedMember, type SavedEntry, type Snapshot } from "./data-dir.ts";
import type { MemberInfo, SetOptions, StoredEntry } from "./types.ts";

/** Between periodic snapshots: members joining show up in the file within this. */
export const SNAPSHOT_INTERVAL_MS = 2_000;

/** What the snapshots read from the node. */
export interface SnapshotSource {
  readonly name: string;
  /** The generation the node runs at now: above the start one once it renewed its identity. */
  generation(): number;
  members(): MemberInfo[];
  storedEntries(node: string): Iterable<StoredEntry>;
  set(group: string, key: string, value: Value, options?: SetOptions): number;
}

export class NodeSnapshots {
  readonly dir: DataDir;
  /** The snapshot found at creation, or null. */
  readonly previous: Snapshot | null;
  readonly generation: number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private lastWritten: string | null = null;

  /** Reads the previous snapshot now: the generation must be known before the node is built. */
  constructor(
    path: string,
    private readonly restoreEntries: boolean,
    private readonly logger: Logger,
    givenGeneration: number | undefined,
    now: number,
  ) {
    this.dir = new DataDir(path, logger);
    this.previous = this.dir.load();
    // An explicit generation wins (the operator asked for it); otherwise the counter moves on.
    this.generation = givenGeneration ?? nextGeneration(this.previous?.generation, now);
    if (this.previous && this.generation <= this.previous.generation) {
      logger.warn(`generation ${this.generation} is not above the ${this.previous.generation} of the last run: once a peer that remembers the last run answers, this node renews its identity above it`);
    }
  }

  /** Addresses of the members the last run knew, other than this node: dialled when the seeds are down. */
  rememberedAddresses(ownName: string): string[] {
    return (this.previous?.members ?? []).filter((member) => member.name !== ownName).map((member) => member.address);
  }

  /** Before listening: records the new generation (so a crash right after still moves it on), and restores entries. */
  beforeStart(node: SnapshotSource): void {
    this.write({ generation: this.generation, members: this.previous?.members ?? [], entries: this.previous?.entries ?? [] });
    if (this.restoreEntries && this.previous) this.restore(node, this.previous.entries);
  }

  /** Once started: snapshots every SNAPSHOT_INTERVAL_MS, when something changed. */
  started(node: SnapshotSource): void {
    this.timer = setInterval(() => this.save(node), SNAPSHOT_INTERVAL_MS);
    this.timer.unref?.();
  }

  /** Before the node leaves: the members as last seen, for the next run. */
  stopping(node: SnapshotSource): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.save(node);
  }

  save(node: SnapshotSource): void {
    this.write({ generation: Math.max(this.generation, node.generation()), members: remembered(node), entries: this.restoreEntries ? ownEntries(node) : [] });
  }

  private write(snapshot: Snapshot): void {
    const text = JSON.stringify(snapshot);
    if (text === this.lastWritten) return;
    try {
      this.dir.save(snapshot);
      this.lastWritten = text;
    } catch (error) {
      this.logger.warn(`cannot write the snapshot ${this.dir.file}: ${(error as Error).message}`);
    }
  }

  private restore(node: SnapshotSource, entries: readonly SavedEntry[]): void {
    const now = Date.now();
    let restored = 0;
    for (const entry of entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) continue;
      try {
        const type = entry.type as ValueType;
        const value = decodeValue(type, Buffer.from(entry.value, "base64"));
        node.set(entry.group, entry.key, value, entry.expiresAt === undefined ? { type } : { type, ttl: entry.expiresAt - now });
        restored++;
      } catch (error) {
        this.logger.warn(`did not restore entry ${entry.group}/${entry.key}: ${(error as Error).message}`);
      }
    }
    this.logger.info(`restored ${restored} of ${entries.length} entries from ${this.dir.file}`);
  }
}

function remembered(node: SnapshotSource): RememberedMember[] {
  const members: RememberedMember[] = [];
  for (const member of node.members()) {
    if (member.name === node.name || member.address === undefined) continue;
    // A member that left is no way back in.
    if (member.state === "left") continue;
    members.push({ name: member.name, address: member.address });
  }
  return members;
}

function ownEntries(node: SnapshotSource): SavedEntry[] {
  const entries: SavedEntry[] = [];
  for (const entry of node.storedEntries(node.name)) {
    const saved: SavedEntry = { group: entry.group, key: entry.key, type: entry.valueType, value: Buffer.from(entry.value).toString("base64") };
    if (entry.expiresAt !== undefined) saved.expiresAt = entry.expiresAt;
    entries.push(saved);
  }
  return entries;
}
