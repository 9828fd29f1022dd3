// A campaign: many scenarios from one seed, each failure shrunk to fewer episodes and printed
// with the one-line command that replays it, and the distribution of convergence times.

import { type FaultKind, generateScenario, type Scenario, type ScenarioOptions, scenarioSeed, describeEpisode, defaultFaults, faultKinds } from "./scenario.ts";
import { percentile } from "../measure.ts";
import { runScenario, type ScenarioResult } from "./run.ts";

/** Runs of the scenario the shrinker may spend per failure. */
const SHRINK_BUDGET = 40;

export interface CampaignOptions extends ScenarioOptions {
  scenarios: number;
  seed: number;
  shrink: boolean;
  /** Called after every scenario (progress output). */
  onResult?: (result: ScenarioResult, index: number) => void;
}

export interface Failure {
  result: ScenarioResult;
  /** The shrunk scenario that still fails the same invariant (the original when nothing could go). */
  shrunk: ScenarioResult;
}

export interface CampaignReport {
  scenarios: number;
  failures: Failure[];
  /** Convergence rounds after the last fault, of every scenario that converged. */
  convergence: number[];
  wallMs: number;
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignReport> {
  const started = performance.now();
  const failures: Failure[] = [];
  const convergence: number[] = [];
  for (let index = 0; index < options.scenarios; index++) {
    const result = await runScenario(generateScenario(scenarioSeed(options.seed, index), options));
    options.onResult?.(result, index);
    if (result.convergenceRounds >= 0) convergence.push(result.convergenceRounds);
    if (result.violation) failures.push({ result, shrunk: options.shrink ? await shrink(result) : result });
  }
  return { scenarios: options.scenarios, failures, convergence, wallMs: performance.now() - started };
}

/**
 * Drops episodes one at a time, keeping each drop after which the scenario still fails the same
 * invariant; repeats until no single drop keeps it failing or the budget is spent.
 */
export async function shrink(failed: ScenarioResult): Promise<ScenarioResult> {
  const invariant = failed.violation!.invariant;
  let best = failed;
  let runs = 0;
  for (let progress = true; progress && runs < SHRINK_BUDGET; ) {
    progress = false;
    for (const episode of best.scenario.episodes) {
      if (runs++ >= SHRINK_BUDGET) break;
      const { seed, options, dropped } = best.scenario;
      const candidate = await runScenario(generateScenario(seed, options, [...dropped, episode.index]));
      if (candidate.violation?.invariant === invariant) {
        best = candidate;
        progress = true;
        break;
      }
    }
  }
  return best;
}

/** The one-line command that replays exactly this scenario. */
export function replayCommand(scenario: Scenario): string {
  const { nodes, minutes, faults } = scenario.options;
  const drop = scenario.dropped.length > 0 ? ` --drop ${scenario.dropped.join(",")}` : "";
  return `bun run chaos -- --replay ${scenario.seed} --nodes ${nodes} --minutes ${minutes} --faults ${faults.join(",")}${drop}`;
}

/** The failure as printed: seed, invariant, replay command, and the minimal trace. */
export function describeFailure(failure: Failure): string {
  const { result, shrunk } = failure;
  const violation = shrunk.violation ?? result.violation!;
  const lines = [
    `VIOLATION ${violation.invariant} in scenario seed ${result.scenario.seed} at t=${(violation.atMs / 1000).toFixed(3)}s: ${violation.message}`,
    `  replay: ${replayCommand(shrunk.scenario)}`,
  ];
  if (shrunk !== result) lines.push(`  shrunk from ${result.scenario.episodes.length} to ${shrunk.scenario.episodes.length} episodes (unshrunk: ${replayCommand(result.scenario)})`);
  lines.push("  episodes:", ...shrunk.scenario.episodes.map((episode) => `    ${describeEpisode(episode)}`));
  lines.push("  what the injector did:", ...shrunk.applied.map((line) => `    ${line}`));
  return lines.join("\n");
}

/** Convergence rounds as percentiles and a histogram. */
export function describeConvergence(rounds: readonly number[]): string {
  const sorted = [...rounds].sort((a, b) => a - b);
  if (sorted.length === 0) return "no scenario converged";
  const counts = new Map<number, number>();
  for (const r of sorted) counts.set(r, (counts.get(r) ?? 0) + 1);
  const histogram = [...counts].map(([r, count]) => `${r}:${count}`).join(" ");
  return `rounds after the last fault until converged: p50 ${percentile(sorted, 0.5)}, p90 ${percentile(sorted, 0.9)}, p99 ${percentile(sorted, 0.99)}, max ${sorted.at(-1)} (histogram rounds:scenarios ${histogram})`;
}

/** "default", "all", or a comma-separated list of fault kinds; throws naming an unknown kind. */
export function parseFaults(text: string): FaultKind[] {
  if (text === "default") return [...defaultFaults];
  if (text === "all") return [...faultKinds];
  const kinds = text.split(",").map((kind) => kind.trim()).filter((kind) => kind.length > 0);
  const unknown = kinds.find((kind) => !(faultKinds as readonly string[]).includes(kind));
  if (unknown !== undefined) throw new Error(`--faults: unknown fault kind "${unknown}"; known: ${faultKinds.join(", ")}`);
  if (kinds.length === 0) throw new Error("--faults: name at least one fault kind");
  return kinds as FaultKind[];
}
