// A chaos scenario: a seeded list of fault episodes on a timeline. It is plain data generated
// from (seed, options), so printing the seed, the options and the episodes dropped by the
// shrinker is enough to replay it exactly.

import { createRandom, type Random } from "../../random.ts";
import { nodeName } from "../simulated-cluster.ts";

export const faultKinds = [
  "partition", // symmetric: the nodes split into islands of any size
  "asymmetric", // non-transitive: one node cut from some others, which still reach each other
  "one-way", // messages from one group to another are lost, the other way works
  "heal-steps", // three or more islands, healed one pair of islands at a time
  "long-partition", // one island cut off for longer than deadRemovalMs
  "crash", // a node stops abruptly; most come back within 8 s with a new generation
  "long-crash", // ... and comes back 8-25 s later, around or after its removal as dead
  "restart", // a node restarts at once under the same name with a new generation
  "restart-lower", // ... with a lower generation, as after the clock stepped back
  "freeze", // a node's event loop blocks for less than deadRemovalMs
  "long-freeze", // ... for longer than deadRemovalMs
  "loss", // every link drops a share of messages
  "duplicate", // a share of messages arrives twice
  "reorder", // latency jitter wide enough for later messages to overtake earlier ones
  "delay", // every message takes 0.3-1.5 s
  "skew", // one node's wall clock jumps forward or back
  "join", // a new node joins through a random running node as its seed
  "leave", // a node leaves gracefully (during whatever partition is on); some come back
] as const;
export type FaultKind = (typeof faultKinds)[number];

/**
 * Fault kinds that currently make the cluster fail an invariant because of a known bug, with the
 * bug. They are left out of the default campaign; --faults can still name them.
 */
export const knownBugs: Partial<Record<FaultKind, string>> = {};

export const defaultFaults: FaultKind[] = faultKinds.filter((kind) => knownBugs[kind] === undefined);

/** Kinds that cut a node off (or look like it): scheduled one at a time unless removal is under test. */
const isolating: ReadonlySet<FaultKind> = new Set(["partition", "asymmetric", "one-way", "heal-steps", "long-partition", "freeze", "long-freeze", "delay"]);
/** Kinds after which removal is the expected outcome, so isolations may also pile up. */
const removalKinds: ReadonlySet<FaultKind> = new Set(["long-partition", "long-freeze"]);

export interface ScenarioOptions {
  nodes: number;
  minutes: number;
  faults: readonly FaultKind[];
}

/** Settings every scenario runs with (the shipped node, with timers at their minimum). */
export const chaosTiming = {
  roundMs: 1000,
  deadRemovalMs: 10_000,
  leftRemovalMs: 10_000,
  tombstoneGraceMs: 20_000,
  /** Faults start once the cluster has formed. */
  warmUpMs: 10_000,
  /** Time kept free of faults at the end of --minutes, for convergence (more than the bound). */
  settleMs: 60_000,
  /** A gap after each isolating episode, so the cluster recovers before the next (see isolating). */
  isolationGapMs: 15_000,
  maxSkewMs: 10_000,
  maxTtlMs: 10_000,
} as const;

/** Every initial node joins through the first two (SimulatedCluster's `seeds`). */
export const seedCount = (nodes: number): number => Math.min(2, nodes);

export interface Episode {
  /** Position in the generated list: what --drop names. */
  index: number;
  kind: FaultKind;
  atMs: number;
  /** 0 for instantaneous kinds (restart, skew, join, a leave or crash for good). */
  durationMs: number;
  /** The nodes concerned: victim, joiner then seed, or the first group. */
  nodes: string[];
  /** Partition islands, or [from, to] for one-way. */
  groups: string[][];
  /** Loss or duplicate rate, latency bounds, skew, generation step: what the kind needs. */
  value: number;
}

export interface Scenario {
  seed: number;
  options: ScenarioOptions;
  /** Episodes in time order; `dropped` are the indexes the shrinker removed. */
  episodes: Episode[];
  dropped: number[];
  /** No episode lasts past this. */
  faultEndMs: number;
}

