// Shared pieces of the TCP transport tests: a recording host and logger, transports on
// 127.0.0.1 with ephemeral ports, raw sockets that speak the protocol by hand, and bounded waits.
// Everything created here is registered and released by closeAll().

import type { Socket, TCPSocketListener } from "bun";
import { connect as netConnect } from "node:net";
import {
  AuthScheme,
  FrameDecoder,
  FrameWriter,
  MessageType,
  PROTOCOL_VERSION,
  computeProof,
  decodeWelcome,
  encodeHelloIntroduce,
  encodeProve,
  type Frame,
  type Introduction,
  type Welcome,
} from "../src/codec/index.ts";
import { systemClock } from "../src/clock.ts";
import { createRandom } from "../src/random.ts";
import { newNonce } from "../src/transport/admission.ts";
import { TcpTransport, type TcpTransportOptions, type TransportLogger } from "../src/transport/tcp.ts";
import type { DialPolicy, TransportHost } from "../src/transport/transport.ts";
import { waitFor } from "./support/wait.ts";

export interface LogLine {
  level: "debug" | "info" | "warn" | "error";
  message: string;
  fields: Record<string, unknown> | undefined;
}

export class RecordingLogger implements TransportLogger {
  readonly lines: LogLine[] = [];
  debug(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: "debug", message, fields });
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: "info", message, fields });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: "warn", message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: "error", message, fields });
  }
  matching(pattern: RegExp): LogLine[] {
    return this.lines.filter((line) => pattern.test(line.message));
  }
}

export class RecordingHost implements TransportHost {
  readonly frames: { from: string; frame: Frame }[] = [];
  readonly events: string[] = [];
  readonly addresses = new Map<string, string>();
  /** What dialPolicy answers per peer; "dial" for the others. */
  readonly dialPolicies = new Map<string, DialPolicy>();
  onFrame(from: string, frame: Frame): void {
    // Bodies are views into socket chunks; copy so the test can keep them.
    this.frames.push({ from, frame: { ...frame, body: frame.body.slice() } });
  }
  onPeerUp(name: string, address: string): void {
    this.events.push(`up ${name} ${address}`);
  }
  onPeerDown(name: string): void {
    this.events.push(`down ${name}`);
  }
  addressOf(name: string): string | undefined {
    return this.addresses.get(name);
  }
  dialPolicy(name: string): DialPolicy {
    return this.dialPolicies.get(name) ?? "dial";
  }
  framesFrom(peer: string): Frame[] {
    return this.frames.filter((entry) => entry.from === peer).map((entry) => entry.frame);
  }
}

export interface TestNode {
  transport: TcpTransport;
  host: RecordingHost;
  log: RecordingLogger;
  name: string;
}

type NodeOverrides = Partial<Omit<TcpTransportOptions, "logger" | "clock" | "random" | "nodeName">>;

const released: (() => void | Promise<void>)[] = [];

/** A started transport on 127.0.0.1 (ephemeral port unless given), stopped by closeAll(). */
export async function startNode(name: string, overrides: NodeOverrides = {}): Promise<TestNode> {
  const log = new RecordingLogger();
  const host = new RecordingHost();
  const transport = new TcpTransport({
    nodeName: name,
    generation: 1,
    clusterName: "test",
    listen: { host: "127.0.0.1", port: 0 },
    connectTimeoutMs: 2_000,
    handshakeTimeoutMs: 2_000,
    closeTimeoutMs: 1_000,
    reconnectBaseMs: 50,
    reconnectMaxMs: 400,
    ...overrides,
    logger: log,
    clock: systemClock,
    random: createRandom(name.length),
  });
  released.push(() => transport.stop());
  await transport.start(host);
  return { transport, host, log, name };
}

/** Makes each node know the others' addresses, as gossip would. */
export function introduce(...nodes: TestNode[]): void {
  for (const node of nodes) for (const other of nodes) {
    if (other !== node) node.host.addresses.set(other.name, other.transport.advertisedAddress);
  }
}

/** A port that was free a moment ago (for tests that must know ports before starting). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

export { waitFor };

/** One encoded frame with the given type and body. */
export function frameBytes(type: number, body: Uint8Array, correlationId = 0): Uint8Array {
  const writer = new FrameWriter(body.length + 16, 16 * 1024 * 1024);
  writer.begin(type, correlationId).raw(body).end();
  return writer.finish();
}

