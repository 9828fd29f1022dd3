// A TCP relay that puts a slow, lossy link in front of one node, for kernels without tc netem.
// The node advertises the relay's address, so every connection to it, in either direction of
// dialling, crosses the relay once.
//
// What it emulates, honestly: it sits above TCP, so it cannot drop, duplicate or reorder packets
// (the byte stream would break, and TCP hides those from the application anyway). It emulates
// what the application sees of such a link:
//   - delay and jitter: each chunk, in each direction, is held `delayMs ± jitterMs` (uniform),
//     never overtaking the chunk before it (TCP delivers in order, so jitter cannot reorder);
//   - loss: with probability `lossRate` a chunk is held `retransmitMs` longer, the stall a lost
//     segment costs until TCP retransmits it (Linux's minimum retransmission timeout is 200 ms).
// Duplication and reordering are not emulated: above TCP they do not exist.

import { createServer, connect, type Server, type Socket } from "node:net";

export interface LinkFaults {
  delayMs: number;
  jitterMs: number;
  lossRate: number;
  retransmitMs: number;
}

export interface RelayCounters {
  connections: number;
  chunks: number;
  bytes: number;
  /** Chunks held back as if lost and retransmitted. */
  stalls: number;
}

export class LinkRelay {
  readonly counters: RelayCounters = { connections: 0, chunks: 0, bytes: 0, stalls: 0 };
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<Timer>();

  private constructor(
    private readonly target: { host: string; port: number },
    private readonly faults: LinkFaults,
  ) {
    this.server = createServer((client) => this.accept(client));
  }

  /** Listens on host (an ephemeral port) and forwards every connection to target. */
  static async start(host: string, target: { host: string; port: number }, faults: LinkFaults): Promise<LinkRelay> {
    const relay = new LinkRelay(target, faults);
    await new Promise<void>((resolve, reject) => {
      relay.server.once("error", reject);
      relay.server.listen(0, host, () => resolve());
    });
    return relay;
  }

  get address(): string {
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("the relay is not listening");
    return `${address.address}:${address.port}`;
  }

  /** Closes the listener and every relayed connection; pending chunks are dropped. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.counters.connections++;
    const upstream = connect(this.target.port, this.target.host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      // One side failing ends the other: the peer sees the connection drop, as it would.
      socket.on("error", () => (client.destroy(), upstream.destroy()));
    }
    this.pipe(client, upstream);
    this.pipe(upstream, client);
  }

  /** Forwards from → to with the link's delay, jitter and loss stalls, in order. */
  private pipe(from: Socket, to: Socket): void {
    let lastDeliveryAt = 0;
    const at = (deliverAt: number, action: () => void) => {
      lastDeliveryAt = Math.max(lastDeliveryAt, deliverAt);
      const timer = setTimeout(() => (this.timers.delete(timer), action()), Math.max(0, lastDeliveryAt - performance.now()));
      this.timers.add(timer);
    };
    from.on("data", (chunk: Buffer) => {
      const { delayMs, jitterMs, lossRate, retransmitMs } = this.faults;
      const lost = Math.random() < lossRate;
      this.counters.chunks++;
      this.counters.bytes += chunk.length;
      if (lost) this.counters.stalls++;
      at(performance.now() + delayMs + (Math.random() * 2 - 1) * jitterMs + (lost ? retransmitMs : 0), () => {
        if (!to.destroyed) to.write(chunk);
      });
    });
    from.on("end", () => at(performance.now(), () => to.end()));
    from.on("close", () => at(performance.now(), () => to.destroy()));
  }
}
