// GOFERBROKE_JIT_POLICY: how reluctant Bun's JIT compiler is once the node runs (the daemon only;
// a process-wide setting that a library must leave to its application). 1 is Bun's normal policy;
// N makes a function wait N times as many calls before it is optimised. The executable starts at
// 8 for its run-once start-up code (scripts/build-flags.ts) and switches to this when the node
// listens. Above 1 the optimising compilers run less and later: a 100-node cluster on 2 cores
// held 15.3 MiB of private memory per idle node at 64 instead of 23.9 at 1 (with
// MIMALLOC_PURGE_DELAY=-1, which never hands freed memory back), for about a fifth more idle CPU
// over the same window (docs/BENCHMARKS.md "Scale"). A node under load still optimises its hot
// paths, a little later.

import { OptionsError } from "../config/options-error.ts";

export const JIT_POLICY_ENV = "GOFERBROKE_JIT_POLICY";
const MAX_JIT_POLICY = 1000;

export function jitPolicyFrom(env: Record<string, string | undefined>): number {
  const text = env[JIT_POLICY_ENV];
  if (text === undefined || text.trim() === "") return 1;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > MAX_JIT_POLICY) {
    throw new OptionsError([{ path: JIT_POLICY_ENV, value: text, expected: `an integer from 1 to ${MAX_JIT_POLICY}` }]);
  }
  return value;
}
