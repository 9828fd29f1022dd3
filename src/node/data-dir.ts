// The node's data directory (--data-dir): one snapshot file holding the generation counter, the
// members last known with their addresses, and optionally this node's own entries.
//
// Writes are atomic (node/atomic-file.ts): the snapshot goes to a temporary file, is fsynced,
// renamed over the old one, and the directory is fsynced, so a crash (kill -9, power loss) leaves either the old snapshot or
// the new one, never a mix. The file starts with a header line naming its length and SHA-256, so
// a torn or corrupted file (a disk error, a hand edit) is detected on load, logged and ignored:
// the node then starts as a node without a data directory would.

import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../log.ts";
import { writeFileAtomically } from "./atomic-file.ts";

const FILE_NAME = "node.snapshot";
const MAGIC = "goferbroke-snapshot";
const FORMAT = 1;
/** A snapshot is refused past this size, on write and on load: a bounded read at every start. */
export const MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024;
/** More members than this are not remembered: a few hundred addresses already rejoin any cluster. */
export const MAX_REMEMBERED_MEMBERS = 1024;

export interface RememberedMember {
  name: string;
  address: string;
}

export interface SavedEntry {
  group: string;
  key: string;
  /** The ValueType number. */
  type: number;
  /** The value's bytes, base64. */
  value: string;
  /** Wall-clock ms at which the entry expires, when it was written with a TTL. */
  expiresAt?: number;
}

export interface Snapshot {
  /** The generation of the run that wrote it: the next run takes a higher one. */
  generation: number;
  members: RememberedMember[];
  /** This node's own entries; empty unless --restore-entries is on. */
  entries: SavedEntry[];
}

export class DataDir {
  readonly file: string;

  constructor(
    readonly path: string,
    private readonly logger: Logger,
  ) {
    this.file = join(path, FILE_NAME);
  }

  /** The last snapshot written, or null when there is none or it is unreadable (logged). */
  load(): Snapshot | null {
    let size: number;
    try {
      size = statSync(this.file).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      this.logger.warn(`ignored the snapshot ${this.file}: ${(error as Error).message}`);
      return null;
    }
    try {
      if (size > MAX_SNAPSHOT_BYTES + 256) throw new Error(`${size} bytes is larger than the ${MAX_SNAPSHOT_BYTES}-byte limit`);
      return decodeSnapshot(readFileSync(this.file));
    } catch (error) {
      this.logger.warn(`ignored the snapshot ${this.file}: ${(error as Error).message}; starting without it`);
      return null;
    }
  }

  /**
   * Replaces the snapshot atomically. Entries that would take it past MAX_SNAPSHOT_BYTES are left
   * out (with a warning): the generation and the members always fit.
   */
  save(snapshot: Snapshot): void {
    mkdirSync(this.path, { recursive: true });
    let bytes = encodeSnapshot(snapshot);
    if (bytes.byteLength > MAX_SNAPSHOT_BYTES) {
      this.logger.warn(`snapshot of ${bytes.byteLength} bytes is over the ${MAX_SNAPSHOT_BYTES}-byte limit: this node's entries are left out of it`);
      bytes = encodeSnapshot({ ...snapshot, entries: [] });
    }
    writeFileAtomically(this.file, bytes);
  }
}

/** A restart's generation: after the stored one even when the wall clock stepped back. */
export function nextGeneration(stored: number | undefined, now: number): number {
  return stored === undefined ? now : Math.max(now, stored + 1);
}

export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  const members = snapshot.members.slice(0, MAX_REMEMBERED_MEMBERS);
  const body = new TextEncoder().encode(JSON.stringify({ generation: snapshot.generation, members, entries: snapshot.entries }));
  const header = new TextEncoder().encode(`${MAGIC} ${FORMAT} ${body.byteLength} ${sha256(body)}\n`);
  const bytes = new Uint8Array(header.byteLength + body.byteLength);
  bytes.set(header);
  bytes.set(body, header.byteLength);
  return bytes;
}

/** Throws an Error saying what is wrong with the bytes. */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  const newline = bytes.indexOf(0x0a);
  if (newline < 0 || newline > 200) throw new Error("no header line (torn or not a snapshot)");
  const [magic, format, length, digest] = new TextDecoder().decode(bytes.subarray(0, newline)).split(" ");
  if (magic !== MAGIC) throw new Error("not a GoferBroke snapshot");
  if (format !== String(FORMAT)) throw new Error(`snapshot format ${format} is not supported (this build reads ${FORMAT})`);
  const body = bytes.subarray(newline + 1);
  if (String(body.byteLength) !== length) throw new Error(`torn: the header announces ${length} bytes, the file holds ${body.byteLength}`);
  if (sha256(body) !== digest) throw new Error("corrupt: the checksum does not match");
  const parsed = JSON.parse(new TextDecoder().decode(body)) as Partial<Snapshot>;
  if (!Number.isSafeInteger(parsed.generation) || parsed.generation! < 1) throw new Error("no valid generation in the snapshot");
  const members = Array.isArray(parsed.members) ? parsed.members.filter(isMember).slice(0, MAX_REMEMBERED_MEMBERS) : [];
  const entries = Array.isArray(parsed.entries) ? parsed.entries.filter(isEntry) : [];
  return { generation: parsed.generation!, members, entries };
}

function isMember(value: unknown): value is RememberedMember {
  const member = value as RememberedMember;
  return typeof member?.name === "string" && typeof member.address === "string";
}

function isEntry(value: unknown): value is SavedEntry {
  const entry = value as SavedEntry;
  return typeof entry?.group === "string" && typeof entry.key === "string" && typeof entry.type === "number" && typeof entry.value === "string";
}

function sha256(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}
