// The production Transport: TCP through Bun.listen / Bun.connect, optionally TLS or mutual TLS,
// with a handshake (handshake.ts) before any state flows, one connection per peer pair, a
// bounded write queue per socket, and reconnects with backoff.
//
// Peers are known by node name. A PeerLink exists for every name that has an established
// connection or one on the way (a lazy dial, a handshake in progress); frames sent to a name
// whose connection is not ready yet wait in the link's outbox, bounded like a socket queue.
// When two connections to the same node complete (both sides dialled at once), both ends keep
// the one dialled by the smaller node name and close the other; frames still queued on the loser
// move to the winner.

import type { SocketHandler, TCPSocketListener } from "bun";
import { DecodeError, HEADER_BYTES, MessageType, PROTOCOL_VERSION, messageTypeName, type Frame } from "../codec/index.ts";
import type { Clock } from "../clock.ts";
import {
  AuthScheme,
  ErrorCode,
  checkIntroduction,
  checkProof,
  decodeError,
  decodeHello,
  decodeWelcome,
  encodeError,
  encodeHelloIntroduce,
  encodeHelloProve,
  encodeWelcome,
  errorCodeName,
  ownProof,
  type ErrorBody,
  type Introduction,
  type LocalIdentity,
  type ProofTranscript,
  type Refusal,
  type Welcome,
} from "./handshake.ts";
import { Connection, type ConnectionHooks, type ConnectionSettings, type SocketSlot, type TransportSocket } from "./tcp-connection.ts";
import { backoffDelay, newDial, type Dial, type DialAttempt } from "./tcp-dial.ts";
import {
  formatAddress,
  parseAddress,
  resolveTcpOptions,
  type ResolvedTcpOptions,
  type TcpTransportOptions,
  type TransportLogger,
} from "./tcp-options.ts";
import { newCounters, type TcpTransportStats } from "./tcp-stats.ts";
import { certificateNames, certificateProblem, loadTls, type TlsSettings } from "./tcp-tls.ts";
import type { SendResult, Transport, TransportHost } from "./transport.ts";

export type { TcpTransportOptions, TransportLogger, TlsFiles } from "./tcp-options.ts";
export type { TcpTransportStats } from "./tcp-stats.ts";

/** At most one overload warning per peer per this interval. */
const OVERLOAD_WARNING_INTERVAL_MS = 10_000;

interface PeerLink {
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

export class TcpTransport implements Transport {
  private readonly options: ResolvedTcpOptions;
  private readonly log: TransportLogger;
  private readonly clock: Clock;
  private readonly local: LocalIdentity;
  private readonly connectionSettings: ConnectionSettings;
  private readonly connectionHooks: ConnectionHooks;
  private readonly socketHandlers: SocketHandler<SocketSlot | undefined>;
  private host: TransportHost | null = null;
  private listener: TCPSocketListener<SocketSlot | undefined> | null = null;
  private tls: TlsSettings | null = null;
  private advertised = "";
  private stopping = false;
  private readonly connections = new Set<Connection>();
  private readonly peers = new Map<string, PeerLink>();
  /** Outgoing dials by address. */
  private readonly dials = new Map<string, Dial>();
  /** Advertised addresses learned in handshakes: a lazy dial falls back on them. */
  private readonly learnedAddresses = new Map<string, string>();
  private readonly lastOverloadWarning = new Map<string, number>();
  private readonly counters = newCounters();
  private seenAt: string | undefined;
  /** While stop() waits for the dials that frames wait on: called whenever one settles. */
  private onDialSettled: (() => void) | null = null;

