// The TCP transport's peer table: one PeerLink per node name that has an established connection
// or one on the way. Frames for a name whose connection is not ready wait in the link's outbox,
// bounded like a socket queue. When two connections to the same node complete (both sides
// dialled at once), both ends keep the one dialled by the smaller node name and close the other;
// frames still queued on the loser move to the winner.

import { compareBytes } from "../codec/bytes.ts";
import { HEADER_BYTES } from "../codec/index.ts";
import type { Clock } from "../clock.ts";
import type { Connection } from "./tcp-connection.ts";
import type { TransportLogger } from "./tcp-options.ts";
import type { TcpCounters } from "./tcp-stats.ts";
import type { SendResult } from "./transport.ts";

/** At most one overload warning per peer per this interval. */
const OVERLOAD_WARNING_INTERVAL_MS = 10_000;

export interface PeerLink {
  readonly name: string;
  /** The established connection frames go to; null while one is on the way. */
  connection: Connection | null;
  generation: number;
  /** Frames waiting for a connection, oldest first. */
  outbox: Uint8Array[];
  outboxBytes: number;
  /** host.onPeerUp was called and onPeerDown not yet. */
  up: boolean;
}

export interface PeerTableHooks {
  peerUp(name: string, address: string): void;
  peerDown(name: string): void;
  overloaded(peer: string, queuedBytes: number): void;
  /** Whether a connection to this name is on the way (a dial, or a handshake in progress). */
  connectionPending(name: string): boolean;
}

export class PeerTable {
  private readonly links = new Map<string, PeerLink>();
  private readonly lastOverloadWarning = new Map<string, number>();

  constructor(
    private readonly localName: string,
    private readonly highWaterBytes: number,
    private readonly clock: Clock,
    private readonly log: TransportLogger,
    private readonly counters: TcpCounters,
    private readonly hooks: PeerTableHooks,
  ) {}

  get(name: string): PeerLink | undefined {
    return this.links.get(name);
  }

  values(): IterableIterator<PeerLink> {
    return this.links.values();
  }

  /** Bytes queued per peer, on its connection or waiting for one. */
  queueDepths(): Record<string, number> {
    const depths: Record<string, number> = {};
    for (const link of this.links.values()) depths[link.name] = link.outboxBytes + (link.connection?.queue.queuedBytes ?? 0);
    return depths;
  }

  add(name: string): PeerLink {
    const link: PeerLink = { name, connection: null, generation: 0, outbox: [], outboxBytes: 0, up: false };
    this.links.set(name, link);
    return link;
  }

  /** force: frames that already passed the mark once (an outbox moving onto its new connection). */
  enqueue(link: PeerLink, frames: Uint8Array, force = false): SendResult {
    if (link.connection) {
      const result = link.connection.queue.enqueue(frames, force);
      if (result === "queued") this.counters.framesOut += countFrames(frames);
      else this.overloaded(link.name, link.connection.queue.queuedBytes);
      return result;
    }
    const queued = link.outboxBytes;
    if (!force && queued > 0 && queued + frames.length > this.highWaterBytes) {
      this.overloaded(link.name, queued);
      return "overloaded";
    }
    link.outbox.push(frames);
    link.outboxBytes += frames.length;
    return "queued";
  }

  /** Makes an established connection the one its peer's frames go to (or retires it as a duplicate). */
  attach(connection: Connection): void {
    const peer = connection.peer!;
    const link = this.links.get(peer.nodeName) ?? this.add(peer.nodeName);
    const current = link.connection;
    if (current && peer.generation === link.generation) {
      const winner = this.preferred(current, connection);
      const loser = winner === current ? connection : current;
      link.connection = winner;
      this.log.debug(`closing duplicate connection to ${peer.nodeName} (keeping the one dialled by ${winner.dialerName(this.localName)})`);
      retire(loser, winner);
      return;
    }
    link.connection = connection;
    if (current) retire(current, connection);
    if (link.up && link.generation !== peer.generation) {
      // The node restarted: what the host knew was its previous incarnation.
      this.log.info(`${peer.nodeName} restarted (generation ${link.generation} → ${peer.generation})`);
      link.up = false;
      this.hooks.peerDown(peer.nodeName);
    }
    link.generation = peer.generation;
    const waiting = link.outbox;
    link.outbox = [];
    link.outboxBytes = 0;
    for (const unit of waiting) this.enqueue(link, unit, true);
    this.log.info(`connected to ${peer.nodeName} at ${peer.advertisedAddress} (${connection.direction}, via ${connection.remote})`);
    if (!link.up) {
      link.up = true;
      this.hooks.peerUp(peer.nodeName, peer.advertisedAddress);
    }
  }

  /** An established connection closed; `unsent`: what its queue had not written yet. */
  detach(connection: Connection, unsent: Uint8Array[]): void {
    const link = this.links.get(connection.peer!.nodeName);
    if (!link || link.connection !== connection) return; // a replaced duplicate: the peer is still up
    link.connection = null;
    for (const unit of unsent) this.enqueue(link, unit, true);
    this.settle(link.name);
  }

  /** Forgets a peer with no connection and none on the way, telling the host it is down. */
  settle(name: string): void {
    const link = this.links.get(name);
    if (!link || link.connection || this.hooks.connectionPending(name)) return;
    this.links.delete(name);
    if (link.outboxBytes > 0) this.log.debug(`dropped ${link.outboxBytes} queued bytes for ${name}: no connection`);
    if (link.up) this.hooks.peerDown(name);
  }

  private overloaded(peer: string, queuedBytes: number): void {
    this.counters.overloads++;
    const now = this.clock.now();
    const last = this.lastOverloadWarning.get(peer);
    if (last !== undefined && now - last < OVERLOAD_WARNING_INTERVAL_MS) return;
    this.lastOverloadWarning.set(peer, now);
    this.log.warn(`write queue to ${peer} is full (${queuedBytes} bytes queued, high-water mark ${this.highWaterBytes}): frames refused`, {
      peer,
      queuedBytes,
      overloads: this.counters.overloads,
    });
    this.hooks.overloaded(peer, queuedBytes);
  }

  /** Both ends rank duplicates alike: dialled by the smaller name first, then by the smaller dialer nonce. */
  private preferred(a: Connection, b: Connection): Connection {
    const dialerA = a.dialerName(this.localName)!;
    const dialerB = b.dialerName(this.localName)!;
    if (dialerA !== dialerB) return dialerA < dialerB ? a : b;
    return compareBytes(a.dialerNonce()!, b.dialerNonce()!) <= 0 ? a : b;
  }
}

/** Closes a connection that another replaces, moving its not-yet-written frames over. */
function retire(loser: Connection, winner: Connection): void {
  for (const unit of loser.queue.takePending()) winner.queue.enqueue(unit, true);
  loser.closeGracefully("replaced by another connection to the same node");
}

/** Frames in a buffer of whole frames, by walking their length fields. */
function countFrames(frames: Uint8Array): number {
  const view = new DataView(frames.buffer, frames.byteOffset, frames.byteLength);
  let count = 0;
  for (let at = 0; at + HEADER_BYTES <= frames.length; at += HEADER_BYTES + view.getUint32(at)) count++;
  return count;
}

