import { describe, expect, test } from "bun:test";
import { RepeatingTimer } from "../src/clock.ts";
import { DecodeError } from "../src/codec/errors.ts";
import { FrameDecoder } from "../src/codec/decoder.ts";
import { MessageType } from "../src/codec/frame.ts";
import { FrameWriter } from "../src/codec/writer.ts";
import { LocalHealth } from "../src/membership/local-health.ts";
import {
  Membership,
  defaultMembershipSettings,
  type MembershipSettings,
  type Transition,
  type TransitionKind,
} from "../src/membership/membership.ts";
import { ringSuccessors } from "../src/membership/monitor-ring.ts";
import type { PhiSettings } from "../src/membership/phi.ts";
import {
  decodeLeave,
  decodePing,
  decodePong,
  decodeProbe,
  decodeProbeAck,
  writeLeave,
  writePing,
  writePong,
  writeProbe,
  writeProbeAck,
} from "../src/codec/probe-messages.ts";
import { createRandom } from "../src/random.ts";
import { applyDigest, ClusterState, defaultStateLimits, RemovedNodes } from "../src/state/index.ts";
import type { DigestEntry } from "../src/codec/index.ts";
import { VirtualClock } from "../src/transport/virtual-clock.ts";

// ---------------------------------------------------------------------------------------------
// A tiny in-process cluster. Every INTERVAL_MS a round runs: each running node's heartbeat
// reaches every other node as a digest entry, applied to the observer's real ClusterState (so
// removed nodes and readmission go the wired node's way), here without delay; then every node
// runs check(). Frames between nodes go through a FrameDecoder and arrive LATENCY_MS later.
// Failure modes: a crashed node refuses connections (send returns false); a frozen (hung) node
// accepts frames but never runs: it neither answers, beats, checks nor sends; blackholed links lose frames; lost heartbeats model
// a broken gossip path from one node to another; a stalled node queues everything until the stall
// ends, as a blocked event loop leaves frames in socket buffers.
// ---------------------------------------------------------------------------------------------

const INTERVAL_MS = 1000;
const LATENCY_MS = 2;
const HEALTH_TICK_MS = 100;

interface ObservedTransition extends Transition {
  observer: string;
}

interface SentFrame {
  from: string;
  to: string;
  type: number;
  /** 0 for frames that expect no answer (a verdict is a PROBE with id 0). */
  correlationId: number;
  at: number;
}

interface TestNode {
  name: string;
  generation: number;
  membership: Membership;
  state: ClusterState;
  health: LocalHealth;
  running: boolean;
  frozen: boolean;
  stalled: boolean;
  queued: Array<() => void>;
  lastHealthTick: number;
  removeCalls: string[];
}

const ALLOWED_NEXT: Record<string, TransitionKind[]> = {
  // A node first heard of as left is reported only when removed.
  none: ["joined", "removed"],
  alive: ["suspect", "left", "joined"],
  suspect: ["alive", "dead", "left", "joined"],
  dead: ["alive", "left", "joined", "removed"],
  left: ["removed", "joined"],
  // A node readmitted after its removal that never answers is removed again.
  removed: ["joined", "removed"],
};

const STATUS_AFTER: Record<TransitionKind, string> = {
  joined: "alive",
  suspect: "suspect",
  alive: "alive",
  dead: "dead",
  left: "left",
  removed: "removed",
};

class Harness {
  readonly clock = new VirtualClock();
  readonly nodes = new Map<string, TestNode>();
  readonly records: ObservedTransition[] = [];
  readonly sent: SentFrame[] = [];
  /** Frames from→to that are lost: "from>to". */
  readonly blackholes = new Set<string>();
  /** One-way latency of particular links ("from>to"); LATENCY_MS elsewhere. */
  readonly linkLatency = new Map<string, number>();
  /** Heartbeats of a node that never reach an observer: "node>observer". */
  readonly heartbeatsLost = new Set<string>();
  /** Direct heartbeat frames (PONGs with id 0) that are lost on a link: "from>to". */
  readonly heartbeatFramesLost = new Set<string>();
  /** Broken rules of the lifecycle, found as records arrive. */
  readonly violations: string[] = [];
  private readonly lastStatus = new Map<string, { status: string; generation: number }>();
  private readonly rounds: RepeatingTimer;
  private seed = 1;

  constructor(
    names: string[],
    readonly settings: MembershipSettings = defaultMembershipSettings,
  ) {
    for (const name of names) this.addNode(name, 1);
    // Discovery: every node learns every other from a digest.
    for (const observer of this.nodes.values()) {
      for (const other of this.nodes.values()) {
        if (other !== observer) this.deliverDigest(observer.name, this.digestEntryOf(other));
      }
    }
    this.rounds = new RepeatingTimer(this.clock, INTERVAL_MS, () => this.round());
    this.rounds.start();
  }

  node(name: string): TestNode {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }

  runUntil(ms: number): void {
    this.clock.runUntil(ms);
  }

  /** Replaces a node by a fresh process with a higher generation. */
  restart(name: string): void {
    const old = this.node(name);
    old.running = false;
    // The new process starts with an empty view of its own.
    for (const key of [...this.lastStatus.keys()]) if (key.startsWith(`${name}>`)) this.lastStatus.delete(key);
    this.addNode(name, old.generation + 1);
  }

  crash(name: string): void {
    this.node(name).running = false;
  }

  stall(name: string): void {
    this.node(name).stalled = true;
  }

  /**
   * Ends a stall the way a real event loop resumes: the lag timer reports the stall, the overdue
   * round runs check() before the queued frames and heartbeats are read (the worst order), and
   * then the backlog is processed (unless deliverBacklog is false).
   */
  endStall(name: string, deliverBacklog = true): boolean {
    const node = this.node(name);
    node.stalled = false;
    const now = this.clock.now();
    const stalled = node.health.tick(node.lastHealthTick + HEALTH_TICK_MS, now);
    node.lastHealthTick = now;
    if (node.running) node.membership.check();
    if (deliverBacklog) this.deliverBacklog(name);
    return stalled;
  }

  /** The digest entry a node's own state reports of it now. */
  digestEntryOf(node: TestNode): DigestEntry {
    return { node: node.name, generation: node.generation, heartbeat: node.state.heartbeatOf(node.name), maxVersion: 0, collectedUpTo: 0 };
  }

  /** A digest entry reaches `observer`: applied to its state, what it learned told to its membership. */
  deliverDigest(observer: string, entry: DigestEntry): void {
    const node = this.node(observer);
    const outcome = applyDigest(node.state, [entry]);
    // As the wired node does (node.ts): discoveries with the held generation, then heartbeats.
    const generation = (name: string): number => node.state.nodes.get(name)?.generation ?? 0;
    for (const name of outcome.discovered) node.membership.observe(name, generation(name));
    for (const name of outcome.heartbeats) node.membership.heartbeat(name, generation(name));
  }

  deliverBacklog(name: string): void {
    const node = this.node(name);
    const backlog = node.queued.splice(0);
    for (const work of backlog) work();
  }

  /** Records about `subject` made by `observer`, in order. */
  recordsOf(observer: string, subject: string): ObservedTransition[] {
    return this.records.filter((r) => r.observer === observer && r.node === subject);
  }

  kindsOf(observer: string, subject: string): TransitionKind[] {
    return this.recordsOf(observer, subject).map((r) => r.kind);
  }

  firstAt(observer: string, subject: string, kind: TransitionKind): number | undefined {
    return this.recordsOf(observer, subject).find((r) => r.kind === kind)?.at;
  }

  sentFrames(type: number, filter: Partial<SentFrame> = {}): SentFrame[] {
    return this.sent.filter(
      (f) =>
        f.type === type &&
        (filter.from === undefined || f.from === filter.from) &&
        (filter.to === undefined || f.to === filter.to) &&
        (filter.correlationId === undefined || f.correlationId === filter.correlationId),
    );
  }

  /** PROBEs that ask a helper to ping (verdicts, PROBEs with id 0, left out). */
  probeRequests(filter: Partial<SentFrame> = {}): SentFrame[] {
    return this.sentFrames(MessageType.Probe, filter).filter((f) => f.correlationId !== 0);
  }

  others(name: string): TestNode[] {
    return [...this.nodes.values()].filter((node) => node.name !== name);
  }

