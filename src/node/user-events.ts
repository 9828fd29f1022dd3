// User events (issue #20 item 1): node.broadcast(name, payload) reaches every live node once.
// The origin sends the event to every live peer; each node that sees it for the first time
// forwards it to FORWARD_FANOUT random live peers, so a send the origin could not make (a full
// write queue, a connection down) is covered by the others. Copies are dropped by name:
// (origin, generation, Lamport time) in a bounded buffer of recent events; per origin, an event
// at or below the newest time evicted from the buffer counts as already seen (an event that
// late is dropped, not delivered twice). Coalesced events: a node that falls behind (events queued
// for delivery, or arriving after a newer one of the same name) delivers only the latest of each
// name. Broadcasts are rate-limited per node by a token bucket.

import { FrameWriter, MAX_USER_EVENT_NAME_BYTES, MAX_USER_EVENT_PAYLOAD_BYTES, type UserEventMessage, readUserEvent, utf8Length, writeUserEvent } from "../codec/index.ts";
import type { Clock } from "../clock.ts";
import type { UserEvent } from "../events.ts";
import { TokenBucket } from "./token-bucket.ts";

/** Random peers a node forwards an event to when it first sees it. */
export const FORWARD_FANOUT = 2;
/** Events remembered for de-duplication. */
export const RECENT_EVENTS = 8192;
/** Coalesced names whose latest time is remembered. */
const COALESCED_NAMES = 4096;
/** Broadcasts one node may make: a burst of BURST, refilled at RATE_PER_SECOND. */
export const BROADCAST_BURST = 1024;
export const BROADCAST_RATE_PER_SECOND = 512;

export interface BroadcastOptions {
  /** A node that falls behind keeps only the latest event of this name. */
  coalesce?: boolean;
}

/** What user events and queries need of the node (node/control-bus.ts wires both). */
export interface BusWiring {
  readonly selfName: string;
  readonly generation: number;
  readonly clock: Clock;
  readonly maxNameBytes: number;
  livePeers(): string[];
  shuffle<T>(items: T[]): T[];
  send(peer: string, frame: Uint8Array): void;
}

export interface UserEventWiring extends BusWiring {
  deliver(event: UserEvent): void;
}

export class UserEvents {
  private ltime = 0;
  private readonly recent = new Set<string>();
  /** Per origin and generation: the newest Lamport time evicted from `recent`. */
  private readonly evictedUpTo = new Map<string, number>();
  private readonly latestOfName = new Map<string, number>();
  private readonly pending = new Map<string, UserEvent>();
  private pendingSeq = 0;
  private draining = false;
  private readonly rate: TokenBucket;
  private readonly writer = new FrameWriter(256);
  readonly counters = { broadcast: 0, received: 0, duplicates: 0, coalesced: 0 };

  constructor(private readonly wiring: UserEventWiring) {
    this.rate = new TokenBucket(wiring.clock, BROADCAST_BURST, BROADCAST_RATE_PER_SECOND);
  }

  /** Broadcasts an event; returns its Lamport time. Throws RangeError for a bad name or payload, or past the rate limit. */
  broadcast(name: string, payload: Uint8Array | string, options: BroadcastOptions = {}): number {
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    checkBusName("user event", name, MAX_USER_EVENT_NAME_BYTES);
    if (bytes.byteLength > MAX_USER_EVENT_PAYLOAD_BYTES) throw new RangeError(`user event ${JSON.stringify(name)}: payload of ${bytes.byteLength} bytes is larger than ${MAX_USER_EVENT_PAYLOAD_BYTES}`);
    this.takeToken();
    const message: UserEventMessage = { origin: this.wiring.selfName, generation: this.wiring.generation, ltime: ++this.ltime, name, payload: bytes, coalesce: options.coalesce === true };
    this.remember(message);
    this.counters.broadcast++;
    const frame = this.encode(message);
    for (const peer of this.wiring.livePeers()) this.wiring.send(peer, frame);
    this.enqueue(message, true);
    return message.ltime;
  }