  constructor(options: TcpTransportOptions) {
    this.options = resolveTcpOptions(options);
    this.log = options.logger;
    this.clock = options.clock;
    this.local = { clusterName: options.clusterName, nodeName: options.nodeName, secret: options.secret };
    this.connectionSettings = {
      clock: options.clock,
      maxFrameBytes: this.options.maxFrameBytes,
      highWaterBytes: this.options.writeQueueHighWaterBytes,
      handshakeTimeoutMs: this.options.handshakeTimeoutMs,
      idleTimeoutMs: this.options.idleTimeoutMs,
      closeTimeoutMs: this.options.closeTimeoutMs,
      keepAliveDelayMs: this.options.keepAliveDelayMs,
    };
    this.connectionHooks = {
      onHandshakeTimeout: (connection) =>
        this.refuse(connection, { code: ErrorCode.HandshakeTimeout, message: `no handshake within ${this.options.handshakeTimeoutMs} ms` }),
      onIdle: (connection) => {
        this.log.debug(`closing idle connection to ${this.describe(connection)}: no traffic for ${this.options.idleTimeoutMs} ms`);
        connection.closeGracefully("idle");
      },
      onBytesWritten: (bytes) => (this.counters.bytesOut += bytes),
    };
    this.socketHandlers = {
      binaryType: "uint8array",
      open: (socket) => this.onOpen(socket),
      data: (socket, chunk) => this.onData(socket, chunk),
      drain: (socket) => socket.data?.connection?.queue.flush(),
      close: (socket, error) => this.onClose(socket, error),
      // A failed TLS session, or one of our handlers threw (a bug): the socket closes next.
      error: (socket, error) => this.log.warn(`socket error on ${socket.data?.connection?.remote ?? "a connection"}: ${error.message}`),
      // Bun.connect's rejected promise reports connect failures (see attemptDial).
      connectError: () => {},
    };
  }

  /** The bound port (after start). */
  get port(): number {
    return this.requireListener().port;
  }

  /** The bound host (after start). */
  get hostname(): string {
    return this.requireListener().hostname;
  }

  /** "host:port" this node announces in handshakes. */
  get advertisedAddress(): string {
    return this.advertised;
  }

  /** Where the last peer that welcomed us saw us: our address from the outside (NAT). */
  get addressSeenByPeers(): string | undefined {
    return this.seenAt;
  }

  get stats(): TcpTransportStats {
    const queueDepthBytes: Record<string, number> = {};
    for (const link of this.peers.values()) {
      queueDepthBytes[link.name] = link.outboxBytes + (link.connection?.queue.queuedBytes ?? 0);
    }
    return {
      ...this.counters,
      refusedByReason: { ...this.counters.refusedByReason },
      openConnections: this.connections.size,
      queueDepthBytes,
    };
  }

  /** Names of the peers with an established connection. */
  connectedPeers(): string[] {
    const names: string[] = [];
    for (const link of this.peers.values()) if (link.connection) names.push(link.name);
    return names;
  }

  async start(host: TransportHost): Promise<void> {
    if (this.host) throw new Error("TcpTransport.start() called twice");
    this.host = host;
    if (this.options.tls) this.tls = await loadTls(this.options.tls);
    const listener = Bun.listen<SocketSlot | undefined>({
      hostname: this.options.listen.host,
      port: this.options.listen.port,
      data: undefined,
      socket: this.socketHandlers,
      ...(this.tls ? { tls: this.tls.server } : {}),
    });
    this.listener = listener;
    const bound = formatAddress(listener.hostname, listener.port);
    this.advertised = this.options.advertiseAddress ?? bound;
    this.log.info(`listening on ${bound}, advertised as ${this.advertised}`, { tls: this.tls !== null, secret: this.local.secret !== undefined });
    const advertisedHost = parseAddress(this.advertised).host;
    if (advertisedHost === "0.0.0.0" || advertisedHost === "::") {
      this.log.warn(`advertised address ${this.advertised} is a wildcard that peers cannot dial: set advertiseAddress`);
    }
    for (const seed of this.options.seeds) {
      if (seed === this.advertised || seed === bound) continue;
      const dial = this.dials.get(seed) ?? this.addDial(seed, true, undefined);
      dial.persistent = true;
      if (dial.phase === "waiting") this.attemptDial(dial);
    }
  }

