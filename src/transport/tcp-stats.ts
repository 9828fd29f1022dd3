// Counters of the TCP transport, read through TcpTransport.stats (for /metrics and tests).

export interface TcpTransportStats {
  bytesIn: number;
  /** Bytes the kernel accepted. */
  bytesOut: number;
  /** Frames received, handshake frames included. */
  framesIn: number;
  /** Frames handed to a connection's write queue (handshake frames included). */
  framesOut: number;
  connectionsOpened: number;
  connectionsClosed: number;
  /** Connections this node closed because of the peer; refusedByReason splits them. */
  connectionsRefused: number;
  /** Connections this node closed because of the peer, by reason (e.g. "ClusterMismatch", "MalformedFrame"). */
  refusedByReason: Record<string, number>;
  /** Handshakes the peer ended with an ERROR frame. */
  refusedByPeers: number;
  /** send() calls answered "overloaded". */
  overloads: number;
  /** Connections open right now, handshaking or established. */
  openConnections: number;
  /** The open connections (closing ones included) by state, for /metrics. */
  connectionsByState: Record<"handshaking" | "established" | "closing", number>;
  /** Bytes queued per peer name, on its connection or waiting for one. */
  queueDepthBytes: Record<string, number>;
}

/** The counters kept as they happen; the per-connection figures are computed when read. */
export type TcpCounters = Omit<TcpTransportStats, "openConnections" | "connectionsByState" | "queueDepthBytes">;

export function newCounters(): TcpCounters {
  return {
    bytesIn: 0,
    bytesOut: 0,
    framesIn: 0,
    framesOut: 0,
    connectionsOpened: 0,
    connectionsClosed: 0,
    connectionsRefused: 0,
    refusedByReason: {},
    refusedByPeers: 0,
    overloads: 0,
  };
}
