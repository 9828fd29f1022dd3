// Encoded parts of GET /v1/state, one per node, kept while the node's entries stay as they were.
// A dashboard or a script that polls the dump of a large cluster would otherwise re-encode every
// unchanged entry on every poll: 20,000 entries dumped in a loop made about 10 MB of garbage per
// dump and took the node from 98 to 176 MiB of RSS (issue #16's soak), since the allocator keeps
// what it freed. With the parts of unchanged nodes kept, a dump encodes only what changed.
//
// A part is valid while its node's stamp (generation, max version and entry counts: any change
// to its entries moves one of them) is the same and none of its entries has reached its expiry.
// Bounded in bytes, least recently used first out; small parts are not kept, as they cost little
// to encode.

/** The most bytes kept, all parts together. */
export const DUMP_CACHE_BYTES = 16 * 1024 * 1024;
/** Parts smaller than this are encoded on every dump. */
export const MIN_CACHED_PART_BYTES = 16 * 1024;

interface CachedPart {
  readonly stamp: string;
  /** Wall-clock ms at which the first of its entries expires (Infinity when none has a TTL). */
  readonly validUntil: number;
  readonly bytes: Uint8Array;
}

export class DumpCache {
  /** In order of last use: the first is the least recently used. */
  private readonly parts = new Map<string, CachedPart>();
  private heldBytes = 0;

  constructor(
    private readonly maxBytes = DUMP_CACHE_BYTES,
    private readonly wallNow: () => number = Date.now,
  ) {}

  /** Bytes held, for tests and metrics. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** The node's encoded part, when one is kept for this stamp and still valid. */
  get(node: string, stamp: string): Uint8Array | undefined {
    const part = this.parts.get(node);
    if (part === undefined) return undefined;
    if (part.stamp !== stamp || this.wallNow() >= part.validUntil) {
      this.drop(node, part);
      return undefined;
    }
    this.parts.delete(node);
    this.parts.set(node, part); // now the most recently used
    return part.bytes;
  }

  /** Keeps a node's encoded part (unless it is small, or over a quarter of the bound). */
  put(node: string, stamp: string, validUntil: number, bytes: Uint8Array): void {
    const old = this.parts.get(node);
    if (old !== undefined) this.drop(node, old);
    if (bytes.length < MIN_CACHED_PART_BYTES || bytes.length > this.maxBytes / 4 || this.wallNow() >= validUntil) return;
    for (const [name, part] of this.parts) {
      if (this.heldBytes + bytes.length <= this.maxBytes) break;
      this.drop(name, part);
    }
    this.parts.set(node, { stamp, validUntil, bytes });
    this.heldBytes += bytes.length;
  }

  private drop(node: string, part: CachedPart): void {
    this.parts.delete(node);
    this.heldBytes -= part.bytes.length;
  }
}