  /**
   * Queues whole frames for a peer, dialling it if it has no connection, its address is known
   * (host.addressOf, else the address it announced in an earlier handshake) and the host's
   * dialPolicy allows it. The transport keeps `frames` until written: do not modify it after the
   * call.
   */
  send(peer: string, frames: Uint8Array): SendResult {
    if (this.stopping || !this.host) return "unreachable";
    const link = this.peers.get(peer);
    if (link) return this.enqueue(link, frames);
    const policy = this.host.dialPolicy?.(peer) ?? "dial";
    if (policy === "never") return "unreachable";
    const address = this.host.addressOf(peer) ?? this.learnedAddresses.get(peer);
    if (address === undefined || address === this.advertised || peer === this.local.nodeName) return "unreachable";
    let dial = this.dials.get(address);
    if (!dial) {
      try {
        dial = this.addDial(address, false, peer);
      } catch (error) {
        this.log.debug(`cannot dial ${peer}: ${(error as Error).message}`);
        return "unreachable";
      }
    }
    if (dial.phase === "self" || (dial.phase === "waiting" && this.clock.now() < dial.retryAt)) return "unreachable";
    // The address is being dialled for another name: this one cannot be there too.
    if (dial.expectedName !== undefined && dial.expectedName !== peer) return "unreachable";
    dial.expectedName = peer;
    dial.quiet = policy === "quiet";
    const newLink = this.addLink(peer);
    const result = this.enqueue(newLink, frames);
    if (dial.phase === "waiting") this.attemptDial(dial);
    return result;
  }

  /** Queues the frames for every peer with an established connection (e.g. LEAVE); returns how many took them. */
  sendAll(frames: Uint8Array): number {
    let queued = 0;
    for (const link of this.peers.values()) {
      if (link.connection && this.enqueue(link, frames) === "queued") queued++;
    }
    return queued;
  }

  /**
   * Flushes every queue (bounded by closeTimeoutMs), ends every socket, then stops listening. No
   * new dial starts; one already on the way that frames wait for (the LEAVE to a peer we had not
   * talked to yet) may complete within closeTimeoutMs, so that they still go out.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const dial of this.dials.values()) {
      dial.retryTimer?.cancel();
      if (dial.attempt && !this.framesWaitOn(dial)) this.settleAttempt(dial.attempt);
    }
    await this.dialsWithFramesSettled(this.options.closeTimeoutMs);
    for (const dial of this.dials.values()) if (dial.attempt) this.settleAttempt(dial.attempt);
    const connections = [...this.connections];
    for (const connection of connections) connection.closeGracefully("stopping");
    await Promise.all(connections.map((connection) => connection.closed));
    this.listener?.stop(true);
    this.log.info(`stopped listening on ${this.advertised}`);
  }

  /** Whether a dial on the way carries frames: its peer's link holds an outbox waiting for it. */
  private framesWaitOn(dial: Dial): boolean {
    if (dial.phase !== "connecting" && dial.phase !== "handshaking") return false;
    const link = dial.expectedName === undefined ? undefined : this.peers.get(dial.expectedName);
    return link !== undefined && link.connection === null && link.outboxBytes > 0;
  }

  /** Resolves once no dial carries frames any more, or after timeoutMs. */
  private async dialsWithFramesSettled(timeoutMs: number): Promise<void> {
    const pending = () => [...this.dials.values()].some((dial) => this.framesWaitOn(dial));
    if (!pending()) return;
    await new Promise<void>((resolve) => {
      const timer = this.clock.setTimer(timeoutMs, () => finish());
      const finish = (): void => {
        timer.cancel();
        this.onDialSettled = null;
        resolve();
      };
      this.onDialSettled = () => {
        if (!pending()) finish();
      };
    });
  }

  // ---- sending ----

  /** force: frames that already passed the mark once (an outbox moving onto its new connection). */
  private enqueue(link: PeerLink, frames: Uint8Array, force = false): SendResult {
    if (link.connection) {
      const result = link.connection.queue.enqueue(frames, force);
      if (result === "queued") this.counters.framesOut += countFrames(frames);
      else this.overloaded(link.name, link.connection.queue.queuedBytes);
      return result;
    }
    const queued = link.outboxBytes;
    if (!force && queued > 0 && queued + frames.length > this.options.writeQueueHighWaterBytes) {
      this.overloaded(link.name, queued);
      return "overloaded";
    }
    link.outbox.push(frames);
    link.outboxBytes += frames.length;
    return "queued";
  }

