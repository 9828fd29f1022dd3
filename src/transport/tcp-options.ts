// Options of the TCP transport, their defaults, and "host:port" address handling.

import { DEFAULT_MAX_FRAME_BYTES } from "../codec/index.ts";
import type { Clock } from "../clock.ts";
import type { Random } from "../random.ts";
import type { PlainWindow } from "./admission.ts";
import type { Keyring } from "./keyring.ts";

/** Where log lines go; the CLI passes a consola-backed one, tests a recorder. */
export interface TransportLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface TlsFiles {
  /** PEM file of the cluster CA: peers' certificates must chain to it. */
  caFile: string;
  /** PEM certificate (chain) of this node. */
  certFile: string;
  /** PEM private key of this node. */
  keyFile: string;
  /** Also require the peer certificate's CN or a DNS SAN to equal the node name it announces. */
  requireNameMatch?: boolean;
}

export interface TcpTransportOptions {
  nodeName: string;
  /** Strictly increasing per restart (see DESIGN.md §3). */
  generation: number;
  clusterName: string;
  /** Port 0 binds an ephemeral port; read it back from TcpTransport.port after start(). */
  listen: { host: string; port: number };
  /** "host:port" peers should dial; default the bound host and port. */
  advertiseAddress?: string;
  /** "host:port" of seed nodes, dialled at start and retried until they answer. */
  seeds?: readonly string[];
  /**
   * "host:port" of members a previous run knew (the data directory): dialled at start like seeds,
   * quietly, until any peer is reached; after that, gossip knows the cluster.
   */
  remembered?: readonly string[];
  /** While a seed stays unreachable: at most one log line per this interval. */
  retryLogIntervalMs?: number;
  maxFrameBytes?: number;
  /** Bytes queued per peer past which send() answers "overloaded". */
  writeQueueHighWaterBytes?: number;
  connectTimeoutMs?: number;
  /** From TCP accept or connect to the end of our handshake, TLS included. */
  handshakeTimeoutMs?: number;
  /** Once a frame's first byte has arrived, the whole frame must follow within this; more bytes do not extend it. */
  frameTimeoutMs?: number;
  /** Connections open at once, both directions; an accept beyond it is closed at once. */
  maxConnections?: number;
  /** Handshakes in progress from one source address; an accept beyond it is closed at once. */
  maxPendingHandshakesPerSource?: number;
  /** A connection with no bytes in either direction for this long is closed. */
  idleTimeoutMs?: number;
  /** How long a closing connection (or stop()) waits for its queue to drain before cutting it. */
  closeTimeoutMs?: number;
  /** Initial delay of TCP keep-alive probes; 0 leaves keep-alive off. */
  keepAliveDelayMs?: number;
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Shared cluster secret: peers must prove they know it (HMAC challenge in the handshake). */
  secret?: string;
  /** Encryption keyring (auth scheme 2): peers must hold a key of it, and every frame is sealed. Excludes `secret`. */
  keyring?: Keyring;
  /** With a keyring: also admit peers without encryption, unsealed (admission.ts PlainWindow). */
  plainWindow?: PlainWindow;
  tls?: TlsFiles;
  logger: TransportLogger;
  clock: Clock;
  /** Jitter for reconnect delays. */
  random: Random;
}

export type ResolvedTcpOptions = Required<Omit<TcpTransportOptions, "advertiseAddress" | "secret" | "keyring" | "plainWindow" | "tls">> &
  Pick<TcpTransportOptions, "advertiseAddress" | "secret" | "keyring" | "plainWindow" | "tls">;

export const TCP_DEFAULTS = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  writeQueueHighWaterBytes: 4 * 1024 * 1024,
  connectTimeoutMs: 5_000,
  handshakeTimeoutMs: 5_000,
  frameTimeoutMs: 30_000,
  maxConnections: 1024,
  maxPendingHandshakesPerSource: 16,
  idleTimeoutMs: 60_000,
  closeTimeoutMs: 2_000,
  keepAliveDelayMs: 15_000,
  reconnectBaseMs: 250,
  reconnectMaxMs: 30_000,
  retryLogIntervalMs: 30_000,
} as const;

export function resolveTcpOptions(options: TcpTransportOptions): ResolvedTcpOptions {
  const numbers = { ...TCP_DEFAULTS } as Record<keyof typeof TCP_DEFAULTS, number>;
  for (const key of Object.keys(TCP_DEFAULTS) as (keyof typeof TCP_DEFAULTS)[]) {
    const value = options[key] ?? TCP_DEFAULTS[key];
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`transport option ${key} must be a number >= 0, got ${value}`);
    numbers[key] = value;
  }
  if (numbers.reconnectMaxMs < numbers.reconnectBaseMs) {
    throw new RangeError(`transport option reconnectMaxMs (${numbers.reconnectMaxMs}) is below reconnectBaseMs (${numbers.reconnectBaseMs})`);
  }
  const seeds = options.seeds ?? [];
  for (const seed of seeds) parseAddress(seed);
  // A remembered address that no longer parses (an older build wrote it) is skipped, not fatal.
  const remembered = (options.remembered ?? []).filter((address) => parseAddressOrNull(address) !== null);
  if (options.advertiseAddress !== undefined) parseAddress(options.advertiseAddress);
  return { ...options, ...numbers, seeds, remembered };
}

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "host:port" or "[v6]:port"; throws a RangeError naming the address otherwise. */
export function parseAddress(address: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  if (!match || host === undefined || port < 1 || port > 65535) {
    throw new RangeError(`'${address}' is not a "host:port" address (IPv6 as "[::1]:port")`);
  }
  return { host, port };
}

export function parseAddressOrNull(address: string): HostPort | null {
  try {
    return parseAddress(address);
  } catch {
    return null;
  }
}

/** Bun reports no remote address for a socket the peer already closed: say so instead of failing. */
export function formatAddress(host: string | undefined, port: number | undefined): string {
  if (host === undefined) return "(closed socket)";
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Bun's listen error says only "Failed to listen at <host>": this one names the port and the cause. */
export function listenError(error: unknown, host: string, port: number): Error {
  const { code, message } = error as { code?: string; message: string };
  const cause = code === "EADDRINUSE" ? "the address is already in use (EADDRINUSE)" : code ? `${message} (${code})` : message;
  return Object.assign(new Error(`cannot listen for peers on ${formatAddress(host, port)}: ${cause}`), { code });
}
