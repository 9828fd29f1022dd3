// One TCP connection to a peer: its socket, frame decoder and write queue, its handshake, and its
// own timers (Bun's socket.timeout() fires seconds late and does not close the socket). The
// protocol decisions live in tcp.ts and admission.ts; this class only carries them out.
//
// Memory per connection is bounded: the decoder holds at most one partial frame (at most
// HANDSHAKE_FRAME_LIMIT + 12 bytes before the handshake completes, maxFrameBytes + 12 after), and
// the write queue refuses new frames past its high-water mark. Time is bounded too: the handshake
// (TLS included) must complete within handshakeTimeoutMs of the TCP connection, and a frame
// must complete within frameTimeoutMs of its first byte, however the bytes trickle in.

import type { Socket } from "bun";
import { FrameDecoder, HANDSHAKE_FRAME_LIMIT, type Introduction } from "../codec/index.ts";
import type { Clock, Timer } from "../clock.ts";
import type { Handshake } from "./admission.ts";
import type { Dial, DialAttempt } from "./tcp-dial.ts";
import { formatAddress, type ResolvedTcpOptions } from "./tcp-options.ts";
import type { SealedStream } from "./sealed-frames.ts";
import { WriteQueue } from "./write-queue.ts";

/** What a socket carries in socket.data: its attempt while dialling, its Connection once open. */
export interface SocketSlot {
  connection: Connection | null;
  /** Set on dialled sockets only. */
  attempt: DialAttempt | null;
}

export type TransportSocket = Socket<SocketSlot | undefined>;

export type ConnectionState = "handshaking" | "established" | "closing" | "closed";

/** The transport options a connection uses, and whether its socket runs TLS. */
export type ConnectionSettings = Pick<
  ResolvedTcpOptions,
  "clock" | "maxFrameBytes" | "writeQueueHighWaterBytes" | "handshakeTimeoutMs" | "frameTimeoutMs" | "idleTimeoutMs" | "closeTimeoutMs" | "keepAliveDelayMs"
> & {
  /** TLS must complete before anything is written. */
  tls: boolean;
};

export interface ConnectionHooks {
  onHandshakeTimeout(connection: Connection): void;
  onFrameTimeout(connection: Connection): void;
  onIdle(connection: Connection): void;
  onBytesWritten(bytes: number): void;
}

export class Connection {
  private static nextId = 1;
  readonly id = Connection.nextId++;
  state: ConnectionState = "handshaking";
  /** Set when the handshake completed; stays set through closing. */
  handshakeDone = false;
  /** True from the handshake's completion until a refusal: frames from it go to the host. */
  deliversFrames = false;
  /** False until TLS completed (always true without TLS): nothing can be written before. */
  secured: boolean;
  /** Inbound: the source address the accept gate counts this pending handshake under, until it ends. */
  pendingSource: string | null = null;
  /** Set once a keyring handshake completed: everything after it is sealed both ways. */
  sealed: SealedStream | null = null;
  /** Why we are closing it, for the dial's failure log. */
  closeReason = "";
  /** "ip:port" of the other end, as our socket sees it. */
  readonly remote: string;
  readonly decoder: FrameDecoder;
  readonly queue: WriteQueue;
  /** Settles when the socket has closed. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private lastActivity: number;
  private handshakeTimer: Timer | null;
  private idleTimer: Timer | null = null;
  /** Runs while the decoder holds part of a frame. */
  private frameTimer: Timer | null = null;
  private closeTimer: Timer | null = null;

  constructor(
    readonly socket: TransportSocket,
    readonly direction: "inbound" | "outbound",
    /** The dial this connection came from; null for accepted connections. */
    readonly dial: Dial | null,
    readonly handshake: Handshake,
    private readonly settings: ConnectionSettings,
    private readonly hooks: ConnectionHooks,
  ) {
    this.secured = !settings.tls;
    this.remote = formatAddress(socket.remoteAddress, socket.remotePort);
    this.decoder = new FrameDecoder({ maxFrameBytes: Math.min(HANDSHAKE_FRAME_LIMIT, settings.maxFrameBytes) });
    this.queue = new WriteQueue({ write: (bytes) => socket.write(bytes) }, settings.writeQueueHighWaterBytes, (bytes) => this.onWritten(bytes));
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.lastActivity = settings.clock.now();
    this.handshakeTimer = settings.clock.setTimer(settings.handshakeTimeoutMs, () => hooks.onHandshakeTimeout(this));
    if (settings.idleTimeoutMs > 0) this.armIdleTimer(settings.idleTimeoutMs);
    // We coalesce writes ourselves; Nagle's delay would only add latency to small gossip frames.
    socket.setNoDelay(true);
    if (settings.keepAliveDelayMs > 0) socket.setKeepAlive(true, settings.keepAliveDelayMs);
  }