  private overloaded(peer: string, queuedBytes: number): void {
    this.counters.overloads++;
    const now = this.clock.now();
    const last = this.lastOverloadWarning.get(peer);
    if (last !== undefined && now - last < OVERLOAD_WARNING_INTERVAL_MS) return;
    this.lastOverloadWarning.set(peer, now);
    this.log.warn(
      `write queue to ${peer} is full (${queuedBytes} bytes queued, high-water mark ${this.options.writeQueueHighWaterBytes}): frames refused`,
      { peer, queuedBytes, overloads: this.counters.overloads },
    );
    this.host?.onOverload?.(peer, queuedBytes);
  }

  /** Handshake and ERROR frames: never refused by the high-water mark. */
  private sendControl(connection: Connection, frame: Uint8Array): void {
    if (connection.queue.enqueue(frame, true) === "queued") this.counters.framesOut++;
  }

  // ---- dialling ----

  private addDial(address: string, persistent: boolean, expectedName: string | undefined): Dial {
    const dial = newDial(address, parseAddress(address), persistent, expectedName);
    this.dials.set(address, dial);
    return dial;
  }

  private attemptDial(dial: Dial): void {
    dial.retryTimer?.cancel();
    dial.retryTimer = null;
    dial.phase = "connecting";
    const attempt: DialAttempt = { dial, settled: false, connectTimer: null };
    dial.attempt = attempt;
    attempt.connectTimer = this.clock.setTimer(this.options.connectTimeoutMs, () =>
      this.attemptFailed(attempt, `no connection within ${this.options.connectTimeoutMs} ms`),
    );
    Bun.connect<SocketSlot | undefined>({
      hostname: dial.target.host,
      port: dial.target.port,
      data: { connection: null, attempt },
      socket: this.socketHandlers,
      ...(this.tls ? { tls: this.tls.client } : {}),
    }).catch((error: Error & { code?: string }) => this.attemptFailed(attempt, error.code ? `${error.message} (${error.code})` : error.message));
  }

  private attemptFailed(attempt: DialAttempt, reason: string): void {
    if (attempt.settled) return;
    this.settleAttempt(attempt);
    this.dialFailed(attempt.dial, reason, false);
  }

  /** Marks the connect phase decided: a late open, rejection or timeout of it is then ignored. */
  private settleAttempt(attempt: DialAttempt): void {
    attempt.settled = true;
    attempt.connectTimer?.cancel();
    attempt.connectTimer = null;
  }

  /** reasonLogged: the reason already went out as a warning (a refusal), so repeat it only in debug. */
  private dialFailed(dial: Dial, reason: string, reasonLogged: boolean): void {
    if (dial.phase === "self") return;
    if (this.stopping) {
      // No retry now; the frames that waited for it are dropped.
      dial.phase = "waiting";
      if (dial.expectedName !== undefined) this.settleLink(dial.expectedName);
      this.onDialSettled?.();
      return;
    }
    dial.failures++;
    const delay = backoffDelay(dial.failures, this.options.reconnectBaseMs, this.options.reconnectMaxMs, this.options.random);
    dial.phase = "waiting";
    dial.retryAt = this.clock.now() + delay;
    const what = dial.persistent ? `seed ${dial.address}` : `${dial.expectedName ?? "peer"} at ${dial.address}`;
    const next = dial.persistent ? `retrying in ${Math.round(delay)} ms` : `no new attempt for ${Math.round(delay)} ms`;
    const message = `cannot reach ${what}: ${reason}; ${next}`;
    if (dial.failures === 1 && !reasonLogged && !dial.quiet) this.log.warn(message, { address: dial.address, failures: dial.failures });
    else this.log.debug(message, { address: dial.address, failures: dial.failures });
    if (dial.persistent) dial.retryTimer = this.clock.setTimer(delay, () => this.attemptDial(dial));
    if (dial.expectedName !== undefined) this.settleLink(dial.expectedName);
  }