/** A raw TCP peer, client or accepted, that records the frames it receives. */
export class RawPeer {
  readonly frames: Frame[] = [];
  decodeError: Error | null = null;
  closed = false;
  private readonly decoder = new FrameDecoder({ maxFrameBytes: 16 * 1024 * 1024 });
  socket: Socket<unknown> | null = null;

  onData(chunk: Uint8Array): void {
    try {
      this.decoder.push(chunk, (frame) => this.frames.push({ ...frame, body: frame.body.slice() }));
    } catch (error) {
      this.decodeError = error as Error;
    }
  }

  write(bytes: Uint8Array): void {
    const written = this.socket!.write(bytes);
    if (written !== bytes.length) throw new Error(`raw write took ${written} of ${bytes.length} bytes`);
  }

  async nextFrame(type: number, timeoutMs = 3_000): Promise<Frame> {
    await waitFor(`a frame of type ${type}`, () => this.frames.some((frame) => frame.type === type) || this.closed, timeoutMs);
    const index = this.frames.findIndex((frame) => frame.type === type);
    if (index < 0) throw new Error(`connection closed before a frame of type ${type} arrived`);
    return this.frames.splice(index, 1)[0]!;
  }
}

export async function rawConnect(port: number): Promise<RawPeer> {
  const peer = new RawPeer();
  const socket = await Bun.connect<undefined>({
    hostname: "127.0.0.1",
    port,
    socket: {
      binaryType: "uint8array",
      data: (_socket, chunk) => peer.onData(chunk),
      close: () => void (peer.closed = true),
    },
  });
  peer.socket = socket;
  released.push(() => socket.terminate());
  return peer;
}

/**
 * A raw TCP client from a chosen local address (127.0.0.2 is another source on loopback), for
 * per-source limits; node:net because Bun.connect cannot bind the local end. Sends nothing.
 */
export async function rawConnectFrom(port: number, localAddress: string): Promise<{ readonly closed: boolean }> {
  const state = { closed: false };
  const socket = netConnect({ host: "127.0.0.1", port, localAddress });
  socket.on("close", () => void (state.closed = true));
  socket.on("error", () => {}); // a reset by the server ends it like a close
  await new Promise<void>((resolve) => {
    socket.once("connect", resolve);
    socket.once("close", resolve);
  });
  released.push(() => void socket.destroy());
  return state;
}

/** A raw listener; `accepted` receives a RawPeer per incoming connection. */
export function rawListen(accepted: (peer: RawPeer) => void): TCPSocketListener<RawPeer | undefined> {
  const listener = Bun.listen<RawPeer | undefined>({
    hostname: "127.0.0.1",
    port: 0,
    data: undefined,
    socket: {
      binaryType: "uint8array",
      open(socket) {
        const peer = new RawPeer();
        peer.socket = socket;
        socket.data = peer;
        accepted(peer);
      },
      data: (socket, chunk) => socket.data?.onData(chunk),
      close: (socket) => void (socket.data && (socket.data.closed = true)),
    },
  });
  released.push(() => listener.stop(true));
  return listener;
}

// ---- the handshake by hand ----

export function introduction(name: string, overrides: Partial<Introduction> = {}): Introduction {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clusterName: "test",
    nodeName: name,
    generation: 1,
    advertisedAddress: "127.0.0.1:1",
    authScheme: AuthScheme.None,
    nonce: newNonce(),
    ...overrides,
  };
}

/** The listener's WELCOME step 1. */
export async function welcomeIntroduction(raw: RawPeer): Promise<Welcome> {
  const welcome = decodeWelcome((await raw.nextFrame(MessageType.Welcome)).body);
  if (welcome.step !== "introduce") throw new Error("expected WELCOME step 1, got the proof step");
  return welcome.introduction;
}

/** Runs the dialer's side by hand up to sending its proof; returns the HELLO frames it sent. */
export async function dialByHand(raw: RawPeer, intro: Introduction, secret?: string): Promise<Uint8Array[]> {
  const hello = encodeHelloIntroduce(intro);
  raw.write(hello);
  const welcome = await welcomeIntroduction(raw);
  const transcript = { dialerNonce: intro.nonce, listenerNonce: welcome.nonce, dialerName: intro.nodeName, listenerName: welcome.nodeName };
  const prove = encodeProve(MessageType.Hello, secret === undefined ? new Uint8Array(0) : computeProof(secret, "hello", transcript));
  raw.write(prove);
  return [hello, prove];
}

/** Stops every transport and closes every raw socket and listener created since the last call. */
export async function closeAll(): Promise<void> {
  const pending = released.splice(0).reverse();
  for (const release of pending) await release();
}
