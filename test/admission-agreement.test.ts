// The admission rules added with protocol version 4, on the I/O-free Handshake both transports
// run: what each side remembers of the other's name (generation gaps), and cluster config
// agreement for a node new to the cluster (neither side remembers the other).

import { describe, expect, test } from "bun:test";
import { ErrorCode, FrameDecoder, type Frame } from "../src/codec/index.ts";
import { configSummary } from "../src/node/config-agreement.ts";
import { type AdmissionHooks, Handshake, type HandshakeOutcome } from "../src/transport/admission.ts";

const identity = (nodeName: string, generation: number) => ({ clusterName: "c", nodeName, generation, secret: undefined });

function frameOf(bytes: Uint8Array): Frame {
  const frames: Frame[] = [];
  new FrameDecoder().push(bytes, (frame) => frames.push(frame));
  return frames[0]!;
}

/** Runs a whole handshake; returns both sides and the last outcome. */
function run(dialerHooks: Partial<AdmissionHooks>, listenerHooks: Partial<AdmissionHooks>, generations = { dialer: 1, listener: 1 }) {
  const base = { connectedGeneration: () => undefined };
  const dialer = new Handshake("dialer", identity("d", generations.dialer), "d:1", "l:1", { ...base, ...dialerHooks });
  const listener = new Handshake("listener", identity("l", generations.listener), "l:1", "d:1", { ...base, ...listenerHooks });
  let bytes: Uint8Array | null = dialer.hello();
  let receiver = listener;
  let outcome: HandshakeOutcome | null = null;
  for (let step = 0; step < 4 && bytes; step++) {
    outcome = receiver.receive(frameOf(bytes));
    if (outcome.kind !== "continue" && outcome.kind !== "established") break;
    bytes = outcome.send;
    receiver = receiver === listener ? dialer : listener;
  }
  return { dialer, listener, outcome: outcome! };
}

describe("generation gaps", () => {
  test("a dialer below the generation the listener remembers: both sides report it", () => {
    const { dialer, listener } = run({}, { remembered: (name) => (name === "d" ? { generation: 50, heartbeat: 9, maxVersion: 4 } : undefined) }, { dialer: 10, listener: 1 });
    const gap = { node: "d", announced: 10, remembered: 50, rememberedBy: "l" };
    expect(dialer.generationGaps()).toEqual([gap]);
    expect(listener.generationGaps()).toEqual([gap]);
  });

  test("the same generation: a gap only when the peer remembers more heartbeats or versions than the node has", () => {
    const remembers = { remembered: () => ({ generation: 7, heartbeat: 40, maxVersion: 3 }) };
    const fresh = run(remembers, { ownProgress: () => ({ heartbeat: 1, maxVersion: 3 }) }, { dialer: 2, listener: 7 });
    expect(fresh.listener.generationGaps()).toEqual([{ node: "l", announced: 7, remembered: 7, rememberedBy: "d" }]);
    const same = run(remembers, { ownProgress: () => ({ heartbeat: 41, maxVersion: 3 }) }, { dialer: 2, listener: 7 });
    expect(same.listener.generationGaps()).toEqual([]);
  });

  test("nothing remembered, or an older generation remembered: no gap", () => {
    expect(run({}, {}).dialer.generationGaps()).toEqual([]);
    expect(run({ remembered: () => ({ generation: 1, heartbeat: 99, maxVersion: 99 }) }, {}, { dialer: 1, listener: 5 }).listener.generationGaps()).toEqual([]);
  });
});

describe("cluster config agreement", () => {
  const cluster = configSummary({ version: 0, origin: "l", settings: { fanout: 1, gossipIntervalMs: 1000, seeds: ["a:1"] } });
  const conflicting = configSummary({ version: 0, origin: "d", settings: { fanout: 3, gossipIntervalMs: 500, seeds: ["b:1"] } });

  test("a new node with the same version and other settings is refused, naming them", () => {
    const { outcome } = run({ clusterConfig: () => conflicting }, { clusterConfig: () => cluster });
    expect(outcome.kind).toBe("refused");
    if (outcome.kind !== "refused") return;
    expect(outcome.refusal.code).toBe(ErrorCode.ConfigConflict);
    expect(outcome.refusal.message).toContain("differing settings: fanout, gossipIntervalMs");
  });

  test("seeds differ per node and do not conflict; a known member or another version is admitted", () => {
    const sameButSeeds = configSummary({ version: 0, origin: "d", settings: { fanout: 1, gossipIntervalMs: 1000, seeds: [] } });
    expect(run({ clusterConfig: () => sameButSeeds }, { clusterConfig: () => cluster }).outcome.kind).toBe("established");
    const known = { remembered: () => ({ generation: 1, heartbeat: 0, maxVersion: 0 }) };
    expect(run({ clusterConfig: () => conflicting, ...known }, { clusterConfig: () => cluster, ...known }).outcome.kind).toBe("established");
    const older = configSummary({ version: 0, origin: "d", settings: { fanout: 3 } });
    const newer = configSummary({ version: 2, origin: "l", settings: { fanout: 1 } });
    expect(run({ clusterConfig: () => older }, { clusterConfig: () => newer }).outcome.kind).toBe("established");
  });

  test("a member restarted without its data knows no one, but the peer remembers it: admitted whichever side dials", () => {
    const remembersPeer = (peer: string) => ({ remembered: (name: string) => (name === peer ? { generation: 3, heartbeat: 40, maxVersion: 2 } : undefined) });
    const restartedDials = run({ clusterConfig: () => conflicting }, { clusterConfig: () => cluster, ...remembersPeer("d") });
    expect(restartedDials.outcome.kind).toBe("established");
    const memberDials = run({ clusterConfig: () => cluster, ...remembersPeer("l") }, { clusterConfig: () => conflicting });
    expect(memberDials.outcome.kind).toBe("established");
    expect([restartedDials, memberDials].every(({ dialer, listener }) => dialer.done && listener.done)).toBe(true);
  });
});
