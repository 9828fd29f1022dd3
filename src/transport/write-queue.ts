// A per-socket outgoing queue. Bun's socket.write() does not buffer: it takes what the kernel
// accepts right now (possibly nothing) and returns the count, and `drain` fires when more fits.
// This queue keeps what was not taken, writes everything queued in one tick as one coalesced
// write (each write() is one syscall), and refuses new data past a high-water mark so a peer that
// stops reading cannot make our memory grow.

/** Where the bytes go: socket.write(), or a fake in tests. Returns bytes taken, -1 if closed. */
export interface ByteSink {
  write(bytes: Uint8Array): number;
}

export type EnqueueResult = "queued" | "overloaded";

/** Small units are copied into one buffer up to this size; a larger unit is written as it is. */
const MAX_COALESCED_BYTES = 256 * 1024;

export class WriteQueue {
  /** Whole units (one or more frames each) not yet handed to the sink, oldest first. */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** The rest of the batch the sink took only part of; written first when `drain` fires. */
  private unwritten: Uint8Array | null = null;
  private flushScheduled = false;
  private closed = false;
  private emptyWaiter: (() => void) | null = null;
  /** Set once the connection encrypts: every batch passes through it on its way to the sink. */
  private sealer: ((batch: Uint8Array) => Uint8Array) | null = null;
  /** Units queued before sealing began (the handshake's last frames): they go out as they are. */
  private plainUnits = 0;
  /**
   * Units that belong to this connection alone (handshake and ERROR frames, see enqueueOwn):
   * takePending() leaves them, so a duplicate connection's last handshake frame is never moved
   * onto the connection that replaces it, where the peer would read it as a protocol violation.
   */
  private readonly ownUnits = new Set<Uint8Array>();

  constructor(
    private readonly sink: ByteSink,
    readonly highWaterBytes: number,
    /** Told about every successful write, for byte counters and idle tracking. */
    private readonly onWritten: (bytes: number) => void,
  ) {}

  /** Bytes accepted but not yet taken by the sink. */
  get queuedBytes(): number {
    return this.pendingBytes + (this.unwritten?.length ?? 0);
  }

  /**
   * Queues a unit, to be written on the next flush. Refused ("overloaded") when it would take the
   * queue past the high-water mark; an empty queue accepts any unit, or one larger than the mark
   * could never be sent. `force` skips the check, for handshake and error frames, and for
   * frames moved over from another queue that already counted them.
   */
  enqueue(unit: Uint8Array, force = false): EnqueueResult {
    if (this.closed) return "overloaded";
    const queued = this.queuedBytes;
    if (!force && queued > 0 && queued + unit.length > this.highWaterBytes) return "overloaded";
    this.pending.push(unit);
    this.pendingBytes += unit.length;
    this.scheduleFlush();
    return "queued";
  }

  /** Queues a frame of this connection's own (handshake, ERROR): past the mark, and never moved elsewhere. */
  enqueueOwn(unit: Uint8Array): EnqueueResult {
    const result = this.enqueue(unit, true);
    if (result === "queued") this.ownUnits.add(unit);
    return result;
  }

  /**
   * From now on, batches are sealed as they are handed to the sink, in the order they go out;
   * what is queued already is not. Units stay plain while queued, so takePending() can still
   * move them to another connection, which seals them under its own keys.
   */
  sealWith(sealer: (batch: Uint8Array) => Uint8Array): void {
    this.sealer = sealer;
    this.plainUnits = this.pending.length;
  }

  /**
   * Removes and returns the units not yet handed to the sink, e.g. to move them to another
   * socket; the connection's own units (enqueueOwn) stay and still go out here, in order.
   */
  takePending(): Uint8Array[] {
    if (this.ownUnits.size === 0) {
      const taken = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      this.plainUnits = 0;
      return taken;
    }
    const kept: Uint8Array[] = [];
    const taken: Uint8Array[] = [];
    let keptPlain = 0;
    this.pending.forEach((unit, index) => {
      if (!this.ownUnits.has(unit)) return void taken.push(unit);
      kept.push(unit);
      if (index < this.plainUnits) keptPlain++;
    });
    this.pending = kept;
    this.pendingBytes = kept.reduce((bytes, unit) => bytes + unit.length, 0);
    this.plainUnits = keptPlain;
    return taken;
  }

  /** Calls back once everything queued so far has been taken by the sink (at once if it has). */
  whenEmpty(callback: () => void): void {
    if (this.queuedBytes === 0) callback();
    else this.emptyWaiter = callback;
  }

  /** Drops everything; later enqueues are refused. For a socket that has closed. */
  close(): void {
    this.closed = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.unwritten = null;
    this.emptyWaiter = null;
    this.ownUnits.clear();
  }

  /** Writes until the sink stops taking bytes. Call it from the socket's `drain` handler. */
  flush(): void {
    this.flushScheduled = false;
    while (!this.closed) {
      const batch = this.unwritten ?? this.nextBatch();
      if (!batch) {
        this.notifyEmpty();
        return;
      }
      const written = this.sink.write(batch);
      if (written < 0) return; // the socket closed; its close handler cleans up
      if (written > 0) this.onWritten(written);
      if (written < batch.length) {
        this.unwritten = batch.subarray(written);
        return; // the kernel buffer is full: `drain` calls flush() again
      }
      this.unwritten = null;
    }
  }

  private scheduleFlush(): void {
    // While a partial write waits for `drain`, writing again would only return 0.
    if (this.flushScheduled || this.unwritten) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Takes pending units into one buffer of at most MAX_COALESCED_BYTES (or one larger unit). */
  private nextBatch(): Uint8Array | null {
    const first = this.pending[0];
    if (!first) return null;
    // Plain units and sealed ones never share a batch.
    const plain = this.plainUnits > 0;
    const available = plain ? this.plainUnits : this.pending.length;
    let count = 1;
    let size = first.length;
    for (; count < available; count++) {
      const next = this.pending[count]!;
      if (size + next.length > MAX_COALESCED_BYTES) break;
      size += next.length;
    }
    const units = this.pending.splice(0, count);
    if (this.ownUnits.size > 0) for (const unit of units) this.ownUnits.delete(unit);
    this.pendingBytes -= size;
    if (plain) this.plainUnits -= count;
    const batch = units.length === 1 ? first : joinUnits(units, size);
    return this.sealer && !plain ? this.sealer(batch) : batch;
  }

  private notifyEmpty(): void {
    const waiter = this.emptyWaiter;
    this.emptyWaiter = null;
    waiter?.();
  }
}

function joinUnits(units: readonly Uint8Array[], size: number): Uint8Array {
  const batch = new Uint8Array(size);
  let offset = 0;
  for (const unit of units) {
    batch.set(unit, offset);
    offset += unit.length;
  }
  return batch;
}
