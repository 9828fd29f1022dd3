// The production Transport: TCP through Bun.listen / Bun.connect, optionally TLS or mutual TLS,
// with a handshake (admission.ts) before any state flows, one connection per peer pair, a
// bounded write queue per socket, and reconnects with backoff (tcp-dialer.ts). The accept gate
// (tcp-accept.ts) bounds connections and pending handshakes per source at accept.
//
// Peers are known by node name; the peer table (tcp-peers.ts) holds one link per name.
//
// Over 500 lines on purpose: what is left here is the socket event handlers and the handshake
// phase they drive, which share the connection set and the refusal path; the peer table,
// dialling, accept limits and admission rules each have their own module.

import type { SocketHandler, TCPSocketListener } from "bun";
import {
  DecodeError,
  ErrorCode,
  MessageType,
  encodeError,
  errorCodeName,
  messageTypeName,
  type ErrorBody,
  type Frame,
  type Introduction,
} from "../codec/index.ts";
import type { Clock } from "../clock.ts";
import { Handshake, type AdmissionHooks, type LocalIdentity, type Refusal } from "./admission.ts";
import { AcceptGate } from "./tcp-accept.ts";
import { Connection, type ConnectionHooks, type ConnectionSettings, type SocketSlot, type TransportSocket } from "./tcp-connection.ts";
import type { Dial, DialAttempt } from "./tcp-dial.ts";
import { Dialer } from "./tcp-dialer.ts";
import {
  formatAddress,
  listenError,
  parseAddress,
  resolveTcpOptions,
  type ResolvedTcpOptions,
  type TcpTransportOptions,
  type TransportLogger,
} from "./tcp-options.ts";
import { PeerTable } from "./tcp-peers.ts";
import { bytesEqual } from "../codec/bytes.ts";
import { newCounters, type TcpTransportStats } from "./tcp-stats.ts";
import type { RingKey } from "./keyring.ts";
import { certificateProblem, checkCertificateName, loadTls, type TlsSettings } from "./tcp-tls.ts";
import type { SendResult, Transport, TransportHost } from "./transport.ts";

export type { TcpTransportOptions, TransportLogger, TlsFiles } from "./tcp-options.ts";
export type { TcpTransportStats } from "./tcp-stats.ts";

export class TcpTransport implements Transport {
  private readonly options: ResolvedTcpOptions;
  private readonly log: TransportLogger;
  private readonly clock: Clock;
  private readonly local: LocalIdentity;
  private readonly connectionSettings: ConnectionSettings;
  private readonly connectionHooks: ConnectionHooks;
  private readonly admissionHooks: AdmissionHooks;
  private readonly gate: AcceptGate;
  private readonly dialer: Dialer;
  private readonly socketHandlers: SocketHandler<SocketSlot | undefined>;
  private host: TransportHost | null = null;
  private listener: TCPSocketListener<SocketSlot | undefined> | null = null;
  private tls: TlsSettings | null = null;
  /** Loaded at start only when a keyring is configured: it brings node:crypto. */
  private sealing: typeof import("./sealed-frames.ts") | null = null;
  private advertised = "";
  private stopping = false;
  private readonly connections = new Set<Connection>();
  private readonly peers: PeerTable;
  /** Advertised addresses learned in handshakes: a lazy dial falls back on them. */
  private readonly learnedAddresses = new Map<string, string>();
  private readonly counters = newCounters();
  private seenAt: string | undefined;

