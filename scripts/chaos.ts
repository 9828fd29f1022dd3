// Chaos campaign over the simulator: seeded random scenarios of faults (partitions, crashes,
// restarts, freezes, loss, duplication, reordering, delay, clock skew, churn) and workload on a
// cluster of whole GossipNodes, checking invariants I1-I5 (docs/BENCHMARKS.md "Chaos").
//   bun run chaos -- --scenarios 200 --seed 1
//   bun run chaos -- --replay 314344336 --nodes 6 --minutes 2 --faults long-partition,crash --drop 1,3
// Exits 1 when any scenario violated an invariant, printing its seed, a replay command and the
// shrunk scenario's trace.
import { parseArgs } from "node:util";
import { randomSeed } from "../src/random.ts";
import { describeConvergence, describeFailure, parseFaults, runCampaign, shrink } from "../src/sim/chaos/campaign.ts";
import { convergenceBoundRounds } from "../src/sim/chaos/invariants.ts";
import { runScenario } from "../src/sim/chaos/run.ts";
import { defaultFaults, describeEpisode, generateScenario, knownBugs } from "../src/sim/chaos/scenario.ts";

const usage = `usage: bun run chaos -- [options]
  --scenarios N     scenarios to run (default 100)
  --seed S          campaign seed (default: random, printed)
  --nodes K         nodes at the start of each scenario (default 6)
  --minutes M       simulated minutes per scenario, faults in all but the last one (default 2)
  --faults LIST     comma-separated fault kinds, "default" or "all" (default: ${defaultFaults.join(",")})
  --replay SEED     run the one scenario with this scenario seed (printed by a failure) and trace it
  --drop LIST       with --replay: episode indexes to leave out (printed by the shrinker)
  --no-shrink       report failures as found, without shrinking them
  --progress        print a line per scenario`;

function fail(message: string): never {
  console.error(`chaos: ${message}\n${usage}`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        scenarios: { type: "string", default: "100" },
        seed: { type: "string" },
        nodes: { type: "string", default: "6" },
        minutes: { type: "string", default: "2" },
        faults: { type: "string", default: "default" },
        replay: { type: "string" },
        drop: { type: "string", default: "" },
        "no-shrink": { type: "boolean", default: false },
        progress: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
    });
  } catch (error) {
    fail((error as Error).message);
  }
})();
if (values.help) {
  console.log(usage);
  process.exit(0);
}

function integer(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) fail(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
  return value;
}

const nodes = integer("nodes", values.nodes, 3, 64);
const minutes = Number(values.minutes);
if (!(minutes >= 1.5 && minutes <= 60)) fail(`--minutes must be a number from 1.5 to 60, got "${values.minutes}"`);
let faults;
try {
  faults = parseFaults(values.faults);
} catch (error) {
  fail((error as Error).message);
}
for (const kind of faults) if (knownBugs[kind]) console.log(`note: fault kind ${kind} hits a known bug: ${knownBugs[kind]}`);

if (values.replay !== undefined) {
  const seed = integer("replay", values.replay, 0, 0xffffffff);
  const dropped = values.drop === "" ? [] : values.drop.split(",").map((text) => integer("drop", text, 0, 10_000));
  const result = await runScenario(generateScenario(seed, { nodes, minutes, faults }, dropped));
  console.log(`scenario seed ${seed}: ${result.scenario.episodes.length} episodes, trace hash ${result.traceHash} (${result.events} events)`);
  for (const episode of result.scenario.episodes) console.log(`  ${describeEpisode(episode)}`);
  for (const line of result.applied) console.log(`    ${line}`);
  console.log(`workload: ${JSON.stringify(result.workload)}`);
  if (result.violation) {
    console.log(describeFailure({ result, shrunk: values["no-shrink"] ? result : await shrink(result) }));
    process.exit(1);
  }
  console.log(`no violation; converged ${result.convergenceRounds} rounds after the last fault (bound ${convergenceBoundRounds})`);
  process.exit(0);
}

const scenarios = integer("scenarios", values.scenarios, 1, 1_000_000);
const seed = values.seed === undefined ? randomSeed() : integer("seed", values.seed, 0, 0xffffffff);
console.log(`chaos: ${scenarios} scenarios, seed ${seed}, ${nodes} nodes, ${minutes} simulated minutes each, faults ${faults.join(",")}`);
const report = await runCampaign({
  scenarios,
  seed,
  nodes,
  minutes,
  faults,
  shrink: !values["no-shrink"],
  onResult: (result, index) => {
    if (values.progress || result.violation) {
      const outcome = result.violation ? `VIOLATION ${result.violation.invariant}` : `converged in ${result.convergenceRounds} rounds`;
      console.log(`#${index} seed ${result.scenario.seed}: ${result.scenario.episodes.length} episodes, ${outcome}, trace ${result.traceHash}`);
    }
  },
});
for (const failure of report.failures) console.log(describeFailure(failure));
console.log(describeConvergence(report.convergence));
console.log(`${report.scenarios} scenarios, ${report.failures.length} violations, wall time ${(report.wallMs / 1000).toFixed(1)} s (seed ${seed})`);
process.exit(report.failures.length > 0 ? 1 : 0);