/** The seed of scenario `index` of a campaign seeded with `seed` (splitmix-style mixing). */
export function scenarioSeed(seed: number, index: number): number {
  let x = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

export function generateScenario(seed: number, options: ScenarioOptions, dropped: readonly number[] = []): Scenario {
  if (options.faults.length === 0) throw new Error("a scenario needs at least one fault kind (--faults)");
  const random = createRandom(seed);
  const totalMs = Math.round(options.minutes * 60_000);
  const faultEndMs = totalMs - chaosTiming.settleMs;
  if (faultEndMs < chaosTiming.warmUpMs + 20_000) throw new Error(`--minutes ${options.minutes} leaves no time for faults: at least ${(chaosTiming.warmUpMs + 20_000 + chaosTiming.settleMs) / 60_000} minutes`);
  const joiners = options.faults.includes("join") ? Math.max(1, Math.floor(options.nodes / 3)) : 0;
  const names = Array.from({ length: options.nodes + joiners }, (_, i) => nodeName(i));
  let nextJoiner = options.nodes;
  const serialize = !options.faults.some((kind) => removalKinds.has(kind));
  let isolationFreeAt = 0;
  const episodes: Episode[] = [];
  // About one episode every 8 s of the fault window.
  const count = Math.max(1, Math.round((faultEndMs - chaosTiming.warmUpMs) / 8_000));
  const starts = Array.from({ length: count }, () => chaosTiming.warmUpMs + random.int(faultEndMs - chaosTiming.warmUpMs - 5_000)).sort((a, b) => a - b);
  for (const start of starts) {
    const kind = options.faults[random.int(options.faults.length)]!;
    const episode = draw(kind, random, names, start, () => (nextJoiner < names.length ? names[nextJoiner++] : undefined));
    if (!episode) continue;
    if (isolating.has(kind)) {
      if (serialize) episode.atMs = Math.max(episode.atMs, isolationFreeAt);
      if (episode.atMs + episode.durationMs > faultEndMs) continue;
      if (serialize) isolationFreeAt = episode.atMs + episode.durationMs + chaosTiming.isolationGapMs;
    }
    if (episode.atMs + episode.durationMs > faultEndMs) episode.durationMs = Math.max(0, faultEndMs - episode.atMs);
    episodes.push({ ...episode, index: episodes.length });
  }
  episodes.sort((a, b) => a.atMs - b.atMs || a.index - b.index);
  const drop = new Set(dropped);
  return {
    seed,
    options,
    episodes: episodes.filter((episode) => !drop.has(episode.index)),
    dropped: [...drop].sort((a, b) => a - b),
    faultEndMs,
  };
}

function between(random: Random, min: number, max: number): number {
  return min + random.int(max - min + 1);
}

/** Splits names into `count` non-empty islands at random. */
function islands(random: Random, names: readonly string[], count: number): string[][] {
  const shuffled = random.shuffle([...names]);
  const groups: string[][] = Array.from({ length: count }, (_, i) => [shuffled[i]!]);
  for (const name of shuffled.slice(count)) groups[random.int(count)]!.push(name);
  return groups;
}

function draw(kind: FaultKind, random: Random, names: readonly string[], atMs: number, joiner: () => string | undefined): Omit<Episode, "index"> | undefined {
  const pick = (): string => names[random.int(names.length)]!;
  const base = { kind, atMs, durationMs: 0, nodes: [] as string[], groups: [] as string[][], value: 0 };
  const { deadRemovalMs } = chaosTiming;
  switch (kind) {
    case "partition":
      return { ...base, durationMs: between(random, 2_000, 12_000), groups: islands(random, names, between(random, 2, Math.min(4, names.length))) };
    case "heal-steps": {
      const groups = islands(random, names, Math.min(names.length, between(random, 3, 4)));
      return { ...base, durationMs: between(random, 3_000, 8_000), groups, value: between(random, 1_000, 3_000) };
    }
    case "long-partition": {
      const cut = random.shuffle([...names]).slice(0, between(random, 1, Math.max(1, Math.floor(names.length / 2))));
      return { ...base, durationMs: between(random, deadRemovalMs + 10_000, deadRemovalMs + 25_000), groups: [cut, names.filter((name) => !cut.includes(name))] };
    }
    case "asymmetric": {
      const victim = pick();
      const others = names.filter((name) => name !== victim);
      const cut = random.shuffle([...others]).slice(0, between(random, 1, Math.max(1, others.length - 1)));
      return { ...base, durationMs: between(random, 2_000, 12_000), nodes: [victim], groups: [[victim], cut] };
    }
    case "one-way": {
      const [from, to] = islands(random, names, 2);
      return { ...base, durationMs: between(random, 2_000, 12_000), groups: [from!, to!] };
    }
    case "crash":
      // Most crashed nodes restart, well before their removal as dead; some stay down.
      return { ...base, nodes: [pick()], durationMs: random.next() < 0.75 ? between(random, 1_000, 8_000) : 0 };
    case "long-crash":
      return { ...base, nodes: [pick()], durationMs: between(random, 8_000, deadRemovalMs + 15_000) };
    case "restart":
      return { ...base, nodes: [pick()] };
    case "restart-lower":
      return { ...base, nodes: [pick()], value: between(random, 1, 3) };
    case "freeze":
      return { ...base, nodes: [pick()], durationMs: between(random, 1_000, deadRemovalMs - 2_000) };
    case "long-freeze":
      return { ...base, nodes: [pick()], durationMs: between(random, deadRemovalMs + 10_000, deadRemovalMs + 20_000) };
    case "loss":
      return { ...base, durationMs: between(random, 3_000, 15_000), value: 0.05 + random.next() * 0.2 };
    case "duplicate":
      return { ...base, durationMs: between(random, 3_000, 15_000), value: 0.1 + random.next() * 0.4 };
    case "reorder":
      return { ...base, durationMs: between(random, 3_000, 15_000), value: 150 };
    case "delay":
      return { ...base, durationMs: between(random, 2_000, 8_000), value: between(random, 300, 1_500) };
    case "skew":
      return { ...base, nodes: [pick()], value: between(random, -chaosTiming.maxSkewMs, chaosTiming.maxSkewMs) };
    case "join": {
      const name = joiner();
      if (name === undefined) return undefined;
      return { ...base, nodes: [name, pick()] };
    }
    case "leave":
      return { ...base, nodes: [pick()], durationMs: random.next() < 0.5 ? between(random, 2_000, 2 * deadRemovalMs) : 0 };
  }
}

/** One line per episode, for traces and reports. */
export function describeEpisode(episode: Episode): string {
  const at = `t=${(episode.atMs / 1000).toFixed(1)}s`;
  const lasting = episode.durationMs > 0 ? ` for ${(episode.durationMs / 1000).toFixed(1)}s` : "";
  const groups = episode.groups.length > 0 ? ` ${episode.groups.map((group) => `[${group.join(",")}]`).join(episode.kind === "one-way" ? " -/-> " : " | ")}` : "";
  const nodes = episode.nodes.length > 0 && episode.groups.length === 0 ? ` ${episode.nodes.join(" via ")}` : "";
  const value = episode.value !== 0 ? ` (${episode.kind === "loss" || episode.kind === "duplicate" ? `${(episode.value * 100).toFixed(0)}%` : episode.value})` : "";
  return `#${episode.index} ${at} ${episode.kind}${nodes}${groups}${value}${lasting}`;
}