  /** A USER_EVENT frame from `from`; throws DecodeError when the body is malformed. */
  receive(from: string, body: Uint8Array): void {
    const message = readUserEvent(body, this.wiring.maxNameBytes);
    if (message.ltime > this.ltime) this.ltime = message.ltime;
    if (!this.remember(message)) {
      this.counters.duplicates++;
      return;
    }
    this.counters.received++;
    const peers = this.wiring.livePeers().filter((peer) => peer !== from && peer !== message.origin);
    const forwardTo = this.wiring.shuffle(peers).slice(0, FORWARD_FANOUT);
    if (forwardTo.length > 0) {
      const frame = this.encode(message);
      for (const peer of forwardTo) this.wiring.send(peer, frame);
    }
    this.enqueue(message, false);
  }

  /** Records the event; false when it was seen already (or is older than the buffer remembers). */
  private remember(message: UserEventMessage): boolean {
    const source = `${message.origin}\u0000${message.generation}`;
    if (message.ltime <= (this.evictedUpTo.get(source) ?? 0)) return false;
    const id = `${source}\u0000${message.ltime}`;
    if (this.recent.has(id)) return false;
    this.recent.add(id);
    if (this.recent.size > RECENT_EVENTS) {
      const oldest = this.recent.values().next().value as string;
      this.recent.delete(oldest);
      const cut = oldest.lastIndexOf("\u0000");
      const oldSource = oldest.slice(0, cut);
      this.evictedUpTo.set(oldSource, Math.max(this.evictedUpTo.get(oldSource) ?? 0, Number(oldest.slice(cut + 1))));
      if (this.evictedUpTo.size > RECENT_EVENTS) this.evictedUpTo.delete(this.evictedUpTo.keys().next().value as string);
    }
    return true;
  }

  /** Queues for delivery after the current frame: a coalesced event replaces a queued older one of its name. */
  private enqueue(message: UserEventMessage, local: boolean): void {
    const event: UserEvent = { type: "user-event", node: message.origin, name: message.name, payload: message.payload, ltime: message.ltime, coalesce: message.coalesce, local, time: this.wiring.clock.wallNow() };
    if (message.coalesce) {
      if ((this.latestOfName.get(message.name) ?? 0) >= message.ltime) {
        this.counters.coalesced++;
        return;
      }
      this.latestOfName.delete(message.name);
      this.latestOfName.set(message.name, message.ltime);
      if (this.latestOfName.size > COALESCED_NAMES) this.latestOfName.delete(this.latestOfName.keys().next().value as string);
      if (this.pending.delete(`c:${message.name}`)) this.counters.coalesced++;
      this.pending.set(`c:${message.name}`, event);
    } else {
      this.pending.set(`e:${this.pendingSeq++}`, event);
    }
    if (!this.draining) {
      this.draining = true;
      queueMicrotask(() => this.drain());
    }
  }

  private drain(): void {
    this.draining = false;
    const events = [...this.pending.values()];
    this.pending.clear();
    for (const event of events) this.wiring.deliver(event);
  }

  private takeToken(): void {
    const waitMs = this.rate.take();
    if (waitMs > 0) throw new RangeError(`user event rate limit: at most ${BROADCAST_RATE_PER_SECOND} events/s (bursts of ${BROADCAST_BURST}) from one node; retry in ${waitMs} ms`);
  }

  private encode(message: UserEventMessage): Uint8Array {
    writeUserEvent(this.writer, message);
    return this.writer.finish();
  }
}

/** Throws RangeError unless `name` is a non-empty string of at most maxBytes UTF-8 bytes; `what` names it ("user event", "query"). */
export function checkBusName(what: string, name: string, maxBytes: number): void {
  if (typeof name !== "string" || name.length === 0) throw new RangeError(`${what} name must be a non-empty string`);
  const bytes = utf8Length(name);
  if (bytes > maxBytes) throw new RangeError(`${what} name of ${bytes} bytes is longer than ${maxBytes}`);
}