  private dialSucceeded(dial: Dial, peerName: string): void {
    if (dial.failures > 0) this.log.info(`reached ${dial.address} (${peerName}) after ${dial.failures} failed attempts`);
    this.dials.delete(dial.address);
    // A lazy dial whose address now belongs to another node: the frames waiting for the old one go.
    if (dial.expectedName !== undefined && dial.expectedName !== peerName) this.settleLink(dial.expectedName);
  }

  // ---- socket events ----

  private onOpen(socket: TransportSocket): void {
    const attempt = socket.data?.attempt ?? null;
    if (!attempt) socket.data = { connection: null, attempt: null };
    if (attempt) {
      // While stopping, only the attempts stop() waits for are still unsettled.
      if (attempt.settled) return socket.terminate();
      this.settleAttempt(attempt);
    } else if (this.stopping) {
      return socket.terminate();
    }
    const remote = formatAddress(socket.remoteAddress, socket.remotePort);
    const certificate = this.tls ? certificateProblem(socket) : null;
    if (certificate) {
      this.countRefusal("CertificateUntrusted");
      this.log.warn(`refused peer ${remote}: ${certificate}`, { peer: remote });
      if (attempt) this.dialFailed(attempt.dial, certificate, true);
      return socket.terminate();
    }
    const connection = new Connection(socket, attempt ? "outbound" : "inbound", attempt?.dial ?? null, this.connectionSettings, this.connectionHooks);
    socket.data!.connection = connection;
    this.connections.add(connection);
    this.counters.connectionsOpened++;
    this.log.debug(`${attempt ? "connected to" : "accepted"} ${connection.remote}`);
    if (attempt) {
      attempt.dial.phase = "handshaking";
      this.sendControl(connection, encodeHelloIntroduce(this.ourIntroduction(connection)));
    }
  }

  private onData(socket: TransportSocket, chunk: Uint8Array): void {
    const connection = socket.data?.connection;
    if (!connection || connection.state === "closed") return;
    this.counters.bytesIn += chunk.length;
    connection.touch();
    try {
      connection.decoder.push(chunk, (frame) => this.onFrame(connection, frame));
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.refuse(connection, { code: ErrorCode.MalformedFrame, message: `malformed frame: ${error.message}` });
    }
  }

  private onClose(socket: TransportSocket, error: Error | undefined): void {
    const slot = socket.data;
    const connection = slot?.connection;
    if (!connection) {
      if (slot?.attempt) this.attemptFailed(slot.attempt, "connection closed before it opened");
      return;
    }
    if (connection.state === "closed") return;
    const unsent = connection.queue.takePending();
    connection.markClosed();
    this.connections.delete(connection);
    this.counters.connectionsClosed++;
    if (connection.decoder.bufferedBytes > 0 && !connection.closeReason) {
      this.log.info(`${this.describe(connection)} closed in the middle of a frame: ${connection.decoder.bufferedBytes} bytes discarded`);
    }
    const name = connection.peer?.nodeName;
    const peerReason = error ? `closed by the peer (${error.message})` : "closed by the peer";
    if (!connection.handshakeDone) {
      const reason = connection.closeReason || `${peerReason} during the handshake`;
      this.log.debug(`handshake with ${this.describe(connection)} ended: ${reason}`);
      if (connection.dial) this.dialFailed(connection.dial, reason, connection.closeReason !== "");
      if (name !== undefined) this.settleLink(name);
      return;
    }
    this.log.debug(`connection to ${this.describe(connection)} closed: ${connection.closeReason || peerReason}`);
    const link = name === undefined ? undefined : this.peers.get(name);
    if (!link || link.connection !== connection) return; // a replaced duplicate: the peer is still up
    link.connection = null;
    for (const unit of unsent) this.enqueue(link, unit, true);
    this.settleLink(link.name);
  }

  // ---- frames ----