  private addNode(name: string, generation: number): TestNode {
    const clock = this.clock;
    const health = new LocalHealth();
    const state = new ClusterState(name, generation, clock, { tombstoneGraceMs: 3_600_000, limits: defaultStateLimits });
    const node: TestNode = {
      name,
      generation,
      health,
      state,
      membership: null as unknown as Membership,
      running: true,
      frozen: false,
      stalled: false,
      queued: [],
      lastHealthTick: clock.now(),
      removeCalls: [],
    };
    node.membership = new Membership(
      name,
      clock,
      createRandom(this.seed++),
      this.settings,
      health,
      {
        send: (peer, frame) => this.send(name, peer, frame),
        onTransition: (transition) => this.record(node, transition),
        removeNode: (removed, generation, as, rememberForMs) => {
          node.removeCalls.push(removed);
          state.removeNode(removed, generation, as, rememberForMs);
        },
        removed: state.removed,
      },
      generation,
    );
    const healthTicks = new RepeatingTimer(clock, HEALTH_TICK_MS, () => {
      if (node.stalled || !node.running) return;
      health.tick(node.lastHealthTick + HEALTH_TICK_MS, clock.now());
      node.lastHealthTick = clock.now();
    });
    healthTicks.start();
    this.nodes.set(name, node);
    return node;
  }

  private round(): void {
    const nodes = [...this.nodes.values()];
    for (const source of nodes) {
      if (!source.running || source.frozen || source.stalled) continue;
      source.state.bumpHeartbeat();
      const entry = this.digestEntryOf(source);
      for (const observer of nodes) {
        if (observer === source || !observer.running) continue;
        if (this.heartbeatsLost.has(`${source.name}>${observer.name}`)) continue;
        // A new generation is a discovery, otherwise a heartbeat advance.
        this.on(observer, () => this.deliverDigest(observer.name, entry));
      }
    }
    for (const node of nodes) {
      if (!node.running || node.stalled || node.frozen) continue;
      node.membership.check();
      node.state.sweep(); // forgets removals whose memory ran out
    }
  }

  /** Runs work on a node now, or after its stall. */
  private on(node: TestNode, work: () => void): void {
    if (node.stalled) node.queued.push(work);
    else work();
  }

  /** What a node's transport does with a frame: false when the peer refuses the connection. */
  send(fromName: string, to: string, frame: Uint8Array): boolean {
    const from = this.node(fromName);
    const target = this.nodes.get(to);
    if (!target || !target.running) return false; // connection refused
    if (from.frozen) return true; // a hung process's timers may fire here, but nothing leaves it
    const correlationId = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(8);
    this.sent.push({ from: from.name, to, type: frame[5]!, correlationId, at: this.clock.now() });
    if (this.blackholes.has(`${from.name}>${to}`)) return true;
    if (this.heartbeatFramesLost.has(`${from.name}>${to}`) && frame[5] === MessageType.Pong && correlationId === 0) return true;
    this.clock.setTimer(this.linkLatency.get(`${from.name}>${to}`) ?? LATENCY_MS, () => {
      // A frame in flight to a process that has since been replaced dies with the old process.
      if (!target.running || target.frozen || this.nodes.get(to) !== target) return;
      this.on(target, () => {
        new FrameDecoder().push(frame, (decoded) => {
          const handled = target.membership.handleFrame(from.name, decoded.type, decoded.correlationId, decoded.body);
          if (!handled) this.violations.push(`frame type ${decoded.type} not handled`);
        });
      });
    });
    return true;
  }

  private record(observer: TestNode, transition: Transition): void {
    this.records.push({ ...transition, observer: observer.name });
    const key = `${observer.name}>${transition.node}`;
    const previous = this.lastStatus.get(key) ?? { status: "none", generation: -1 };
    const allowed = ALLOWED_NEXT[previous.status] ?? [];
    const where = `${observer.name} about ${transition.node} at ${transition.at}`;
    if (!allowed.includes(transition.kind)) {
      this.violations.push(`${where}: ${transition.kind} after ${previous.status}`);
    }
    if (transition.kind === "joined") {
      const sameGenerationAllowed = previous.status === "none" || previous.status === "removed";
      if (transition.generation < previous.generation || (transition.generation === previous.generation && !sameGenerationAllowed)) {
        this.violations.push(`${where}: joined at generation ${transition.generation} after ${previous.generation}`);
      }
    } else if (transition.generation !== previous.generation) {
      this.violations.push(`${where}: ${transition.kind} changed the generation`);
    }
    if (transition.at !== this.clock.now()) this.violations.push(`${where}: record time is not the clock's`);
    this.lastStatus.set(key, { status: STATUS_AFTER[transition.kind], generation: transition.generation });
  }
}

// Independent model of the conviction delay (Akka's logistic phi): phi(y) = log10(1 + e^a) with
// a = 1.5976 y + 0.070566 y³ reaches the threshold at a = ln(10^threshold - 1), solved for y with
// Cardano's formula.
function convictionDelayMs(phi: PhiSettings, meanMs: number, stdMs: number): number {
  const a = Math.log(10 ** phi.threshold - 1);
  const p = 1.5976 / 0.070566;
  const q = -a / 0.070566;
  const root = Math.sqrt((q / 2) ** 2 + (p / 3) ** 3);
  const y = Math.cbrt(-q / 2 + root) + Math.cbrt(-q / 2 - root);
  return meanMs + phi.acceptablePauseMs + y * Math.max(stdMs, phi.minStdDeviationMs);
}

function settingsWith(overrides: Partial<MembershipSettings>): MembershipSettings {
  return { ...defaultMembershipSettings, ...overrides };
}

