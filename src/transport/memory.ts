// An in-memory network for the simulator: every node gets a Transport whose frames travel as
// real encoded bytes, with seeded loss, latency and partitions, timed by a VirtualClock.

import { FrameDecoder, type Frame } from "../codec/index.ts";
import type { Random } from "../random.ts";
import type { SendResult, Transport, TransportHost } from "./transport.ts";
import type { VirtualClock } from "./virtual-clock.ts";

export interface MemoryNetworkOptions {
  /** Probability that a send is lost, 0..1. */
  lossRate: number;
  minLatencyMs: number;
  maxLatencyMs: number;
  /** Probability that a delivered send arrives twice, each copy with its own latency (default 0). */
  duplicateRate?: number;
}

export interface LinkStats {
  bytesOut: number;
  messagesOut: number;
  bytesIn: number;
  messagesIn: number;
}

export class MemoryNetwork {
  private readonly hosts = new Map<string, TransportHost>();
  /** Directed links that drop everything: "from\u0000to". */
  private readonly blocked = new Set<string>();
  readonly stats = new Map<string, LinkStats>();

  constructor(
    readonly clock: VirtualClock,
    private readonly random: Random,
    public options: MemoryNetworkOptions,
  ) {}

  transport(name: string, seeds: readonly string[] = []): Transport {
    return new MemoryTransport(this, name, seeds);
  }

  /** Cuts every link between the two sets, in both directions. */
  partition(groupA: readonly string[], groupB: readonly string[]): void {
    for (const a of groupA) for (const b of groupB) {
      this.blocked.add(`${a}\u0000${b}`);
      this.blocked.add(`${b}\u0000${a}`);
    }
  }

  /** Cuts links in one direction only: messages from `from` to `to` are lost. */
  blockOneWay(from: readonly string[], to: readonly string[]): void {
    for (const a of from) for (const b of to) this.blocked.add(`${a}\u0000${b}`);
  }

  /**
   * Opens a connection between two attached nodes, as TCP does when a node dials a seed that
   * (re)started, or a (re)started node dials its seeds: each side learns of the other (onPeerUp).
   */
  connect(a: string, b: string): void {
    this.hosts.get(a)?.onPeerUp(b, `memory:${b}`);
    this.hosts.get(b)?.onPeerUp(a, `memory:${a}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  statsOf(name: string): LinkStats {
    let stats = this.stats.get(name);
    if (!stats) {
      stats = { bytesOut: 0, messagesOut: 0, bytesIn: 0, messagesIn: 0 };
      this.stats.set(name, stats);
    }
    return stats;
  }

  /** @internal */
  attach(name: string, host: TransportHost | null): void {
    if (host) this.hosts.set(name, host);
    else this.hosts.delete(name);
  }

  /** @internal */
  deliver(from: string, to: string, frames: Uint8Array): SendResult {
    if (!this.hosts.has(to)) return "unreachable";
    const sender = this.statsOf(from);
    sender.bytesOut += frames.length;
    sender.messagesOut++;
    if (this.blocked.has(`${from}\u0000${to}`) || this.random.next() < this.options.lossRate) return "queued";
    const copies = this.options.duplicateRate && this.random.next() < this.options.duplicateRate ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) this.arrive(from, to, frames);
    return "queued";
  }

  private arrive(from: string, to: string, frames: Uint8Array): void {
    const { minLatencyMs, maxLatencyMs } = this.options;
    const latency = minLatencyMs + this.random.next() * (maxLatencyMs - minLatencyMs);
    this.clock.setTimer(latency, () => {
      const host = this.hosts.get(to);
      if (!host) return;
      const receiver = this.statsOf(to);
      receiver.bytesIn += frames.length;
      receiver.messagesIn++;
      const received: Frame[] = [];
      new FrameDecoder().push(frames, (frame) => received.push(frame));
      for (const frame of received) host.onFrame(from, frame);
    });
  }
}

class MemoryTransport implements Transport {
  constructor(
    private readonly network: MemoryNetwork,
    private readonly name: string,
    private readonly seeds: readonly string[],
  ) {}

  async start(host: TransportHost): Promise<void> {
    this.network.attach(this.name, host);
    for (const seed of this.seeds) if (seed !== this.name) host.onPeerUp(seed, `memory:${seed}`);
  }

  send(peer: string, frames: Uint8Array): SendResult {
    return this.network.deliver(this.name, peer, frames);
  }

  async stop(): Promise<void> {
    this.network.attach(this.name, null);
  }
}
