// An in-memory network for the simulator: every node gets a Transport whose frames travel as
// real encoded bytes, with seeded loss, latency and partitions, timed by a VirtualClock.
//
// Admission is the TCP transport's: the first time two nodes talk, they run the same handshake
// (admission.ts) over encoded frames, as dialer and listener, and a refused pair stays
// unreachable. Like a TCP connection, one admitted pair carries frames both ways; the handshake
// itself is instantaneous and lossless (it stands for the connection set-up).

import { FrameDecoder, type Frame } from "../codec/index.ts";
import type { Random } from "../random.ts";
import { type AdmissionHooks, type GenerationGap, Handshake, type HandshakeOutcome, type LocalIdentity, type Refusal } from "./admission.ts";
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

/** What a simulated node announces in its handshakes; each field has a default. */
export interface MemoryIdentity {
  clusterName?: string;
  /** Default: one more than the previous transport created on this network. */
  generation?: number;
  secret?: string;
}

/** The cluster name simulated nodes announce unless told otherwise. */
export const SIMULATION_CLUSTER = "simulation";

interface Member {
  local: LocalIdentity;
  /** Peers this node completed a handshake with: their connection, by name. */
  admitted: Map<string, Connection>;
}

/**
 * An admitted pair, as one side holds it. Tied to the peer's incarnation, not to its current
 * generation: a node that renews its identity keeps its connections, as over TCP, where only
 * later handshakes announce the renewed generation.
 */
interface Connection {
  readonly peer: Member;
  /** The generation the peer announced in the handshake. */
  readonly generation: number;
}

export class MemoryNetwork {
  private readonly hosts = new Map<string, TransportHost>();
  private readonly members = new Map<string, Member>();
  private generations = 0;
  /** Directed links that drop everything: "from\u0000to". */
  private readonly blocked = new Set<string>();
  readonly stats = new Map<string, LinkStats>();

  constructor(
    readonly clock: VirtualClock,
    private readonly random: Random,
    public options: MemoryNetworkOptions,
  ) {}

  transport(name: string, seeds: readonly string[] = [], identity: MemoryIdentity = {}): Transport {
    const generation = identity.generation ?? ++this.generations;
    this.generations = Math.max(this.generations, generation);
    const local = { clusterName: identity.clusterName ?? SIMULATION_CLUSTER, nodeName: name, generation, secret: identity.secret };
    this.members.set(name, { local, admitted: new Map() });
    return new MemoryTransport(this, name, seeds);
  }