  private onFrame(connection: Connection, frame: Frame): void {
    this.counters.framesIn++;
    if (connection.deliversFrames) {
      if (frame.type === MessageType.Hello || frame.type === MessageType.Welcome) {
        this.refuse(connection, { code: ErrorCode.ProtocolViolation, message: `${messageTypeName(frame.type)} after the handshake completed` });
        return;
      }
      this.deliver(connection.peer!.nodeName, frame);
      return;
    }
    if (connection.state !== "handshaking") return; // refused or closing: the rest is ignored
    const violation = (what: string): void => this.refuse(connection, { code: ErrorCode.ProtocolViolation, message: what });
    if (frame.type === MessageType.Error) return this.onPeerRefused(connection, decodeError(frame.body));
    if (frame.type === MessageType.Hello) {
      if (connection.direction !== "inbound") return violation("HELLO from the side we dialled");
      const hello = decodeHello(frame.body);
      if (hello.step === "introduce") return this.onHelloIntroduce(connection, hello.introduction);
      if (!connection.peer) return violation("HELLO proof before the HELLO introduction");
      return this.onHelloProve(connection, hello.proof);
    }
    if (frame.type === MessageType.Welcome) {
      if (connection.direction !== "outbound") return violation("WELCOME from a side that dialled us");
      if (connection.peer) return violation("second WELCOME");
      return this.onWelcome(connection, decodeWelcome(frame.body));
    }
    violation(`${messageTypeName(frame.type)} frame before the handshake completed`);
  }

  private deliver(peer: string, frame: Frame): void {
    this.notifyHost(() => `a ${messageTypeName(frame.type)} frame from ${peer}`, (host) => host.onFrame(peer, frame));
  }

  /**
   * Runs a host callback; a throwing host is logged and must not break socket handling. `what`
   * names the event for that log line only: it runs for every frame, so it is built on failure.
   */
  private notifyHost(what: () => string, callback: (host: TransportHost) => void): void {
    try {
      callback(this.host!);
    } catch (error) {
      this.log.error(`host failed to handle ${what()}: ${(error as Error).message}`, { stack: (error as Error).stack });
    }
  }

  /** Listener side, step 1: the dialer introduced itself. */
  private onHelloIntroduce(connection: Connection, intro: Introduction): void {
    if (connection.peer) {
      return this.refuse(connection, { code: ErrorCode.ProtocolViolation, message: "second HELLO introduction" });
    }
    const ownDial = this.ownDialWithNonce(intro.nonce);
    if (ownDial && intro.nodeName === this.local.nodeName) {
      // We dialled ourselves (a seed list that names this node under another address).
      this.log.info(`${ownDial.address} is this node itself: not dialling it again`);
      ownDial.phase = "self";
      this.sendControl(connection, encodeError(ErrorCode.SameNameAsOurs, "connected to itself"));
      connection.closeGracefully("connected to itself");
      return;
    }
    const refusal = checkIntroduction(this.local, intro) ?? this.checkCertificateName(connection, intro.nodeName);
    if (refusal) return this.refuse(connection, refusal, intro.nodeName);
    connection.peer = intro;
    const welcome: Welcome = {
      ...this.ourIntroduction(connection),
      seenAt: connection.remote,
      proof: ownProof(this.local, "welcome", this.transcript(connection)),
    };
    this.sendControl(connection, encodeWelcome(welcome));
  }

  /** Listener side, step 2: the dialer proved it knows the secret. */
  private onHelloProve(connection: Connection, proof: Uint8Array): void {
    const peer = connection.peer!;
    const refusal = checkProof(this.local, "hello", this.transcript(connection), proof) ?? this.checkGeneration(peer);
    if (refusal) return this.refuse(connection, refusal);
    this.establish(connection);
  }

  /** Dialer side: the listener answered. */
  private onWelcome(connection: Connection, welcome: Welcome): void {
    connection.peer = welcome;
    const refusal =
      checkIntroduction(this.local, welcome) ??
      checkProof(this.local, "welcome", this.transcript(connection), welcome.proof) ??
      this.checkCertificateName(connection, welcome.nodeName) ??
      this.checkGeneration(welcome);
    if (refusal) return this.refuse(connection, refusal);
    if (welcome.seenAt !== this.seenAt) this.log.debug(`${welcome.nodeName} sees this node at ${welcome.seenAt}`);
    this.seenAt = welcome.seenAt;
    this.sendControl(connection, encodeHelloProve(ownProof(this.local, "hello", this.transcript(connection))));
    this.establish(connection);
  }