function frame(build: (writer: FrameWriter) => void): { type: number; correlationId: number; body: Uint8Array } {
  const writer = new FrameWriter(64);
  build(writer);
  let decoded: { type: number; correlationId: number; body: Uint8Array } | undefined;
  new FrameDecoder().push(writer.finish(), (f) => (decoded = { type: f.type, correlationId: f.correlationId, body: f.body }));
  if (!decoded) throw new Error("no frame written");
  return decoded;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

const FIVE = ["a", "b", "c", "d", "e"];

// Nobody pings anybody every round: suspicion comes from gossiped heartbeats only, the fallback
// path for nodes no monitor watches. Tests of that path, and of the probe round behind every
// suspicion, run with these settings so that direct PONGs do not mask what they look at.
const GOSSIP_ONLY = settingsWith({ monitorsPerNode: 0 });

// ---------------------------------------------------------------------------------------------

describe("Membership: failure detection through gossiped heartbeats", () => {
  // Regular 1 s heartbeats keep the window's mean at exactly the seeded estimate (1000 ms, the
  // seeds being 750 and 1250) and its σ below the floor after 11 beats, so the model is
  // N(1000 + pause, minStd²).
  const crossingMs = convictionDelayMs(defaultMembershipSettings.phi, INTERVAL_MS, 0);

  // Defaults without the direct watch, and a slower profile where every bound is set apart from
  // the gossip interval.
  const profiles: Array<[string, MembershipSettings]> = [
    ["default settings", GOSSIP_ONLY],
    [
      "threshold 12, pause 1 s, k = 2, probe 700 ms, suspect 3.5 s",
      settingsWith({
        phi: { ...defaultMembershipSettings.phi, threshold: 12, acceptablePauseMs: 1000, minStdDeviationMs: 300 },
        monitorsPerNode: 0,
        probeFanout: 2,
        probeTimeoutMs: 700,
        suspectTimeoutMs: 3500,
      }),
    ],
  ];
  const cases = profiles.flatMap(([profile, settings]) => (["hung", "crashed"] as const).map((failure) => ({ profile, settings, failure })));

  for (const { profile, settings, failure } of cases) {
    test(`a ${failure} node goes suspect then dead on all others, within the bounds the settings give (${profile})`, () => {
      const h = new Harness(FIVE, settings);
      const crossingMs = convictionDelayMs(settings.phi, INTERVAL_MS, 0);
      const probeRoundMs = 2 * settings.probeTimeoutMs;
      const lastBeat = 30_000;
      h.runUntil(lastBeat); // d's last heartbeat goes out in the round at 30 000
      if (failure === "hung") h.node("d").frozen = true;
      else h.crash("d");
      h.runUntil(lastBeat + 20_000);

      for (const observer of ["a", "b", "c", "e"]) {
        expect(h.kindsOf(observer, "d")).toEqual(["joined", "suspect", "dead"]);
        const suspectAt = h.firstAt(observer, "d", "suspect")!;
        const deadAt = h.firstAt(observer, "d", "dead")!;
        // Suspected at the first check after phi crosses the threshold.
        expect(suspectAt).toBeGreaterThanOrEqual(lastBeat + crossingMs);
        expect(suspectAt).toBeLessThanOrEqual(lastBeat + crossingMs + INTERVAL_MS);
        // Dead no earlier than the suspect timeout, once the probe round started then failed too.
        expect(deadAt - suspectAt).toBeGreaterThanOrEqual(settings.suspectTimeoutMs);
        expect(deadAt - suspectAt).toBeLessThanOrEqual(Math.max(settings.suspectTimeoutMs, probeRoundMs) + probeRoundMs);
        const suspect = h.recordsOf(observer, "d").find((r) => r.kind === "suspect")!;
        expect(suspect.phi).toBeGreaterThanOrEqual(settings.phi.threshold);
        expect(h.node(observer).membership.status("d")).toBe("dead");
        expect(h.node(observer).membership.deadPeers()).toEqual(["d"]);
        expect(h.node(observer).membership.livePeers()).not.toContain("d");
        // Each of the suspicion's two rounds asked probeFanout helpers, which excludes the target
        // and the asker.
        const probes = h.probeRequests({ from: observer });
        const rounds = Map.groupBy(probes, (p) => p.at);
        expect([...rounds.keys()]).toEqual([suspectAt, suspectAt + settings.suspectTimeoutMs]);
        for (const round of rounds.values()) expect(new Set(round.map((p) => p.to)).size).toBe(settings.probeFanout);
        expect(probes.some((p) => p.to === "d" || p.to === observer)).toBe(false);
      }
      // Nobody else was ever suspected.
      expect(h.records.filter((r) => r.node !== "d" && r.kind !== "joined")).toEqual([]);
      // Every request and helper ping was answered or timed out: nothing left pending.
      for (const node of h.nodes.values()) expect(node.membership.pendingRequests).toBe(0);
      expect(h.violations).toEqual([]);
    });
  }

  test("the crossing time the bounds use matches the detector", () => {
    // Guards the test's model against drifting from the detector it bounds.
    const h = new Harness(["a", "b"], GOSSIP_ONLY);
    h.runUntil(30_000);
    h.crash("b");
    let at = 30_000;
    const a = h.node("a").membership;
    const threshold = defaultMembershipSettings.phi.threshold;
    while (a.members()[0]!.phi < threshold) h.runUntil(++at);
    expect(Math.abs(at - 30_000 - crossingMs)).toBeLessThanOrEqual(1);
  });

  test("a node never talked to directly is still watched through gossiped heartbeats", () => {
    const h = new Harness(FIVE, GOSSIP_ONLY);
    // No frame ever travels between a and e; a learns of e's heartbeats only through gossip.
    h.blackholes.add("a>e").add("e>a");
    h.runUntil(20_000);
    const view = h.node("a").membership.members().find((m) => m.name === "e")!;
    expect(view).toMatchObject({ status: "alive", generation: 1, lastHeartbeatAgeMs: 0 });
    expect(view.phi).toBeLessThan(1);
    h.node("e").frozen = true;
    h.runUntil(23_000);
    const rising = h.node("a").membership.members().find((m) => m.name === "e")!;
    expect(rising.lastHeartbeatAgeMs).toBe(3000);
    expect(rising.phi).toBeGreaterThan(view.phi);
    expect(h.node("a").membership.members().map((m) => m.name)).toEqual(["b", "c", "d", "e"]);
  });

  test("an answered indirect probe refutes the suspicion: the node stays alive", () => {
    const h = new Harness(FIVE, GOSSIP_ONLY);
    // d's heartbeats stop reaching a, and a cannot reach d directly, but b, c and e can.
    h.heartbeatsLost.add("d>a");
    h.blackholes.add("a>d");
    h.runUntil(60_500); // not on a check: the latest suspicion has been answered
    const kinds = h.kindsOf("a", "d");
    expect(kinds).not.toContain("dead");
    expect(kinds[0]).toBe("joined");
    expect(kinds.filter((k) => k === "suspect").length).toBeGreaterThanOrEqual(5);
    // Each suspicion ended by an answer: suspect and alive alternate.
    expect(kinds.slice(1)).toEqual(kinds.slice(1).map((_, i) => (i % 2 === 0 ? "suspect" : "alive")));
    // The refutations came from helpers that pinged d on a's behalf.
    expect(h.sentFrames(MessageType.ProbeAck, { to: "a" }).length).toBeGreaterThan(0);
    expect(h.sentFrames(MessageType.Ping, { to: "d" }).filter((f) => f.from !== "a").length).toBeGreaterThan(0);
    // Each refutation came within one probe timeout plus the helpers' hops.
    const records = h.recordsOf("a", "d");
    for (let i = 1; i + 1 < records.length; i += 2) {
      expect(records[i + 1]!.at - records[i]!.at).toBeLessThanOrEqual(defaultMembershipSettings.probeTimeoutMs);
    }
    for (const observer of ["b", "c", "e"]) expect(h.kindsOf(observer, "d")).toEqual(["joined"]);
    expect(h.node("a").membership.status("d")).toBe("alive");
    expect(h.violations).toEqual([]);
  });

  test("control: when no helper can reach the target either, the same suspicion ends in dead", () => {
    const h = new Harness(FIVE, GOSSIP_ONLY);
    h.heartbeatsLost.add("d>a");
    for (const from of ["a", "b", "c", "e"]) h.blackholes.add(`${from}>d`);
    h.runUntil(60_000);
    expect(h.kindsOf("a", "d")).toEqual(["joined", "suspect", "dead"]);
    // The others still hear d's heartbeats, so only a's verdict makes them suspect it; they
    // cannot reach d either, so their own check confirms it.
    const deadAt = h.firstAt("a", "d", "dead")!;
    for (const observer of ["b", "c", "e"]) {
      expect(h.kindsOf(observer, "d")).toEqual(["joined", "suspect", "dead"]);
      expect(h.firstAt(observer, "d", "suspect")).toBe(deadAt + LATENCY_MS);
    }
    // Gossip keeps bringing d's heartbeats; each time the revival ping is lost, so d stays dead.
    expect(h.sentFrames(MessageType.Ping, { from: "b", to: "d" }).length).toBeGreaterThan(10);
    expect(h.violations).toEqual([]);
  });

  test("dead waits for the probe round even when the suspect timeout is shorter", () => {
    // The helpers' paths to d are slow (1.2 s each way) but work; the probe timeout allows it.
    const h = new Harness(FIVE, settingsWith({ monitorsPerNode: 0, suspectTimeoutMs: 0, probeTimeoutMs: 3000 }));
    h.heartbeatsLost.add("d>a");
    h.blackholes.add("a>d");
    for (const helper of ["b", "c", "e"]) {
      h.linkLatency.set(`${helper}>d`, 1200);
      h.linkLatency.set(`d>${helper}`, 1200);
    }
    h.runUntil(30_000);
    const kinds = h.kindsOf("a", "d");
    expect(kinds).toContain("suspect");
    expect(kinds).not.toContain("dead");
    // Each suspicion lasted through two checks until the slow answer came back (~2.4 s).
    const records = h.recordsOf("a", "d");
    for (let i = 1; i + 1 < records.length; i += 2) {
      expect(records[i + 1]!.at - records[i]!.at).toBeGreaterThan(2 * INTERVAL_MS);
    }
    expect(h.violations).toEqual([]);
  });

  test("a direct PONG refutes too (two nodes, no helper to ask)", () => {
    const h = new Harness(["a", "d"], GOSSIP_ONLY);
    h.heartbeatsLost.add("d>a");
    h.runUntil(30_500); // a suspicion raised at 30 000 is answered within milliseconds
    const kinds = h.kindsOf("a", "d");
    expect(kinds).not.toContain("dead");
    expect(kinds).toContain("suspect");
    expect(kinds.at(-1)).toBe("alive");
    expect(h.sentFrames(MessageType.Probe)).toEqual([]);
    expect(h.sentFrames(MessageType.Pong, { from: "d", to: "a" }).length).toBeGreaterThan(0);
    expect(h.violations).toEqual([]);
  });

  test("a dead node whose heartbeats resume (same generation) is alive again everywhere, once it answers", () => {
    const h = new Harness(FIVE, GOSSIP_ONLY);
    h.runUntil(20_000);
    h.node("d").frozen = true;
    h.runUntil(35_000);
    for (const observer of ["a", "b", "c", "e"]) expect(h.node(observer).membership.status("d")).toBe("dead");
    h.node("d").frozen = false;
    h.runUntil(36_000 + 2 * LATENCY_MS);
    for (const observer of ["a", "b", "c", "e"]) {
      expect(h.kindsOf(observer, "d")).toEqual(["joined", "suspect", "dead", "alive"]);
      const alive = h.recordsOf(observer, "d").at(-1)!;
      // Its fresh heartbeats alone do not revive it (gossip also carries stale ones): they, or a
      // check after the conviction, provoke a ping, and the answer comes back two hops later.
      expect(alive).toMatchObject({ kind: "alive", generation: 1 });
      expect(alive.at).toBeGreaterThanOrEqual(35_000 + 2 * LATENCY_MS);
      expect(h.node(observer).membership.livePeers()).toContain("d");
      expect(h.node(observer).membership.deadPeers()).toEqual([]);
    }
    // Its old rhythm, broken by the long gap, does not get it suspected again.
    h.runUntil(80_000);
    for (const observer of ["a", "b", "c", "e"]) expect(h.kindsOf(observer, "d")).toHaveLength(4);
    expect(h.violations).toEqual([]);
  });

  test("a restarted node (new generation) replaces its old self while suspect: joined, never dead", () => {
    const h = new Harness(FIVE, GOSSIP_ONLY);
    h.runUntil(30_000);
    h.crash("d");
    h.runUntil(35_200); // suspected at 35 000, would be dead at 36 000
    for (const observer of ["a", "b", "c", "e"]) expect(h.node(observer).membership.status("d")).toBe("suspect");
    h.restart("d"); // generation 2, seen in the digests of the round at 36 000
    h.runUntil(60_000);
    for (const observer of ["a", "b", "c", "e"]) {
      expect(h.kindsOf(observer, "d")).toEqual(["joined", "suspect", "joined"]);
      expect(h.recordsOf(observer, "d").at(-1)).toMatchObject({ kind: "joined", generation: 2 });
      expect(h.node(observer).membership.members().find((m) => m.name === "d")).toMatchObject({ status: "alive", generation: 2 });
    }
    expect(h.violations).toEqual([]);
  });

  test("a restarted node that was already dead joins with its new generation (no 'alive' for the old one)", () => {
    const h = new Harness(FIVE);
    h.runUntil(30_000);
    h.crash("d");
    h.runUntil(40_000);
    h.restart("d");
    h.runUntil(60_000);
    for (const observer of ["a", "b", "c", "e"]) {
      expect(h.kindsOf(observer, "d")).toEqual(["joined", "suspect", "dead", "joined"]);
      expect(h.recordsOf(observer, "d").map((r) => r.generation)).toEqual([1, 1, 1, 2]);
    }
    expect(h.violations).toEqual([]);
  });

  test("a PONG from a new generation is a restart, not a refutation of the old one", () => {
    const h = new Harness(["a", "d"], GOSSIP_ONLY);
    h.runUntil(20_000);
    h.heartbeatsLost.add("d>a"); // so a learns of the restart only from the PONG
    h.restart("d");
    h.runUntil(29_000); // suspected at 25 000, joined 4 ms later; not yet suspected again
    expect(h.recordsOf("a", "d").at(-1)!.at).toBe(25_000 + 2 * LATENCY_MS);
    expect(h.kindsOf("a", "d")).toEqual(["joined", "suspect", "joined"]);
    expect(h.recordsOf("a", "d").at(-1)!.generation).toBe(2);
    expect(h.violations).toEqual([]);
  });
});

describe("Membership: direct watch (heartbeat ring) and shared verdicts", () => {
  const watchersOf = (h: Harness, subject: string): string[] =>
    h.others(subject).filter((node) => node.membership.members().find((m) => m.name === subject)?.watchedDirectly).map((node) => node.name);

  test("each node watches its monitorsPerNode ring successors and sends its heartbeat to its predecessors, its watchers, every round", () => {
    const h = new Harness(FIVE);
    h.runUntil(10_000);
    for (const node of h.nodes.values()) {
      const watched = node.membership.members().filter((m) => m.watchedDirectly).map((m) => m.name);
      expect(watched.sort()).toEqual(ringSuccessors(node.name, FIVE, 3).sort());
      // Their phi and heartbeat age come from the heartbeats of the round at 9 000, one hop away
      // (those of the round at 10 000 are still on the way).
      for (const view of node.membership.members()) {
        if (view.watchedDirectly) expect(view.lastHeartbeatAgeMs).toBe(INTERVAL_MS - LATENCY_MS);
      }
      const heartbeats = h.sentFrames(MessageType.Pong, { from: node.name, correlationId: 0 }).filter((f) => f.at === 10_000);
      expect(heartbeats.map((f) => f.to).sort()).toEqual(watchersOf(h, node.name).sort());
      // Pinged only in the first round, before any heartbeat had come: one message per watch and round.
      const pings = h.sentFrames(MessageType.Ping, { from: node.name });
      expect(pings.map((f) => f.to).sort()).toEqual(watched);
      expect(pings.every((f) => f.at === INTERVAL_MS)).toBe(true);
    }
    for (const name of FIVE) expect(watchersOf(h, name)).toHaveLength(3);
    expect(h.records.filter((r) => r.kind !== "joined")).toEqual([]);
    // While heartbeats keep coming no node keeps a wakeup armed: after the frames of the round at
    // 10 000 arrived, the only timers are the harness's rounds and each node's lag ticks.
    h.runUntil(10_000 + 2 * LATENCY_MS);
    expect(h.clock.pendingTimers).toBe(1 + FIVE.length);
  });

  test("a watched node whose heartbeats do not arrive is pinged every round instead, and its PONGs keep it watched", () => {
    const h = new Harness(["a", "b"]);
    // As with a peer that predates heartbeats, or one whose view of the ring differs for a while.
    h.heartbeatFramesLost.add("b>a");
    h.runUntil(30_000);
    const pings = h.sentFrames(MessageType.Ping, { from: "a", to: "b" });
    expect(pings.map((f) => f.at)).toEqual(Array.from({ length: 30 }, (_, i) => (i + 1) * INTERVAL_MS));
    // The PONG to the ping of the round at 30 000 is on its way: the one of 29 000 is the latest beat.
    expect(h.node("a").membership.members()[0]!.lastHeartbeatAgeMs).toBe(INTERVAL_MS - 2 * LATENCY_MS);
    expect(h.kindsOf("a", "b")).toEqual(["joined"]);
    // Once its heartbeats come through, the pings stop.
    h.heartbeatFramesLost.delete("b>a");
    h.runUntil(40_000);
    expect(h.sentFrames(MessageType.Ping, { from: "a", to: "b" }).filter((f) => f.at > 31_000)).toEqual([]);
    expect(h.violations).toEqual([]);
  });

  const profiles: Array<[string, MembershipSettings]> = [
    ["default settings", defaultMembershipSettings],
    [
      "threshold 12, pause 1 s, k = 2, probe 700 ms, suspect 3.5 s",
      settingsWith({
        phi: { ...defaultMembershipSettings.phi, threshold: 12, acceptablePauseMs: 1000, minStdDeviationMs: 300 },
        probeFanout: 2,
        probeTimeoutMs: 700,
        suspectTimeoutMs: 3500,
      }),
    ],
  ];
  const cases = profiles.flatMap(([profile, settings]) => (["hung", "crashed"] as const).map((failure) => ({ profile, settings, failure })));

  for (const { profile, settings, failure } of cases) {
    test(`a ${failure} node: its monitors convict it when its heartbeats stop, everyone else on their verdict after checking (${profile})`, () => {
      const h = new Harness(FIVE, settings);
      const failedAt = 30_000;
      h.runUntil(failedAt);
      const monitors = watchersOf(h, "d");
      const others = FIVE.filter((name) => name !== "d" && !monitors.includes(name));
      expect(monitors).toHaveLength(3);
      if (failure === "hung") h.node("d").frozen = true;
      else h.crash("d");
      h.runUntil(failedAt + 20_000);

      // The last heartbeat is the one d sent in the round at 30 000, just before it failed.
      const lastBeat = failedAt + LATENCY_MS;
      const crossingMs = convictionDelayMs(settings.phi, INTERVAL_MS, 0);
      // A round ends when its last request failed: a refused connection at once, the helpers'
      // "failed" two hops later; a hung node's ping times out, the helpers' verdicts follow.
      const probeRoundMs = (failure === "hung" ? settings.probeTimeoutMs : 0) + 2 * LATENCY_MS;
      for (const monitor of monitors) {
        expect(h.kindsOf(monitor, "d")).toEqual(["joined", "suspect", "dead"]);
        // Suspected at the crossing itself, not at the next round.
        const suspectAt = h.firstAt(monitor, "d", "suspect")!;
        expect(suspectAt).toBeGreaterThanOrEqual(lastBeat + crossingMs);
        expect(suspectAt).toBeLessThanOrEqual(lastBeat + crossingMs + 2);
        // A first probe round at once, a second when the suspect timeout is over; dead when
        // that one failed too.
        expect(h.firstAt(monitor, "d", "dead")! - suspectAt).toBe(settings.suspectTimeoutMs + probeRoundMs);
        expect(h.probeRequests({ from: monitor })).toHaveLength(2 * settings.probeFanout);
        // The verdict went to every live node, and to d itself so that it could object.
        const verdicts = h.sentFrames(MessageType.Probe, { from: monitor, correlationId: 0 }).map((f) => f.to);
        const expected = FIVE.filter((name) => name !== monitor && (name !== "d" || failure === "hung"));
        expect(verdicts.sort()).toEqual(expected);
      }
      const verdictAt = Math.min(...monitors.map((monitor) => h.firstAt(monitor, "d", "dead")!));
      for (const observer of others) {
        expect(h.kindsOf(observer, "d")).toEqual(["joined", "suspect", "dead"]);
        const suspectAt = h.firstAt(observer, "d", "suspect")!;
        const deadAt = h.firstAt(observer, "d", "dead")!;
        // Only monitors suspect on their own evidence (protocol 4): the observer suspects on the
        // verdict, not before it.
        expect(suspectAt).toBeGreaterThanOrEqual(verdictAt + LATENCY_MS);
        expect(suspectAt).toBeLessThanOrEqual(verdictAt + LATENCY_MS + 1);
        // Helper for every monitor round (the only candidates are it and the other monitors), it
        // pinged d itself: a refused connection, or a ping gone unanswered, is its check already,
        // and the verdict convicts at once, without a round of its own.
        expect(deadAt).toBe(suspectAt);
        expect(h.probeRequests({ from: observer })).toHaveLength(0);
        // Convicted on the verdict (not a monitor, so never on its own evidence, however silent
        // its gossip view of d), it passes the verdict on to probeFanout random live nodes (a
        // rumour for anyone who missed the broadcasts), never to d.
        const passedOn = h.sentFrames(MessageType.Probe, { from: observer, correlationId: 0 }).map((f) => f.to);
        expect(passedOn).toHaveLength(Math.min(settings.probeFanout, FIVE.length - 2));
        expect(passedOn).not.toContain("d");
      }
      // T3: dead on every node within 6 s of the failure with the default settings.
      if (settings === defaultMembershipSettings) {
        for (const observer of h.others("d")) expect(h.firstAt(observer.name, "d", "dead")! - failedAt).toBeLessThanOrEqual(6000);
      }
      // Nobody else was suspected (what the hung d itself came to think does not matter).
      expect(h.records.filter((r) => r.node !== "d" && r.observer !== "d" && r.kind !== "joined")).toEqual([]);
      for (const node of h.others("d")) expect(node.membership.pendingRequests).toBe(0);
      expect(h.violations).toEqual([]);
    });
  }

  test("the crossing time matches the direct detector: suspected 1 ms after it", () => {
    const h = new Harness(["a", "b"]);
    h.runUntil(30_000);
    h.crash("b");
    h.runUntil(40_000);
    const lastBeat = 30_000 + LATENCY_MS; // b's heartbeat of the round at 30 000, sent before the crash
    const crossingMs = convictionDelayMs(defaultMembershipSettings.phi, INTERVAL_MS, 0);
    const suspectAt = h.firstAt("a", "b", "suspect")!;
    expect(Math.abs(suspectAt - (lastBeat + crossingMs + 1))).toBeLessThanOrEqual(1);
  });

  test("when a watched node dies, the next ring successor is watched instead", () => {
    const names = ["a", "b", "c", "d", "e", "f", "g", "h"];
    const h = new Harness(names);
    h.runUntil(10_000);
    const victim = ringSuccessors("a", names, 1)[0]!;
    h.crash(victim);
    h.runUntil(30_000);
    const live = names.filter((name) => name !== victim);
    for (const name of live) {
      const watched = h.node(name).membership.members().filter((m) => m.watchedDirectly).map((m) => m.name);
      expect(watched.sort()).toEqual(ringSuccessors(name, live, 3).sort());
    }
    expect(watchersOf(h, ringSuccessors("a", live, 3)[2]!)).toContain("a");
    expect(h.violations).toEqual([]);
  });

  test("a verdict is checked, not trusted: a live node accused by a peer stays alive everywhere", () => {
    const h = new Harness(FIVE);
    h.runUntil(10_500);
    const verdict = frame((w) => writeProbe(w, 0, "d"));
    for (const receiver of ["a", "b"]) h.node(receiver).membership.handleFrame("c", verdict.type, verdict.correlationId, verdict.body);
    h.runUntil(30_000);
    for (const receiver of ["a", "b"]) {
      expect(h.kindsOf(receiver, "d")).toEqual(["joined", "suspect", "alive"]);
      // Taken back on d's answer to the receiver's own probe round, two hops later.
      expect(h.firstAt(receiver, "d", "alive")).toBe(10_500 + 2 * LATENCY_MS);
      // Nobody was told anything further.
      expect(h.sentFrames(MessageType.Probe, { from: receiver, correlationId: 0 })).toEqual([]);
    }
    for (const observer of ["c", "e"]) expect(h.kindsOf(observer, "d")).toEqual(["joined"]);
    expect(h.violations).toEqual([]);
  });

  test("a node told of its own conviction tells every live node it is alive, once per probe timeout", () => {
    const h = new Harness(FIVE);
    // Between rounds, so that the objections (unsolicited PONGs) are not mixed with d's heartbeats,
    // the same frame sent to its watchers on the round.
    h.runUntil(10_200);
    const d = h.node("d").membership;
    const verdict = frame((w) => writeProbe(w, 0, "d"));
    d.handleFrame("a", verdict.type, verdict.correlationId, verdict.body);
    d.handleFrame("b", verdict.type, verdict.correlationId, verdict.body); // a second monitor's verdict
    const objections = () => h.sentFrames(MessageType.Pong, { from: "d", correlationId: 0 }).filter((f) => f.at % INTERVAL_MS !== 0);
    expect(objections().map((f) => f.to).sort()).toEqual(["a", "b", "c", "e"]);
    h.runUntil(10_200 + defaultMembershipSettings.probeTimeoutMs);
    d.handleFrame("a", verdict.type, verdict.correlationId, verdict.body);
    expect(objections()).toHaveLength(8);
  });

  test("that objection takes a conviction back at once; gossiped heartbeats alone do not", () => {
    const h = new Harness(FIVE, GOSSIP_ONLY);
    h.runUntil(10_000);
    h.node("d").frozen = true;
    h.runUntil(30_000);
    const a = h.node("a").membership;
    expect(a.status("d")).toBe("dead");
    // Stale digests: a pings d to find out, once per probe timeout, and d (hung) does not answer.
    const pingsBefore = h.sentFrames(MessageType.Ping, { from: "a", to: "d" }).length;
    for (let i = 0; i < 5; i++) a.heartbeat("d", 1);
    expect(a.status("d")).toBe("dead");
    expect(h.sentFrames(MessageType.Ping, { from: "a", to: "d" }).length).toBe(pingsBefore + 1);
    h.runUntil(31_000);
    expect(a.status("d")).toBe("dead");
    // d's objection to a verdict (an unsolicited PONG) comes from d itself: proof enough.
    const objection = frame((w) => writePong(w, 0, 1));
    a.handleFrame("d", objection.type, objection.correlationId, objection.body);
    expect(a.status("d")).toBe("alive");
    expect(h.kindsOf("a", "d")).toEqual(["joined", "suspect", "dead", "alive"]);
    expect(h.node("b").membership.status("d")).toBe("dead");
    expect(h.violations).toEqual([]);
  });

  test("a heartbeat PONG from a new generation is a restart: joined, never suspected", () => {
    const h = new Harness(["a", "d"]);
    h.runUntil(20_000);
    h.heartbeatsLost.add("d>a"); // a learns of the restart only from d's heartbeat, which carries its generation
    h.restart("d");
    h.runUntil(30_000);
    expect(h.kindsOf("a", "d")).toEqual(["joined", "joined"]);
    expect(h.recordsOf("a", "d").at(-1)).toMatchObject({ generation: 2, at: 21_000 + LATENCY_MS });
    expect(h.violations).toEqual([]);
  });

  test("stop() cancels every pending wakeup and request: a stopped node records nothing more", () => {
    const h = new Harness(FIVE);
    h.runUntil(10_000);
    const watched = h.node("a").membership.members().find((m) => m.watchedDirectly)!.name;
    h.node("a").membership.stop();
    h.crash("a"); // the harness no longer runs its rounds either
    h.crash(watched);
    const before = h.records.filter((r) => r.observer === "a").length;
    h.runUntil(40_000);
    expect(h.records.filter((r) => r.observer === "a")).toHaveLength(before);
    expect(h.node("a").membership.pendingRequests).toBe(0);
  });
});

describe("Membership: leave and removal", () => {
  test("a LEAVE makes the node left at once on every node; it is never marked dead, then removed once", () => {
    const settings = settingsWith({ leftRemovalMs: 10_000 });
    const h = new Harness(["a", "b", "c", "l"], settings);
    h.runUntil(10_500);
    const l = h.node("l");
    const liveSetChangesBefore = ["a", "b", "c"].map((observer) => h.node(observer).membership.liveSetChanges);
    const leave = l.membership.encodeLeave();
    for (const peer of l.membership.livePeers()) expect(h.send("l", peer, leave)).toBe(true);
    h.crash("l"); // the process exits right after announcing it
    h.runUntil(10_500 + LATENCY_MS);
    for (const [i, observer] of ["a", "b", "c"].entries()) {
      // What callers cache from livePeers() (the push tree's sorted members) must see the change.
      expect(h.node(observer).membership.liveSetChanges).toBeGreaterThan(liveSetChangesBefore[i]!);
      expect(h.node(observer).membership.status("l")).toBe("left");
      expect(h.node(observer).membership.livePeers()).not.toContain("l");
      expect(h.node(observer).membership.deadPeers()).not.toContain("l");
    }
    h.runUntil(60_000);
    for (const observer of ["a", "b", "c"]) {
      expect(h.kindsOf(observer, "l")).toEqual(["joined", "left", "removed"]);
      const [, left, removed] = h.recordsOf(observer, "l");
      expect(left!.at).toBe(10_500 + LATENCY_MS);
      expect(left!.phi).toBe(0);
      expect(removed!.at - left!.at).toBeGreaterThanOrEqual(settings.leftRemovalMs);
      expect(removed!.at - left!.at).toBeLessThanOrEqual(settings.leftRemovalMs + INTERVAL_MS);
      expect(h.node(observer).removeCalls).toEqual(["l"]);
      expect(h.node(observer).membership.status("l")).toBeUndefined();
    }
    expect(h.violations).toEqual([]);
  });

  test("left through the status entry (markLeft), and stale gossip afterwards, never ends in dead", () => {
    const h = new Harness(["a", "b", "l"], settingsWith({ leftRemovalMs: 5000 }));
    h.runUntil(10_000);
    h.heartbeatsLost.add("l>a"); // l is gone for a, but stale copies of it keep circulating
    const a = h.node("a").membership;
    a.markLeft("l", 1);
    a.markLeft("l", 1);
    a.markLeft("l", 0); // an older generation's goodbye changes nothing
    a.heartbeat("l", 1); // stale heartbeat: a left node stays left
    h.runUntil(14_000);
    expect(a.status("l")).toBe("left");
    h.runUntil(16_000);
    expect(a.status("l")).toBeUndefined();
    // After removal, digests at the old generation neither re-add it nor revive it, not even with
    // a heartbeat past its removal (l's process still runs, it only told a it left).
    h.deliverDigest("a", h.digestEntryOf(h.node("l")));
    expect(h.node("a").state.nodes.has("l")).toBe(false);
    a.markLeft("l", 1);
    h.runUntil(40_000);
    expect(h.kindsOf("a", "l")).toEqual(["joined", "left", "removed"]);
    expect(h.node("a").removeCalls).toEqual(["l"]);
    expect(h.violations).toEqual([]);
  });

  test("a LEAVE naming another node than its sender is ignored", () => {
    const h = new Harness(["a", "b", "c"]);
    h.runUntil(5000);
    const forged = frame((w) => writeLeave(w, { name: "c", generation: 1 }));
    expect(h.node("a").membership.handleFrame("b", forged.type, forged.correlationId, forged.body)).toBe(true);
    expect(h.node("a").membership.status("c")).toBe("alive");
  });

  test("a node that left comes back with a new generation, joins, and can then die", () => {
    const h = new Harness(["a", "b", "l"]);
    h.runUntil(10_000);
    h.node("a").membership.markLeft("l", 1);
    h.node("b").membership.markLeft("l", 1);
    h.restart("l");
    h.runUntil(20_000);
    h.crash("l");
    h.runUntil(40_000);
    for (const observer of ["a", "b"]) {
      expect(h.kindsOf(observer, "l")).toEqual(["joined", "left", "joined", "suspect", "dead"]);
      expect(h.recordsOf(observer, "l").map((r) => r.generation)).toEqual([1, 1, 2, 2, 2]);
    }
    expect(h.violations).toEqual([]);
  });

  test("a node first heard of as left produces no record but its removal, and is never watched", () => {
    const h = new Harness(["a"], settingsWith({ leftRemovalMs: 5000 }));
    const a = h.node("a").membership;
    a.markLeft("ghost", 3);
    a.observe("ghost", 3); // stale digest of the same generation
    h.runUntil(4000);
    expect(a.status("ghost")).toBe("left");
    expect(a.livePeers()).toEqual([]);
    h.runUntil(6000);
    expect(a.status("ghost")).toBeUndefined();
    expect(h.node("a").removeCalls).toEqual(["ghost"]);
    // The removal is reported: the state may have held its entries, reported as they came.
    expect(h.records.map((r) => `${r.kind} ${r.node} ${r.generation}`)).toEqual(["removed ghost 3"]);
  });

  test("a dead node is removed after deadRemovalMs: removeNode exactly once, stale gossip cannot revive it", () => {
    const settings = settingsWith({ deadRemovalMs: 20_000 });
    const h = new Harness(FIVE, settings);
    h.runUntil(30_000);
    h.crash("d");
    h.runUntil(100_000);
    for (const observer of ["a", "b", "c", "e"]) {
      // Removed, still remembered: a stale copy of its last heartbeat is not learned again.
      expect(h.node(observer).membership.lastKnownStatus("d")).toBe("dead");
      h.deliverDigest(observer, h.digestEntryOf(h.node("d")));
      expect(h.node(observer).state.nodes.has("d")).toBe(false);
    }
    h.runUntil(200_000);
    for (const observer of ["a", "b", "c", "e"]) {
      expect(h.kindsOf(observer, "d")).toEqual(["joined", "suspect", "dead", "removed"]);
      const deadAt = h.firstAt(observer, "d", "dead")!;
      const removedAt = h.firstAt(observer, "d", "removed")!;
      expect(removedAt - deadAt).toBeGreaterThanOrEqual(settings.deadRemovalMs);
      expect(removedAt - deadAt).toBeLessThanOrEqual(settings.deadRemovalMs + INTERVAL_MS);
      expect(h.node(observer).removeCalls).toEqual(["d"]);
      const membership = h.node(observer).membership;
      expect(membership.status("d")).toBeUndefined();
      expect(membership.deadPeers()).toEqual([]);
      // The memory of the removal is bounded too: removalMemoryMs after the removal.
      expect(h.node(observer).state.removed.size).toBe(0);
      expect(membership.lastKnownStatus("d")).toBeUndefined();
    }
    expect(h.violations).toEqual([]);
  });

  test("a stale digest after removal does not re-add the node; its fresh heartbeats do", () => {
    const h = new Harness(["a", "b", "d"], settingsWith({ deadRemovalMs: 10_000 }));
    h.runUntil(10_000);
    h.node("d").frozen = true;
    h.runUntil(40_000);
    const a = h.node("a").membership;
    expect(a.status("d")).toBeUndefined();
    h.deliverDigest("a", h.digestEntryOf(h.node("d"))); // a peer that still holds d's old state
    h.runUntil(41_000);
    expect(a.status("d")).toBeUndefined();
    expect(h.node("a").state.nodes.has("d")).toBe(false);
    h.node("d").frozen = false; // d was only partitioned: its heartbeats advance again
    h.runUntil(42_000);
    // Readmitted by the state, but alive only once it answers itself: gossip alone can carry a
    // later heartbeat of a node that has crashed since.
    expect(h.node("a").state.nodes.has("d")).toBe(true);
    expect(a.status("d")).toBe("dead");
    expect(h.records.filter((r) => r.node === "d" && r.at === 42_000)).toEqual([]);
    h.runUntil(42_000 + 2 * LATENCY_MS);
    for (const observer of ["a", "b"]) {
      expect(h.node(observer).membership.status("d")).toBe("alive");
      expect(h.kindsOf(observer, "d")).toEqual(["joined", "suspect", "dead", "removed", "joined"]);
      expect(h.node(observer).removeCalls).toEqual(["d"]);
    }
    expect(h.violations).toEqual([]);
  });

  test("after a partition longer than deadRemovalMs: the live side is readmitted, a node that crashed meanwhile is not", () => {
    const h = new Harness(["a", "b", "d"], settingsWith({ deadRemovalMs: 10_000 }));
    h.runUntil(10_000);
    const cut = ["a>b", "b>a", "a>d", "d>a"];
    for (const link of cut) {
      h.heartbeatsLost.add(link);
      h.blackholes.add(link);
    }
    h.runUntil(40_000); // a removed b and d; they removed a
    expect(h.node("a").membership.lastKnownStatus("b")).toBe("dead");
    expect(h.node("a").membership.lastKnownStatus("d")).toBe("dead");
    expect(h.node("b").membership.status("d")).toBe("alive");
    h.crash("d");
    for (const link of cut) {
      h.heartbeatsLost.delete(link);
      h.blackholes.delete(link);
    }
    // b's copy of d carries a heartbeat past the one a removed d at: readmitted, pinged, silent.
    h.deliverDigest("a", { ...h.digestEntryOf(h.node("d")), heartbeat: h.node("b").state.heartbeatOf("d") });
    h.runUntil(45_000);
    const a = h.node("a").membership;
    expect(a.status("b")).toBe("alive");
    expect(h.kindsOf("a", "b")).toEqual(["joined", "suspect", "dead", "removed", "joined"]);
    expect(h.kindsOf("b", "a")).toEqual(["joined", "suspect", "dead", "removed", "joined"]);
    expect(a.status("d")).toBe("dead");
    expect(h.sentFrames(MessageType.Ping, { from: "a", to: "d" }).length).toBeGreaterThan(0);
    h.runUntil(80_000);
    expect(a.status("d")).toBeUndefined();
    expect(a.lastKnownStatus("d")).toBe("dead");
    // No record of the readmission; the second removal is reported (the entries a may have
    // learned again meanwhile are dropped with it).
    expect(h.kindsOf("a", "d")).toEqual(["joined", "suspect", "dead", "removed", "removed"]);
    expect(h.node("a").removeCalls.filter((name) => name === "d")).toEqual(["d", "d"]);
    expect(h.violations).toEqual([]);
  });

  test("dead peers are retried now and then, at the capped Cassandra rate", () => {
    const h = new Harness(["a", "b", "c", "d"], settingsWith({ deadRemovalMs: 1e9 }));
    h.runUntil(10_000);
    h.crash("d");
    h.runUntil(20_000);
    const a = h.node("a").membership;
    expect(a.deadPeers()).toEqual(["d"]);
    let picks = 0;
    for (let i = 0; i < 10_000; i++) {
      const peer = a.pickDeadPeerForRetry();
      if (peer !== undefined) {
        expect(peer).toBe("d");
        picks++;
      }
    }
    // min(0.1, dead / (live + 1)) = min(0.1, 1/3) = 0.1
    expect(picks / 10_000).toBeGreaterThan(0.08);
    expect(picks / 10_000).toBeLessThan(0.12);
    a.updateSettings(settingsWith({ deadRemovalMs: 1e9, deadRetryProbability: 0 }));
    for (let i = 0; i < 1000; i++) expect(a.pickDeadPeerForRetry()).toBeUndefined();
  });
});

describe("Membership: local-health guard", () => {
  test("after its own stall a node convicts no one until the stall's grace is over", () => {
    const h = new Harness(FIVE, GOSSIP_ONLY);
    h.runUntil(10_000);
    h.crash("d"); // d's last heartbeat: 10 000; the others suspect it at 15 000
    h.runUntil(14_200);
    h.stall("a");
    h.runUntil(15_200);
    expect(h.endStall("a")).toBe(true);
    const health = h.node("a").health;
    const blockedUntil = health.convictionBlockedUntilMs;
    expect(blockedUntil).toBeGreaterThan(18_000);
    h.runUntil(40_000);
    for (const observer of ["b", "c", "e"]) expect(h.firstAt(observer, "d", "suspect")).toBe(15_000);
    // Their verdicts reached a within its grace and were ignored; a waits out the grace, then
    // convicts on its own evidence: the guard delays, it does not blind.
    expect(h.firstAt("a", "d", "suspect")).toBeGreaterThanOrEqual(blockedUntil);
    expect(h.firstAt("a", "d", "suspect")).toBeLessThanOrEqual(blockedUntil + INTERVAL_MS);
    expect(h.kindsOf("a", "d")).toEqual(["joined", "suspect", "dead"]);
    expect(h.violations).toEqual([]);
  });

  test("a long stall of its own makes a node suspect no one, though every peer looked silent", () => {
    const h = new Harness(FIVE);
    h.runUntil(20_050);
    h.stall("a");
    h.runUntil(26_050); // 6 s without reading anything: far past the conviction delay
    h.endStall("a");
    h.runUntil(60_000);
    expect(h.records.filter((r) => r.observer === "a" && r.kind !== "joined")).toEqual([]);
    // The others rightly convicted a, silent longer than its pause allowance, and took it back
    // when its heartbeats resumed.
    for (const observer of ["b", "c", "d", "e"]) {
      expect(h.kindsOf(observer, "a")).toEqual(["joined", "suspect", "dead", "alive"]);
      expect(h.records.filter((r) => r.observer === observer && r.node !== "a" && r.kind !== "joined")).toEqual([]);
    }
    expect(h.violations).toEqual([]);
  });

  test("the stall is excused in every detector: peers' silence shrinks by its length", () => {
    const h = new Harness(FIVE);
    h.runUntil(20_050);
    h.stall("a");
    h.runUntil(26_050);
    h.endStall("a", false); // checked, but the backlog not yet read
    const views = h.node("a").membership.members();
    for (const view of views) {
      // 6 050 ms since the last beat, of which the 5 950 ms stall (lag over the due tick) is ours.
      expect(view.lastHeartbeatAgeMs).toBeLessThan(200);
      expect(view.phi).toBeLessThan(1);
      expect(view.status).toBe("alive");
    }
    h.deliverBacklog("a");
  });

  test("a stall reported through excuseLocalPause is not excused a second time by check()", () => {
    const h = new Harness(["a", "b"], GOSSIP_ONLY);
    h.runUntil(10_000);
    h.node("b").frozen = true;
    h.runUntil(12_000);
    const node = h.node("a");
    // LocalHealth sees a 600 ms stall; the caller also reports it directly.
    node.health.tick(12_000, 12_600);
    h.clock.runUntil(12_600);
    node.membership.excuseLocalPause(600);
    const ageAfterExcuse = node.membership.members()[0]!.lastHeartbeatAgeMs;
    expect(ageAfterExcuse).toBe(2600 - 600);
    node.membership.check();
    expect(node.membership.members()[0]!.lastHeartbeatAgeMs).toBe(ageAfterExcuse);
  });
});

describe("Membership: records", () => {
  test("exactly one record per transition, whatever is repeated", () => {
    const h = new Harness(["a", "b", "c"]);
    const a = h.node("a").membership;
    a.observe("b", 1); // already known
    a.observe("b", 0); // older generation
    for (let i = 0; i < 5; i++) a.heartbeat("b", 1);
    h.runUntil(10_000);
    for (let i = 0; i < 5; i++) a.check();
    expect(h.kindsOf("a", "b")).toEqual(["joined"]);
    h.node("c").frozen = true;
    h.runUntil(30_000);
    for (let i = 0; i < 5; i++) a.check();
    expect(h.kindsOf("a", "c")).toEqual(["joined", "suspect", "dead"]);
    a.markLeft("c", 1);
    a.markLeft("c", 1);
    a.heartbeat("c", 1);
    expect(h.kindsOf("a", "c")).toEqual(["joined", "suspect", "dead", "left"]);
    a.observe("c", 2);
    a.observe("c", 2);
    expect(h.kindsOf("a", "c")).toEqual(["joined", "suspect", "dead", "left", "joined"]);
    a.observe("a", 9); // itself: never a member
    expect(a.status("a")).toBeUndefined();
    expect(h.violations).toEqual([]);
  });

  test("records carry node, generation, phi and time", () => {
    const h = new Harness(["a", "b"]);
    h.runUntil(10_000);
    h.crash("b");
    h.runUntil(20_000);
    const [joined, suspect, dead] = h.recordsOf("a", "b");
    expect(joined).toMatchObject({ kind: "joined", node: "b", generation: 1, at: 0 });
    expect(joined!.phi).toBeLessThan(1);
    expect(suspect!.phi).toBeGreaterThanOrEqual(8);
    expect(dead!.phi).toBeGreaterThan(suspect!.phi);
  });
});

describe("Membership: probes are bounded", () => {
  test("a flood of PROBEs is capped; every helper ping is answered or forgotten at its timeout", () => {
    const h = new Harness(["a", "b", "t"]);
    h.runUntil(5000);
    h.blackholes.add("a>t"); // a's pings to t are lost
    const a = h.node("a").membership;
    for (let id = 1; id <= 1500; id++) {
      const probe = frame((w) => writeProbe(w, id, "t"));
      a.handleFrame("b", probe.type, probe.correlationId, probe.body);
    }
    expect(a.pendingRequests).toBe(1024);
    const immediateFailures = h.sentFrames(MessageType.ProbeAck, { from: "a", to: "b" }).length;
    expect(immediateFailures).toBe(1500 - 1024);
    h.runUntil(5000 + defaultMembershipSettings.probeTimeoutMs);
    expect(a.pendingRequests).toBe(0);
    expect(h.sentFrames(MessageType.ProbeAck, { from: "a", to: "b" }).length).toBe(1500);
  });

  test("PONGs and PROBE_ACKs that were not asked for, come late, or from the wrong node are ignored", () => {
    const h = new Harness(["a", "b", "d"]);
    h.heartbeatsLost.add("d>a");
    h.heartbeatFramesLost.add("d>a");
    for (const from of ["a", "b"]) h.blackholes.add(`${from}>d`);
    // Never heard from after discovery at 0, d is suspected ≈ 5.3 s later, at the check at 6 000.
    h.runUntil(6200);
    const a = h.node("a").membership;
    expect(a.status("d")).toBe("suspect");
    expect(a.pendingRequests).toBeGreaterThan(0);
    // Forged answers for every plausible correlation id, from nodes that were not asked.
    for (let id = 1; id <= 20; id++) {
      const pong = frame((w) => writePong(w, id, 1));
      a.handleFrame("b", pong.type, pong.correlationId, pong.body); // b was not pinged
      const ack = frame((w) => writeProbeAck(w, id, { ok: true, generation: 1 }));
      a.handleFrame("c-unknown", ack.type, ack.correlationId, ack.body);
    }
    expect(a.status("d")).toBe("suspect");
    h.runUntil(8000);
    expect(a.status("d")).toBe("dead");
    expect(a.pendingRequests).toBe(0);
    // A late answer from d itself changes nothing either.
    const late = frame((w) => writePong(w, 1, 1));
    a.handleFrame("d", late.type, late.correlationId, late.body);
    expect(a.status("d")).toBe("dead");
    expect(h.violations).toEqual([]);
  });
});

describe("Membership: frames", () => {
  test("handleFrame takes membership types only and rejects malformed bodies with DecodeError", () => {
    const h = new Harness(["a", "b"]);
    const a = h.node("a").membership;
    expect(a.handleFrame("b", MessageType.Syn, 1, new Uint8Array(0))).toBe(false);
    expect(a.handleFrame("b", 200, 1, new Uint8Array(0))).toBe(false);
    const bad: Array<[number, Uint8Array]> = [
      [MessageType.Ping, Uint8Array.of(0)], // trailing byte
      [MessageType.Pong, Uint8Array.of()], // no generation
      [MessageType.Pong, Uint8Array.of(0x80)], // truncated varuint
      [MessageType.Probe, Uint8Array.of(5, 0x61)], // name longer than the body
      [MessageType.ProbeAck, Uint8Array.of(2, 0)], // unknown result
      [MessageType.ProbeAck, Uint8Array.of(1)], // no generation
      [MessageType.Leave, Uint8Array.of(1, 0x62)], // no generation
      [MessageType.Leave, Uint8Array.of(1, 0x62, 1, 9)], // trailing byte
    ];
    for (const [type, body] of bad) expect(() => a.handleFrame("b", type, 1, body)).toThrow(DecodeError);
    const long = new Uint8Array(2 + 300);
    long.set([0xac, 0x02]); // 300-byte name, over maxNameBytes (256)
    long.fill(0x61, 2);
    expect(() => a.handleFrame("b", MessageType.Probe, 1, long)).toThrow(DecodeError);
  });

  test("a PING is answered with a PONG carrying the generation; id 0 gets no answer", () => {
    const h = new Harness(["a", "b"]);
    const ping = frame((w) => writePing(w, 77));
    h.node("a").membership.handleFrame("b", ping.type, ping.correlationId, ping.body);
    const silent = frame((w) => writePing(w, 0));
    h.node("a").membership.handleFrame("b", silent.type, silent.correlationId, silent.body);
    expect(h.sentFrames(MessageType.Pong, { from: "a", to: "b" })).toHaveLength(1);
  });

  test("a PROBE for the helper itself is answered ok at once", () => {
    const h = new Harness(["a", "b"]);
    const probe = frame((w) => writeProbe(w, 5, "a"));
    h.node("a").membership.handleFrame("b", probe.type, probe.correlationId, probe.body);
    expect(h.sentFrames(MessageType.ProbeAck, { from: "a", to: "b" })).toHaveLength(1);
    expect(h.sentFrames(MessageType.Ping)).toHaveLength(0);
  });
});

describe("probe-messages: byte layout", () => {
  const cases: Array<[string, (w: FrameWriter) => void, string]> = [
    ["PING id 1", (w) => writePing(w, 1), "00 00 00 00 04 06 00 00 00 00 00 01"],
    ["PONG id 2 generation 300", (w) => writePong(w, 2, 300), "00 00 00 02 04 07 00 00 00 00 00 02 ac 02"],
    ["PROBE id 3 target 'db'", (w) => writeProbe(w, 3, "db"), "00 00 00 03 04 08 00 00 00 00 00 03 02 64 62"],
    ["PROBE_ACK ok generation 300", (w) => writeProbeAck(w, 7, { ok: true, generation: 300 }), "00 00 00 03 04 09 00 00 00 00 00 07 01 ac 02"],
    ["PROBE_ACK failed", (w) => writeProbeAck(w, 7, { ok: false, generation: 300 }), "00 00 00 02 04 09 00 00 00 00 00 07 00 00"],
    ["LEAVE 'n1' generation 5", (w) => writeLeave(w, { name: "n1", generation: 5 }), "00 00 00 04 04 0a 00 00 00 00 00 00 02 6e 31 05"],
  ];
  for (const [name, build, expected] of cases) {
    test(name, () => {
      const writer = new FrameWriter(16);
      build(writer);
      expect(hex(writer.finish())).toBe(expected);
    });
  }

  test("round trips", () => {
    expect(decodePing(frame((w) => writePing(w, 1)).body)).toBeUndefined();
    expect(decodePong(frame((w) => writePong(w, 1, 2 ** 53 - 1)).body)).toBe(2 ** 53 - 1);
    expect(decodeProbe(frame((w) => writeProbe(w, 1, "nœud-é")).body, 64)).toBe("nœud-é");
    expect(decodeProbeAck(frame((w) => writeProbeAck(w, 1, { ok: true, generation: 9 })).body)).toEqual({ ok: true, generation: 9 });
    expect(decodeProbeAck(frame((w) => writeProbeAck(w, 1, { ok: false, generation: 0 })).body)).toEqual({ ok: false, generation: 0 });
    expect(decodeLeave(frame((w) => writeLeave(w, { name: "x", generation: 1_700_000_000_000 })).body, 64)).toEqual({
      name: "x",
      generation: 1_700_000_000_000,
    });
  });

  test("encodeLeave is the node's own LEAVE frame", () => {
    const h = new Harness(["a"]);
    const leave = h.node("a").membership.encodeLeave();
    expect(leave[5]).toBe(MessageType.Leave);
    let body: Uint8Array | undefined;
    new FrameDecoder().push(leave, (f) => (body = f.body));
    expect(decodeLeave(body!, 64)).toEqual({ name: "a", generation: 1 });
  });
});

describe("Membership: settings", () => {
  test("defaults", () => {
    expect(defaultMembershipSettings).toMatchObject({
      monitorsPerNode: 3,
      localHealthGuard: true,
      probeFanout: 3,
      probeTimeoutMs: 500,
      suspectTimeoutMs: 1000,
      deadRemovalMs: 86_400_000,
      leftRemovalMs: 30_000,
      deadRetryProbability: 0.1,
      maxNameBytes: 256,
    });
    expect(defaultMembershipSettings.phi.threshold).toBe(8);
  });

  test("bad settings are refused at construction and on update", () => {
    const make = (overrides: Partial<MembershipSettings>) => () =>
      new Membership("a", new VirtualClock(), createRandom(1), settingsWith(overrides), new LocalHealth(), {
        send: () => true,
        onTransition: () => {},
        removeNode: () => {},
        removed: new RemovedNodes(),
      }, 1);
    expect(make({})).not.toThrow();
    expect(make({ monitorsPerNode: -1 })).toThrow(RangeError);
    expect(make({ monitorsPerNode: 2.5 })).toThrow(RangeError);
    expect(make({ localHealthGuard: "yes" as unknown as boolean })).toThrow(RangeError);
    expect(make({ probeFanout: -1 })).toThrow(RangeError);
    expect(make({ probeFanout: 1.5 })).toThrow(RangeError);
    expect(make({ probeTimeoutMs: 0 })).toThrow(RangeError);
    expect(make({ suspectTimeoutMs: Number.NaN })).toThrow(RangeError);
    expect(make({ deadRemovalMs: -1 })).toThrow(RangeError);
    expect(make({ deadRetryProbability: 1.5 })).toThrow(RangeError);
    expect(make({ maxNameBytes: 0 })).toThrow(RangeError);
    expect(make({ phi: { ...defaultMembershipSettings.phi, threshold: 0 } })).toThrow(RangeError);
    const membership = make({})() as Membership;
    expect(() => membership.updateSettings(settingsWith({ leftRemovalMs: -5 }))).toThrow(RangeError);
  });

  test("a lower phi threshold applied live convicts sooner", () => {
    const h = new Harness(["a", "b"], GOSSIP_ONLY);
    h.runUntil(20_000);
    const a = h.node("a").membership;
    a.updateSettings(settingsWith({ monitorsPerNode: 0, phi: { ...defaultMembershipSettings.phi, threshold: 1, acceptablePauseMs: 0 } }));
    h.crash("b");
    h.runUntil(30_000);
    // Fresh window (mean 1000, σ 250) and threshold 1: suspected about 1.2 s after the last beat.
    const delay = convictionDelayMs(a.settings.phi, 1000, 250);
    expect(h.firstAt("a", "b", "suspect")).toBe(20_000 + Math.ceil(delay / INTERVAL_MS) * INTERVAL_MS);
  });
});