  /** The peer's introduction, once the handshake accepted it. */
  get peer(): Introduction | null {
    return this.handshake.peer;
  }

  /** Our nonce: in HELLO when we dialled, in WELCOME when we accepted. */
  get ourNonce(): Uint8Array {
    return this.handshake.ourNonce;
  }

  /** Node name of the side that dialled this connection (once the peer introduced itself). */
  dialerName(ourName: string): string | undefined {
    return this.direction === "outbound" ? ourName : this.peer?.nodeName;
  }

  /** Nonce of the side that dialled: both ends know it, so both can rank duplicate connections alike. */
  dialerNonce(): Uint8Array | undefined {
    return this.direction === "outbound" ? this.ourNonce : this.peer?.nonce;
  }

  /** Records incoming traffic for the idle timeout. */
  touch(): void {
    this.lastActivity = this.settings.clock.now();
  }

  /**
   * After a chunk went through the decoder: a frame left incomplete must complete within
   * frameTimeoutMs of its first byte. `framesCompleted` > 0 means the incomplete one (if any)
   * began in this chunk, so its deadline starts now; otherwise it keeps the one it had.
   */
  afterChunk(framesCompleted: number): void {
    if (this.state === "closing" || this.state === "closed") return;
    if (this.decoder.bufferedBytes === 0) {
      this.frameTimer?.cancel();
      this.frameTimer = null;
    } else if (framesCompleted > 0 || !this.frameTimer) {
      this.frameTimer?.cancel();
      this.frameTimer = this.settings.clock.setTimer(this.settings.frameTimeoutMs, () => this.hooks.onFrameTimeout(this));
    }
  }

  markEstablished(): void {
    this.state = "established";
    this.handshakeDone = true;
    this.deliversFrames = true;
    this.decoder.maxFrameBytes = this.settings.maxFrameBytes;
    this.handshakeTimer?.cancel();
    this.handshakeTimer = null;
  }

  /**
   * Writes what is queued, then sends FIN and keeps reading until the peer closes too, so frames
   * it had in flight still arrive (a replaced duplicate connection loses nothing). Bun's end()
   * would close at once and drop them. A peer that stops reading or never closes is cut off
   * after closeTimeoutMs.
   */
  closeGracefully(reason: string): void {
    if (this.state === "closing" || this.state === "closed") return;
    this.state = "closing";
    this.closeReason = reason;
    this.cancelLifetimeTimers();
    this.closeTimer = this.settings.clock.setTimer(this.settings.closeTimeoutMs, () => this.socket.terminate());
    this.queue.whenEmpty(() => this.socket.shutdown());
  }

  /** Called from the socket's close handler. */
  markClosed(): void {
    this.state = "closed";
    this.cancelLifetimeTimers();
    this.closeTimer?.cancel();
    this.closeTimer = null;
    this.queue.close();
    this.resolveClosed();
  }

  private onWritten(bytes: number): void {
    this.lastActivity = this.settings.clock.now();
    this.hooks.onBytesWritten(bytes);
  }

  private armIdleTimer(delayMs: number): void {
    this.idleTimer = this.settings.clock.setTimer(delayMs, () => {
      const quietFor = this.settings.clock.now() - this.lastActivity;
      const remaining = this.settings.idleTimeoutMs - quietFor;
      if (remaining > 0) this.armIdleTimer(remaining);
      else this.hooks.onIdle(this);
    });
  }

  private cancelLifetimeTimers(): void {
    this.handshakeTimer?.cancel();
    this.handshakeTimer = null;
    this.idleTimer?.cancel();
    this.idleTimer = null;
    this.frameTimer?.cancel();
    this.frameTimer = null;
  }
}
