// GOFERBROKE_JIT_POLICY: how reluctant Bun's JIT compiler is once the node runs (the daemon only;
// a process-wide setting that a library must leave to its application). 1 is Bun's normal policy;
// N makes a function wait N times as many calls before it is optimised. The executable starts at
// 8 for its run-once start-up code (scripts/build-flags.ts) and switches to this when the node
// listens. Above 1 the optimising compilers run less and later: 100 nodes on 2 cores held 14.7 MiB
// of private memory per idle node at 64 instead of 22.3 at 1 (with MIMALLOC_PURGE_DELAY=-1, which
// never hands freed memory back) and joined faster, for about 45 % more idle CPU once the JIT has
// settled (docs/BENCHMARKS.md "Scale"). So 1 stays the default. A node under load still optimises
// its hot paths, a little later. It is not a node option: no node reads it, only this daemon.

import { OptionsError } from "./options-error.ts";

export const JIT_POLICY_ENV = "GOFERBROKE_JIT_POLICY";
const MAX_JIT_POLICY = 1000;

export function jitPolicyFrom(env: Record<string, string | undefined>): number {
  const text = env[JIT_POLICY_ENV];
  if (text === undefined || text.trim() === "") return 1;
  // Digits only, as the integer options read from the environment (merge.ts): Number() would also
  // take "0x40" or "1e1".
  const value = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= MAX_JIT_POLICY)) {
    throw new OptionsError([{ path: JIT_POLICY_ENV, value: text, expected: `an integer from 1 to ${MAX_JIT_POLICY}` }]);
  }
  return value;
}