  private onPeerRefused(connection: Connection, error: ErrorBody): void {
    if (connection.dial?.phase === "self") return connection.closeGracefully("connected to itself");
    this.counters.refusedByPeers++;
    const reason = `refused the connection (${errorCodeName(error.code)}): "${error.message}"`;
    this.log.warn(`peer ${this.describe(connection)} ${reason}`, { peer: connection.remote, code: errorCodeName(error.code) });
    this.host?.onRefused?.(connection.remote, connection.peer?.nodeName, `peer ${reason}`);
    connection.closeGracefully(reason);
  }

  // ---- handshake checks ----

  private ourIntroduction(connection: Connection): Introduction {
    return {
      protocolVersion: PROTOCOL_VERSION,
      clusterName: this.local.clusterName,
      nodeName: this.local.nodeName,
      generation: this.options.generation,
      advertisedAddress: this.advertised,
      authScheme: this.local.secret === undefined ? AuthScheme.None : AuthScheme.HmacSha256,
      nonce: connection.ourNonce,
    };
  }

  private transcript(connection: Connection): ProofTranscript {
    const peer = connection.peer!;
    const outbound = connection.direction === "outbound";
    return {
      dialerNonce: outbound ? connection.ourNonce : peer.nonce,
      listenerNonce: outbound ? peer.nonce : connection.ourNonce,
      dialerName: outbound ? this.local.nodeName : peer.nodeName,
      listenerName: outbound ? peer.nodeName : this.local.nodeName,
    };
  }

  private checkCertificateName(connection: Connection, nodeName: string): Refusal | null {
    if (!this.tls?.requireNameMatch) return null;
    const names = certificateNames(connection.socket);
    if (names.includes(nodeName)) return null;
    return {
      code: ErrorCode.CertificateName,
      message: `certificate names [${names.join(", ")}] do not include the announced node name '${nodeName}'`,
    };
  }

  /** A node name already connected with a newer generation: the announcer is an old incarnation. */
  private checkGeneration(peer: Introduction): Refusal | null {
    const link = this.peers.get(peer.nodeName);
    if (!link?.connection || peer.generation >= link.generation) return null;
    return {
      code: ErrorCode.StaleGeneration,
      message: `node '${peer.nodeName}' is already connected with generation ${link.generation}, newer than the announced ${peer.generation}`,
    };
  }

  private ownDialWithNonce(nonce: Uint8Array): Dial | undefined {
    for (const connection of this.connections) {
      if (connection.direction === "outbound" && connection.state === "handshaking" && bytesEqual(connection.ourNonce, nonce)) {
        return connection.dial ?? undefined;
      }
    }
    return undefined;
  }

  /** `claimedName`: the name a refused HELLO announced, before it was accepted as the peer's. */
  private refuse(connection: Connection, refusal: Refusal, claimedName = connection.peer?.nodeName): void {
    if (connection.state === "closing" || connection.state === "closed") return;
    this.countRefusal(errorCodeName(refusal.code));
    this.log.warn(`refused peer ${connection.remote}: ${refusal.message}`, {
      peer: connection.remote,
      node: claimedName,
      code: errorCodeName(refusal.code),
    });
    connection.deliversFrames = false;
    this.host?.onRefused?.(connection.remote, claimedName, refusal.message);
    this.sendControl(connection, encodeError(refusal.code, refusal.message));
    connection.closeGracefully(refusal.message);
  }

  private countRefusal(reason: string): void {
    this.counters.connectionsRefused++;
    this.counters.refusedByReason[reason] = (this.counters.refusedByReason[reason] ?? 0) + 1;
  }

  // ---- peer table ----

  private addLink(name: string): PeerLink {
    const link: PeerLink = { name, connection: null, generation: 0, outbox: [], outboxBytes: 0, up: false };
    this.peers.set(name, link);
    return link;
  }

