// A hostile peer for the soak (soak-hostile.ts): a raw socket to a node's gossip port, plain or
// TLS, that writes whatever bytes it is told to, queueing what the socket does not take at once
// (Bun's write() takes what fits and no more), and can complete the handshake by hand to speak
// the gossip protocol as an insider would. Every peer made here is registered; closeAllPeers()
// ends them.

import type { Socket } from "bun";
import { randomBytes } from "node:crypto";
import {
  AuthScheme,
  computeProof,
  decodeWelcome,
  encodeHelloIntroduce,
  encodeProve,
  FrameDecoder,
  FrameWriter,
  type Introduction,
  MessageType,
  PROTOCOL_VERSION,
} from "../../src/codec/index.ts";

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface PeerOptions {
  port: number;
  /** Speak TLS with these files (the node's mTLS mode). */
  tls?: TlsFiles;
}

const open = new Set<HostilePeer>();

export class HostilePeer {
  closed = false;
  /** Frames received, by type; kept only while `record` is on (a flood's replies would pile up). */
  readonly received: { type: number; body: Uint8Array }[] = [];
  record = true;
  private readonly queue: Uint8Array[] = [];
  private readonly decoder = new FrameDecoder({ maxFrameBytes: 16 * 1024 * 1024 });
  private socket: Socket<undefined> | null = null;

  static async connect(options: PeerOptions): Promise<HostilePeer> {
    const peer = new HostilePeer();
    const tls = options.tls && { ca: Bun.file(options.tls.ca), cert: Bun.file(options.tls.cert), key: Bun.file(options.tls.key), rejectUnauthorized: false };
    peer.socket = await Bun.connect<undefined>({
      hostname: "127.0.0.1",
      port: options.port,
      ...(tls ? { tls } : {}),
      socket: {
        binaryType: "uint8array",
        data: (_socket, chunk) => peer.onData(chunk),
        drain: () => peer.flush(),
        close: () => void (peer.closed = true),
        error: () => void (peer.closed = true),
        connectError: () => void (peer.closed = true),
      },
    });
    open.add(peer);
    return peer;
  }

  /** Bytes queued and not yet taken by the socket. */
  get queuedBytes(): number {
    let total = 0;
    for (const chunk of this.queue) total += chunk.length;
    return total;
  }

  write(bytes: Uint8Array): void {
    if (this.closed) return;
    this.queue.push(bytes);
    if (this.queue.length === 1) this.flush();
  }

  /** Waits (bounded) for a frame of `type`; null when the connection closed or time ran out. */
  async nextFrame(type: number, timeoutMs = 5_000): Promise<Uint8Array | null> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const index = this.received.findIndex((frame) => frame.type === type);
      if (index >= 0) return this.received.splice(index, 1)[0]!.body;
      if (this.closed) return null;
      await Bun.sleep(5);
    }
    return null;
  }

  /** Stops reading: the node's replies pile up in its write queue for this peer. */
  pauseReading(): void {
    this.record = false;
    this.socket?.pause();
  }

  close(): void {
    open.delete(this);
    this.socket?.terminate();
    this.closed = true;
  }

  private flush(): void {
    while (this.queue.length > 0 && this.socket && !this.closed) {
      const head = this.queue[0]!;
      const written = this.socket.write(head);
      if (written < head.length) {
        this.queue[0] = head.subarray(Math.max(0, written));
        return;
      }
      this.queue.shift();
    }
  }

  private onData(chunk: Uint8Array): void {
    if (!this.record) return;
    try {
      this.decoder.push(chunk, (frame) => this.received.push({ type: frame.type, body: frame.body.slice() }));
    } catch {
      this.record = false; // not frames (a TLS alert, say): nothing more to read
    }
  }
}

export function closeAllPeers(): void {
  for (const peer of [...open]) peer.close();
}

/** A HELLO introduction; override what the attack changes. */
export function introduction(name: string, clusterName: string, overrides: Partial<Introduction> = {}): Introduction {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clusterName,
    nodeName: name,
    generation: Date.now(),
    advertisedAddress: "127.0.0.1:1",
    authScheme: AuthScheme.None,
    nonce: new Uint8Array(randomBytes(16)),
    ...overrides,
  };
}

/**
 * Runs the dialer's side of the handshake by hand (with the secret's proof when given); true when
 * the node welcomed it. Returns the HELLO frames it sent too, for replays.
 */
export async function handshake(peer: HostilePeer, intro: Introduction, secret?: string): Promise<{ welcomed: boolean; sent: Uint8Array[] }> {
  const hello = encodeHelloIntroduce(secret === undefined ? intro : { ...intro, authScheme: AuthScheme.HmacSha256 });
  peer.write(hello);
  const body = await peer.nextFrame(MessageType.Welcome);
  if (!body) return { welcomed: false, sent: [hello] };
  const welcome = decodeWelcome(body);
  if (welcome.step !== "introduce") return { welcomed: false, sent: [hello] };
  const transcript = { dialerNonce: intro.nonce, listenerNonce: welcome.introduction.nonce, dialerName: intro.nodeName, listenerName: welcome.introduction.nodeName };
  const prove = encodeProve(MessageType.Hello, secret === undefined ? new Uint8Array(0) : computeProof(secret, "hello", transcript));
  peer.write(prove);
  if (secret !== undefined && !(await peer.nextFrame(MessageType.Welcome))) return { welcomed: false, sent: [hello, prove] };
  return { welcomed: !peer.closed, sent: [hello, prove] };
}

/** One frame written with the real codec. */
export function frame(type: number, write: (writer: FrameWriter) => void, correlationId = 0): Uint8Array {
  const writer = new FrameWriter(4096, 16 * 1024 * 1024);
  writer.begin(type, correlationId);
  write(writer);
  writer.end();
  return writer.finish();
}

/** A frame header announcing `length` body bytes (any length, 4 GiB included) and no body. */
export function frameHeader(type: number, length: number): Uint8Array {
  const header = new Uint8Array(12);
  const view = new DataView(header.buffer);
  view.setUint32(0, length >>> 0);
  view.setUint8(4, PROTOCOL_VERSION);
  view.setUint8(5, type);
  return header;
}
