// Failure-detection measurements over a SimulatedCluster in membership mode: how long a crash
// takes to be marked dead on every live node, and how many false verdicts a hostile period
// (message loss plus a node whose event loop stalls) produces. Shared by the detector benchmark
// and the simulation tests, so both measure the same way.

import type { NodeEvent } from "../events.ts";
import type { MembershipSettings } from "../membership/membership.ts";
import { SimulatedCluster, type SimNode } from "./simulated-cluster.ts";

export interface MembershipClusterOptions {
  nodes: number;
  seed: number;
  membership?: Partial<MembershipSettings>;
  /** Simulated time after everyone knows everyone, so detectors have a history (default 60 s). */
  warmUpMs?: number;
}

/** Starts a cluster of whole nodes, waits until every node knows every other, then warms up. */
export async function startMembershipCluster(options: MembershipClusterOptions): Promise<SimulatedCluster> {
  const cluster = new SimulatedCluster({
    nodes: options.nodes,
    seed: options.seed,
    network: { lossRate: 0, minLatencyMs: 1, maxLatencyMs: 10 },
    gossip: {},
    membership: options.membership ?? {},
  });
  cluster.recordChanges = false;
  await cluster.started();
  const joined = cluster.runUntil(() => cluster.nodes.every((node) => node.state.nodes.size === options.nodes), 60);
  if (joined < 0) throw new Error(`${options.nodes} nodes did not learn of each other within 60 rounds`);
  cluster.runFor(options.warmUpMs ?? 60_000);
  return cluster;
}

export interface CrashTrial {
  victim: string;
  /** From the crash until the last live node marked it dead; -1 if some did not within maxMs. */
  deadOnAllMs: number;
  /** From the crash until the first live node suspected it. */
  firstSuspectMs: number;
  /** From the crash until the first live node marked it dead. */
  firstDeadMs: number;
  /** Nodes other than the victim marked dead by anyone during the trial. */
  falseDead: number;
}

/** Crashes `victim` and runs until every running node has marked it dead, or maxMs passes. */
export function measureCrash(cluster: SimulatedCluster, victim: string, maxMs = 30_000): CrashTrial {
  assertMembership(cluster);
  const observers = cluster.running().filter((node) => node.name !== victim);
  const seen = new Map(observers.map((node) => [node, node.events.length]));
  const crashedAt = cluster.clock.wallNow();
  cluster.crash(victim);
  const deadEverywhere = (): boolean => observers.every((node) => node.node.status(victim) === "dead");
  const stepMs = 100;
  for (let elapsed = 0; elapsed < maxMs && !deadEverywhere(); elapsed += stepMs) cluster.runFor(stepMs);

  const since = (node: SimNode): NodeEvent[] => node.events.slice(seen.get(node));
  const times = (type: NodeEvent["type"]): number[] =>
    observers.flatMap((node) => since(node).filter((event) => event.type === type && event.node === victim).map((event) => event.time - crashedAt));
  // Each observer's latest "dead" counts: a victim marked dead, alive, then dead again was not
  // dead everywhere before the second verdict.
  const lastDead = observers.map((node) => since(node).findLast((event) => event.type === "node-dead" && event.node === victim));
  const falseDead = observers.reduce((count, node) => count + since(node).filter((event) => event.type === "node-dead" && event.node !== victim).length, 0);
  return {
    victim,
    deadOnAllMs: deadEverywhere() ? Math.max(...lastDead.map((event) => event!.time - crashedAt)) : -1,
    firstSuspectMs: Math.min(...times("node-suspect")),
    firstDeadMs: Math.min(...times("node-dead")),
    falseDead,
  };
}

export interface HostileProfile {
  minutes: number;
  lossRate: number;
  /** The node whose event loop stalls. */
  staller: string;
  stallMs: number;
  stallEveryMs: number;
}

/** T3's hostile profile: 10% message loss, one node stalling 2 s every 30 s. */
export function hostileProfile(staller: string, minutes: number): HostileProfile {
  return { minutes, lossRate: 0.1, staller, stallMs: 2000, stallEveryMs: 30_000 };
}

export interface HostileOutcome {
  /** "dead" records about nodes that never crashed (all of them, here). */
  falseDead: number;
  falseSuspect: number;
  /** How many of those concern the staller. */
  deadAboutStaller: number;
  suspectAboutStaller: number;
  /** How many were raised by the staller about others. */
  deadByStaller: number;
  suspectByStaller: number;
}

/** Runs the cluster under the profile (nobody crashes) and counts the verdicts it provoked. */
export function runHostile(cluster: SimulatedCluster, profile: HostileProfile): HostileOutcome {
  assertMembership(cluster);
  const seen = new Map(cluster.nodes.map((node) => [node, node.events.length]));
  const previousLoss = cluster.network.options.lossRate;
  cluster.network.options.lossRate = profile.lossRate;
  const endMs = cluster.clock.now() + profile.minutes * 60_000;
  // The first stall comes at a random phase, so seeds differ in how stalls meet rounds.
  let nextStallMs = cluster.clock.now() + cluster.random.next() * profile.stallEveryMs;
  while (cluster.clock.now() < endMs) {
    const stepMs = Math.min(nextStallMs, endMs) - cluster.clock.now();
    if (stepMs > 0) cluster.runFor(stepMs);
    if (cluster.clock.now() >= nextStallMs && cluster.clock.now() < endMs) {
      cluster.stall(profile.staller, profile.stallMs);
      nextStallMs += profile.stallEveryMs;
    }
  }
  cluster.network.options.lossRate = previousLoss;

  const outcome: HostileOutcome = { falseDead: 0, falseSuspect: 0, deadAboutStaller: 0, suspectAboutStaller: 0, deadByStaller: 0, suspectByStaller: 0 };
  for (const node of cluster.nodes) {
    for (const event of node.events.slice(seen.get(node))) {
      const dead = event.type === "node-dead";
      if (!dead && event.type !== "node-suspect") continue;
      if (dead) outcome.falseDead++;
      else outcome.falseSuspect++;
      if (event.node === profile.staller) {
        if (dead) outcome.deadAboutStaller++;
        else outcome.suspectAboutStaller++;
      }
      if (node.name === profile.staller) {
        if (dead) outcome.deadByStaller++;
        else outcome.suspectByStaller++;
      }
    }
  }
  return outcome;
}

function assertMembership(cluster: SimulatedCluster): void {
  if (!cluster.options.membership) throw new Error("failure-detection measurements need a cluster with membership");
}