  private establish(connection: Connection): void {
    connection.markEstablished();
    const peer = connection.peer!;
    this.learnedAddresses.set(peer.nodeName, peer.advertisedAddress);
    if (connection.dial) this.dialSucceeded(connection.dial, peer.nodeName);
    const link = this.peers.get(peer.nodeName) ?? this.addLink(peer.nodeName);
    const current = link.connection;
    if (current && peer.generation === link.generation) {
      const winner = this.preferred(current, connection);
      const loser = winner === current ? connection : current;
      link.connection = winner;
      this.log.debug(`closing duplicate connection to ${peer.nodeName} (keeping the one dialled by ${winner.dialerName(this.local.nodeName)})`);
      this.retire(loser, winner);
      return;
    }
    link.connection = connection;
    if (current) this.retire(current, connection);
    if (link.up && link.generation !== peer.generation) {
      // The node restarted: what the host knew was its previous incarnation.
      this.log.info(`${peer.nodeName} restarted (generation ${link.generation} → ${peer.generation})`);
      link.up = false;
      this.notifyHost(() => `peer down ${peer.nodeName}`, (host) => host.onPeerDown(peer.nodeName));
    }
    link.generation = peer.generation;
    const waiting = link.outbox;
    link.outbox = [];
    link.outboxBytes = 0;
    for (const unit of waiting) this.enqueue(link, unit, true);
    this.log.info(`connected to ${peer.nodeName} at ${peer.advertisedAddress} (${connection.direction}, via ${connection.remote})`);
    if (!link.up) {
      link.up = true;
      this.notifyHost(() => `peer up ${peer.nodeName}`, (host) => host.onPeerUp(peer.nodeName, peer.advertisedAddress));
    }
    this.onDialSettled?.();
  }

  /** Both ends rank duplicates alike: dialled by the smaller name first, then by the smaller dialer nonce. */
  private preferred(a: Connection, b: Connection): Connection {
    const dialerA = a.dialerName(this.local.nodeName)!;
    const dialerB = b.dialerName(this.local.nodeName)!;
    if (dialerA !== dialerB) return dialerA < dialerB ? a : b;
    return compareBytes(a.dialerNonce()!, b.dialerNonce()!) <= 0 ? a : b;
  }

  /** Closes a connection that another replaces, moving its not-yet-written frames over. */
  private retire(loser: Connection, winner: Connection): void {
    for (const unit of loser.queue.takePending()) winner.queue.enqueue(unit, true);
    loser.closeGracefully("replaced by another connection to the same node");
  }

  /** Forgets a peer with no connection and none on the way, telling the host it is down. */
  private settleLink(name: string): void {
    const link = this.peers.get(name);
    if (!link || link.connection || this.connectionPending(name)) return;
    this.peers.delete(name);
    if (link.outboxBytes > 0) this.log.debug(`dropped ${link.outboxBytes} queued bytes for ${name}: no connection`);
    if (link.up) this.notifyHost(() => `peer down ${name}`, (host) => host.onPeerDown(name));
  }

  private connectionPending(name: string): boolean {
    for (const dial of this.dials.values()) {
      if (dial.expectedName === name && (dial.phase === "connecting" || dial.phase === "handshaking")) return true;
    }
    for (const connection of this.connections) {
      if (connection.state === "handshaking" && connection.peer?.nodeName === name) return true;
    }
    return false;
  }

  private describe(connection: Connection): string {
    const name = connection.peer?.nodeName;
    return name === undefined ? connection.remote : `${name} (${connection.remote})`;
  }

  private requireListener(): TCPSocketListener<SocketSlot | undefined> {
    if (!this.listener) throw new Error("TcpTransport is not started");
    return this.listener;
  }
}

/** Frames in a buffer of whole frames, by walking their length fields. */
function countFrames(frames: Uint8Array): number {
  const view = new DataView(frames.buffer, frames.byteOffset, frames.byteLength);
  let count = 0;
  for (let at = 0; at + HEADER_BYTES <= frames.length; at += HEADER_BYTES + view.getUint32(at)) count++;
  return count;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