  constructor(options: TcpTransportOptions) {
    this.options = resolveTcpOptions(options);
    this.log = options.logger;
    this.clock = options.clock;
    if (options.secret !== undefined && options.keyring) throw new Error("secret and keyring exclude each other: the keyring authenticates on its own");
    if (options.plainWindow !== undefined && !options.keyring) throw new Error("a plain window needs a keyring: it admits plain peers beside encrypted ones");
    this.local = { clusterName: options.clusterName, nodeName: options.nodeName, generation: options.generation, secret: options.secret, keyring: options.keyring, plainWindow: options.plainWindow };
    this.connectionSettings = { ...this.options, tls: options.tls !== undefined };
    this.connectionHooks = {
      onHandshakeTimeout: (connection) =>
        this.refuse(connection, { code: ErrorCode.HandshakeTimeout, message: `no handshake within ${this.options.handshakeTimeoutMs} ms of connecting` }),
      onFrameTimeout: (connection) =>
        this.refuse(connection, {
          code: ErrorCode.ProtocolViolation,
          message: `a frame was still incomplete ${this.options.frameTimeoutMs} ms after its first byte (${connection.decoder.bufferedBytes} bytes received)`,
        }),
      onIdle: (connection) => {
        this.log.debug(`closing idle connection to ${this.describe(connection)}: no traffic for ${this.options.idleTimeoutMs} ms`);
        connection.closeGracefully("idle");
      },
      onBytesWritten: (bytes) => (this.counters.bytesOut += bytes),
    };
    this.admissionHooks = {
      connectedGeneration: (name) => {
        const link = this.peers.get(name);
        return link?.connection ? link.generation : undefined;
      },
      remembered: (name) => this.host?.remembered?.(name),
      ownProgress: () => this.host?.ownProgress?.() ?? { heartbeat: 0, maxVersion: 0 },
      clusterConfig: () => this.host?.clusterConfig?.() ?? null,
    };
    this.peers = new PeerTable(options.nodeName, this.options.writeQueueHighWaterBytes, this.clock, this.log, this.counters, {
      peerUp: (name, address) => this.notifyHost(() => `peer up ${name}`, (host) => host.onPeerUp(name, address)),
      peerDown: (name) => this.notifyHost(() => `peer down ${name}`, (host) => host.onPeerDown(name)),
      overloaded: (peer, queuedBytes) => this.host?.onOverload?.(peer, queuedBytes),
      connectionPending: (name) => this.connectionPending(name),
    });
    this.gate = new AcceptGate(this.options.maxConnections, this.options.maxPendingHandshakesPerSource, this.clock, this.log);
    this.dialer = new Dialer(this.options, this.clock, this.log, {
      connect: (attempt) => this.connect(attempt),
      settleLink: (name) => this.peers.settle(name),
      framesWaitOn: (dial) => this.framesWaitOn(dial),
    });
    this.socketHandlers = {
      binaryType: "uint8array",
      open: (socket) => this.onOpen(socket),
      data: (socket, chunk) => this.onData(socket, chunk),
      drain: (socket) => socket.data?.connection?.queue.flush(),
      close: (socket, error) => this.onClose(socket, error),
      // A failed TLS session, or one of our handlers threw (a bug): the socket closes next.
      error: (socket, error) => this.log.warn(`socket error on ${socket.data?.connection?.remote ?? "a connection"}: ${error.message}`),
      // Bun.connect's rejected promise reports connect failures (see connect).
      connectError: () => {},
      // With this handler Bun runs `open` at TCP accept/connect, before TLS, so the handshake
      // deadline covers TLS too; this runs once TLS completed (or failed).
      ...(options.tls ? { handshake: (socket: TransportSocket) => this.onTlsHandshake(socket) } : {}),
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
    return {
      ...this.counters,
      refusedByReason: { ...this.counters.refusedByReason },
      openConnections: this.connections.size,
      connectionsByState: this.connectionsByState(),
      queueDepthBytes: this.peers.queueDepths(),
    };
  }

  private connectionsByState(): TcpTransportStats["connectionsByState"] {
    const counts = { handshaking: 0, established: 0, closing: 0 };
    for (const connection of this.connections) if (connection.state !== "closed") counts[connection.state]++;
    return counts;
  }

  /** Names of the peers with an established connection. */
  connectedPeers(): string[] {
    return [...this.peers.values()].filter((link) => link.connection).map((link) => link.name);
  }

  async start(host: TransportHost): Promise<void> {
    if (this.host) throw new Error("TcpTransport.start() called twice");
    this.host = host;
    if (this.options.tls) this.tls = await loadTls(this.options.tls);
    if (this.local.keyring) this.sealing = await import("./sealed-frames.ts");
    const listener = this.listen();
    this.listener = listener;
    const bound = formatAddress(listener.hostname, listener.port);
    this.advertised = this.options.advertiseAddress ?? bound;
    this.log.info(`listening on ${bound}, advertised as ${this.advertised}`, {
      tls: this.tls !== null,
      secret: this.local.secret !== undefined,
      encrypt: this.local.keyring !== undefined,
    });
    const advertisedHost = parseAddress(this.advertised).host;
    if (advertisedHost === "0.0.0.0" || advertisedHost === "::") {
      this.log.warn(`advertised address ${this.advertised} is a wildcard that peers cannot dial: set advertiseAddress`);
    }
    for (const seed of this.options.seeds) {
      if (seed === this.advertised || seed === bound) continue;
      const dial = this.dialer.get(seed) ?? this.dialer.add(seed, true, undefined);
      dial.persistent = true;
      if (dial.phase === "waiting") this.dialer.attempt(dial);
    }
    for (const address of this.options.remembered) {
      if (address === this.advertised || address === bound || this.dialer.get(address)) continue;
      const dial = this.dialer.add(address, true, undefined);
      dial.quiet = true;
      dial.untilJoined = true;
      this.dialer.attempt(dial);
    }
  }

  /**
   * Dials each "host:port" once; resolves with how many answered with a completed handshake (a
   * peer already connected at that address counts). Bounded by the connect and handshake timeouts.
   */
  async join(addresses: readonly string[]): Promise<number> {
    if (!this.host || this.stopping) throw new Error("the node is not running");
    for (const address of addresses) parseAddress(address); // throws a RangeError naming the bad one
    const reached = await Promise.all(addresses.map((address) => this.reach(address)));
    return reached.filter(Boolean).length;
  }

  private reach(address: string): Promise<boolean> {
    if (address === this.advertised) return Promise.resolve(false);
    for (const [name, learned] of this.learnedAddresses) {
      if (learned === address && this.peers.get(name)?.connection) return Promise.resolve(true);
    }
    return this.dialer.reach(address);
  }

  private listen(): TCPSocketListener<SocketSlot | undefined> {
    const { host, port } = this.options.listen;
    try {
      return Bun.listen<SocketSlot | undefined>({
        hostname: host,
        port,
        data: undefined,
        socket: this.socketHandlers,
        ...(this.tls ? { tls: this.tls.server } : {}),
      });
    } catch (error) {
      throw listenError(error, host, port);
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
    if (link) return this.peers.enqueue(link, frames);
    const policy = this.host.dialPolicy?.(peer) ?? "dial";
    if (policy === "never") return "unreachable";
    const address = this.host.addressOf(peer) ?? this.learnedAddresses.get(peer);
    if (address === undefined || address === this.advertised || peer === this.local.nodeName) return "unreachable";
    let dial = this.dialer.get(address);
    if (!dial) {
      try {
        dial = this.dialer.add(address, false, peer);
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
    const result = this.peers.enqueue(this.peers.add(peer), frames);
    if (dial.phase === "waiting") this.dialer.attempt(dial);
    return result;
  }

  /**
   * send(), over encrypted connections only: keyring changes (node/keyring-ops.ts) carry key
   * material. Without a plain window every connection of a node with a keyring is sealed, so this
   * is send(); within one, only a peer connected now over a sealed connection gets the frames.
   */
  sendSealed(peer: string, frames: Uint8Array): SendResult | "unsealed" {
    if (!this.local.keyring) return "unsealed";
    if (this.local.plainWindow === undefined) return this.send(peer, frames);
    const link = this.peers.get(peer);
    if (!link?.connection) return "unreachable";
    return link.connection.sealed ? this.peers.enqueue(link, frames) : "unsealed";
  }

  /** Whether frames from the peer arrive sealed: always with a keyring and no plain window, else per its connection now. */
  isSealed(peer: string): boolean {
    if (!this.local.keyring) return false;
    return this.local.plainWindow === undefined || this.peers.get(peer)?.connection?.sealed != null;
  }

  /**
   * Closes, gracefully (what is queued still goes out), every connection sealed under a key the
   * keyring no longer holds, after `goferbroke keys remove`: the peers dial again and agree on a
   * key still held, so nothing uses a removed key afterwards. Returns how many it closed.
   */
  closeSealedUnderRemovedKeys(): number {
    const keyring = this.local.keyring;
    let closed = 0;
    for (const connection of this.connections) {
      const key = connection.sealed ? connection.handshake.agreedKey : undefined;
      if (!keyring || !key || keyring.find(key.id)) continue;
      connection.closeGracefully(`sealed under key ${key.idHex}, which was removed from the keyring`);
      closed++;
    }
    return closed;
  }

  /** Queues the frames for every peer with an established connection (e.g. LEAVE); returns how many took them. */
  sendAll(frames: Uint8Array): number {
    let queued = 0;
    for (const link of this.peers.values()) {
      if (link.connection && this.peers.enqueue(link, frames) === "queued") queued++;
    }
    return queued;
  }

  /**
   * Flushes every queue (bounded by closeTimeoutMs), ends every socket, then stops listening. No
   * new dial starts; one already on the way that frames wait for (the LEAVE to a peer we had not
   * talked to yet) may complete within closeTimeoutMs, so that they still go out.
   */
  renewGeneration(generation: number): void {
    this.local.generation = generation;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.dialer.stop();
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

  // ---- sending ----

  /** Handshake and ERROR frames: never refused by the high-water mark. */
  private sendControl(connection: Connection, frame: Uint8Array): void {
    if (connection.queue.enqueueOwn(frame) === "queued") this.counters.framesOut++;
  }

  // ---- dialling ----

  private connect(attempt: DialAttempt): void {
    const { target } = attempt.dial;
    Bun.connect<SocketSlot | undefined>({
      hostname: target.host,
      port: target.port,
      data: { connection: null, attempt },
      socket: this.socketHandlers,
      ...(this.tls ? { tls: this.tls.client } : {}),
    }).catch((error: Error & { code?: string }) => this.dialer.attemptFailed(attempt, error.code ? `${error.message} (${error.code})` : error.message));
  }

  // ---- socket events ----

  /** TCP accept or connect; with TLS, before the TLS handshake. */
  private onOpen(socket: TransportSocket): void {
    const attempt = socket.data?.attempt ?? null;
    if (!attempt) socket.data = { connection: null, attempt: null };
    if (attempt) {
      // While stopping, only the attempts stop() waits for are still unsettled.
      if (attempt.settled) return socket.terminate();
      this.dialer.settleAttempt(attempt);
    } else if (this.stopping) {
      return socket.terminate();
    }
    const source = socket.remoteAddress ?? "(unknown)";
    if (!attempt) {
      const refused = this.gate.admit(source, this.connections.size);
      if (refused) {
        this.countRefusal(refused);
        return socket.terminate();
      }
    }
    const remote = formatAddress(socket.remoteAddress, socket.remotePort);
    const hooks: AdmissionHooks = this.tls?.requireNameMatch
      ? { ...this.admissionHooks, checkPeer: (peer) => checkCertificateName(socket, peer.nodeName) }
      : this.admissionHooks;
    const handshake = new Handshake(attempt ? "dialer" : "listener", this.local, this.advertised, remote, hooks);
    const connection = new Connection(socket, attempt ? "outbound" : "inbound", attempt?.dial ?? null, handshake, this.connectionSettings, this.connectionHooks);
    if (!attempt) connection.pendingSource = source;
    socket.data!.connection = connection;
    this.connections.add(connection);
    this.counters.connectionsOpened++;
    this.log.debug(`${attempt ? "connected to" : "accepted"} ${connection.remote}`);
    if (attempt) attempt.dial.phase = "handshaking";
    if (!this.tls) this.beginHandshake(connection);
  }

  /** TLS completed or failed: the peer's certificate decides whether the handshake may begin. */
  private onTlsHandshake(socket: TransportSocket): void {
    const connection = socket.data?.connection;
    if (!connection || connection.state !== "handshaking") return;
    connection.secured = true;
    const problem = certificateProblem(socket);
    if (!problem) return this.beginHandshake(connection);
    this.countRefusal("CertificateUntrusted");
    connection.closeReason = problem;
    this.log.warn(`refused peer ${connection.remote}: ${problem}`, { peer: connection.remote });
    socket.terminate();
  }

  /** The dialer speaks first. */
  private beginHandshake(connection: Connection): void {
    if (connection.direction === "outbound") this.sendControl(connection, connection.handshake.hello());
  }

  private onData(socket: TransportSocket, chunk: Uint8Array): void {
    const connection = socket.data?.connection;
    if (!connection || connection.state === "closed") return;
    this.counters.bytesIn += chunk.length;
    connection.touch();
    let frames = 0;
    try {
      connection.decoder.push(chunk, (frame) => {
        frames++;
        this.onFrame(connection, frame);
      });
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      const phase = connection.handshakeDone ? "" : " (before the handshake completed)";
      this.refuse(connection, { code: ErrorCode.MalformedFrame, message: `malformed frame${phase}: ${error.message}` });
    }
    connection.afterChunk(frames);
  }

  private onClose(socket: TransportSocket, error: Error | undefined): void {
    const slot = socket.data;
    const connection = slot?.connection;
    if (!connection) {
      if (slot?.attempt) this.dialer.attemptFailed(slot.attempt, "connection closed before it opened");
      return;
    }
    if (connection.state === "closed") return;
    this.endPending(connection);
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
      if (connection.dial) this.dialer.failed(connection.dial, reason, connection.closeReason !== "");
      if (name !== undefined) this.peers.settle(name);
      return;
    }
    this.log.debug(`connection to ${this.describe(connection)} closed: ${connection.closeReason || peerReason}`);
    this.peers.detach(connection, unsent);
  }

  // ---- frames ----

  private onFrame(connection: Connection, frame: Frame): void {
    this.counters.framesIn++;
    if (connection.deliversFrames) {
      if (connection.sealed) return this.openSealed(connection, frame);
      return this.deliverEstablished(connection, frame);
    }
    if (connection.state !== "handshaking") return; // refused or closing: the rest is ignored
    const outcome = connection.handshake.receive(frame);
    switch (outcome.kind) {
      case "continue":
        return this.sendControl(connection, outcome.send);
      case "peer-refused":
        return this.onPeerRefused(connection, outcome.error);
      case "refused":
        if (this.isOwnDial(outcome.refusal, outcome.claimed)) return this.closeSelfDial(connection, outcome.claimed!);
        return this.refuse(connection, outcome.refusal, outcome.claimed?.nodeName);
      case "established":
        if (outcome.send) this.sendControl(connection, outcome.send);
        this.establish(connection);
        for (const gap of connection.handshake.generationGaps()) this.notifyHost(() => `generation gap of ${gap.node}`, (host) => host.onGenerationGap?.(gap));
        return;
    }
  }

  private deliverEstablished(connection: Connection, frame: Frame): void {
    if (frame.type === MessageType.Hello || frame.type === MessageType.Welcome) {
      this.refuse(connection, { code: ErrorCode.ProtocolViolation, message: `${messageTypeName(frame.type)} after the handshake completed` });
      return;
    }
    this.deliver(connection.peer!.nodeName, frame);
  }

  /** A record on an encrypted connection: one that does not open closes it, and nothing it carried is applied. */
  private openSealed(connection: Connection, record: Frame): void {
    try {
      connection.sealed!.open(record, (frame) => {
        if (connection.deliversFrames) this.deliverEstablished(connection, frame);
      });
    } catch (error) {
      if (error instanceof this.sealing!.SealError) return this.refuse(connection, { code: ErrorCode.ProtocolViolation, message: error.message });
      if (!(error instanceof DecodeError)) throw error;
      this.refuse(connection, { code: ErrorCode.MalformedFrame, message: `malformed frame inside a SEALED record: ${error.message}` });
    }
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

  /** Our own introduction came back: a seed list names this node under another address. */
  private isOwnDial(refusal: Refusal, claimed: Introduction | null): boolean {
    return refusal.code === ErrorCode.SameNameAsOurs && claimed !== null && this.ownDialWithNonce(claimed.nonce) !== undefined;
  }

  private closeSelfDial(connection: Connection, claimed: Introduction): void {
    const ownDial = this.ownDialWithNonce(claimed.nonce)!;
    this.log.info(`${ownDial.address} is this node itself: not dialling it again`);
    ownDial.phase = "self";
    this.sendControl(connection, encodeError(ErrorCode.SameNameAsOurs, "connected to itself"));
    connection.closeGracefully("connected to itself");
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
      peerName: claimedName,
      code: errorCodeName(refusal.code),
    });
    connection.deliversFrames = false;
    this.host?.onRefused?.(connection.remote, claimedName, refusal.message);
    if (!connection.secured) {
      // TLS never completed (a silent socket): no ERROR can be written, so do not wait to.
      connection.closeReason = refusal.message;
      connection.socket.terminate();
      return;
    }
    this.sendControl(connection, encodeError(refusal.code, refusal.message));
    connection.closeGracefully(refusal.message);
  }

  private countRefusal(reason: string): void {
    this.counters.connectionsRefused++;
    this.counters.refusedByReason[reason] = (this.counters.refusedByReason[reason] ?? 0) + 1;
  }

  // ---- established connections ----

  private establish(connection: Connection): void {
    connection.markEstablished();
    if (connection.handshake.agreedKey) this.startSealing(connection, connection.handshake.agreedKey);
    const peer = connection.peer!;
    this.learnedAddresses.set(peer.nodeName, peer.advertisedAddress);
    this.endPending(connection);
    if (connection.handshake.seenAt !== undefined) this.noteSeenAt(peer.nodeName, connection.handshake.seenAt);
    if (connection.dial) this.dialer.succeeded(connection.dial, peer.nodeName);
    this.peers.attach(connection);
    this.dialer.peerConnected();
  }

  /** Before the peer's outbox joins the queue: only the handshake's own last frame goes out plain. */
  private startSealing(connection: Connection, key: RingKey): void {
    const role = connection.direction === "outbound" ? "dialer" : "listener";
    const sealed = new this.sealing!.SealedStream(key, connection.handshake.transcript(), role, this.options.maxFrameBytes);
    connection.sealed = sealed;
    connection.queue.sealWith((batch) => sealed.seal(batch));
    connection.decoder.maxFrameBytes = this.sealing!.SEALED_BODY_LIMIT;
  }

  /** Where the peer that welcomed us sees us: our address from the outside (NAT). */
  private noteSeenAt(peerName: string, seenAt: string): void {
    if (seenAt !== this.seenAt) this.log.debug(`${peerName} sees this node at ${seenAt}`);
    this.seenAt = seenAt;
  }

  /** An inbound connection's handshake ended: the accept gate stops counting it. */
  private endPending(connection: Connection): void {
    if (connection.pendingSource === null) return;
    this.gate.release(connection.pendingSource);
    connection.pendingSource = null;
  }

  private connectionPending(name: string): boolean {
    if (this.dialer.pendingFor(name)) return true;
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