  /**
   * Whether `from` may send to `to`: true once they completed a handshake (either side dialling);
   * otherwise `from` dials now. A refusal is reported to both hosts, as TCP reports it.
   */
  admits(from: string, to: string): boolean {
    const dialer = this.members.get(from);
    const listener = this.members.get(to);
    if (!dialer || !listener) return false;
    if (dialer.admitted.get(to)?.peer === listener) return true;
    const result = handshake(dialer, listener, (name) => this.hosts.get(name));
    if (!("refusal" in result)) {
      dialer.admitted.set(to, { peer: listener, generation: listener.local.generation });
      listener.admitted.set(from, { peer: dialer, generation: dialer.local.generation });
      // Reported after this send, as TCP reports them from its socket callback, not inside a send.
      for (const [name, gap] of result.gaps) this.clock.setTimer(0, () => this.hosts.get(name)?.onGenerationGap?.(gap));
      return true;
    }
    const [refuser, refused] = result.by === "listener" ? [to, from] : [from, to];
    const reason = result.refusal.message;
    this.hosts.get(refuser)?.onRefused?.(`memory:${refused}`, refused, reason);
    this.hosts.get(refused)?.onRefused?.(`memory:${refuser}`, refuser, `peer refused the connection: "${reason}"`);
    return false;
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

  /** @internal A seed that is running must admit us; one that is not yet is assumed to. */
  admitsSeed(name: string, seed: string): boolean {
    return !this.hosts.has(seed) || this.admits(name, seed);
  }

  /** @internal */
  renewGeneration(name: string, generation: number): void {
    const member = this.members.get(name);
    if (member) member.local.generation = generation;
  }

  /** @internal */
  attach(name: string, host: TransportHost | null): void {
    if (host) return void this.hosts.set(name, host);
    this.hosts.delete(name);
    // A node that stops or crashes loses its connections, as TCP's close when a process dies: a
    // restart is then not refused as an old incarnation (a lower generation) of itself.
    for (const member of this.members.values()) member.admitted.delete(name);
  }

  /** @internal */
  deliver(from: string, to: string, frames: Uint8Array): SendResult {
    if (!this.hosts.has(to) || !this.admits(from, to)) return "unreachable";
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
    for (const seed of this.seeds) {
      // A seed that is not running yet is dialled at the first send, as TCP retries seeds.
      if (seed !== this.name && this.network.admitsSeed(this.name, seed)) host.onPeerUp(seed, `memory:${seed}`);
    }
  }

  send(peer: string, frames: Uint8Array): SendResult {
    return this.network.deliver(this.name, peer, frames);
  }

  async stop(): Promise<void> {
    this.network.attach(this.name, null);
  }

  renewGeneration(generation: number): void {
    this.network.renewGeneration(this.name, generation);
  }
}

type HandshakeResult = { by: "dialer" | "listener"; refusal: Refusal } | { gaps: [string, GenerationGap][] };

/** Runs a whole handshake between two members over encoded frames; `gaps`, by the host to tell, when both admitted. */
function handshake(dialerMember: Member, listenerMember: Member, hostOf: (name: string) => TransportHost | undefined): HandshakeResult {
  const hooksOf = (member: Member): AdmissionHooks => ({
    connectedGeneration: (name: string) => member.admitted.get(name)?.generation,
    remembered: (name: string) => hostOf(member.local.nodeName)?.remembered?.(name),
    ownProgress: () => hostOf(member.local.nodeName)?.ownProgress?.() ?? { heartbeat: 0, maxVersion: 0 },
    clusterConfig: () => hostOf(member.local.nodeName)?.clusterConfig?.() ?? null,
  });
  const { nodeName: dialerName } = dialerMember.local;
  const { nodeName: listenerName } = listenerMember.local;
  const sides = {
    dialer: new Handshake("dialer", dialerMember.local, `memory:${dialerName}`, `memory:${listenerName}`, hooksOf(dialerMember)),
    listener: new Handshake("listener", listenerMember.local, `memory:${listenerName}`, `memory:${dialerName}`, hooksOf(listenerMember)),
  };
  let bytes: Uint8Array | null = sides.dialer.hello();
  let receiver: "dialer" | "listener" = "listener";
  // Four messages at most; the bound only guards against a bug looping forever.
  for (let step = 0; step < 8 && bytes !== null; step++) {
    const frames: Frame[] = [];
    new FrameDecoder().push(bytes, (frame) => frames.push(frame));
    const outcome: HandshakeOutcome = sides[receiver].receive(frames[0]!);
    if (outcome.kind === "refused") return { by: receiver, refusal: outcome.refusal };
    if (outcome.kind === "established" && sides.dialer.done && sides.listener.done) {
      return { gaps: [...sides.dialer.generationGaps().map((gap): [string, GenerationGap] => [dialerName, gap]), ...sides.listener.generationGaps().map((gap): [string, GenerationGap] => [listenerName, gap])] };
    }
    // No ERROR is ever sent here (a refusal returns above), so "peer-refused" cannot occur.
    bytes = outcome.kind === "peer-refused" ? null : outcome.send;
    receiver = receiver === "dialer" ? "listener" : "dialer";
  }
  throw new Error(`handshake between ${dialerName} and ${listenerName} did not finish`);
}
