// The live progress line of the simulator and the benchmarks: shown on a terminal (a real
// pseudo-terminal, made by util-linux `script`), erased before the report, and absent when
// stderr is a pipe (CI logs, files) or CI is set.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";

setDefaultTimeout(60_000);

const ROOT = join(import.meta.dir, "..");
const SCRIPT = Bun.which("script");
if (SCRIPT === null) console.log("skipping the terminal cases: util-linux `script` (which makes a pseudo-terminal) is not on PATH");
const terminalTest = SCRIPT === null ? test.skip : test;
// Carriage return and "erase line": how the progress line rewrites itself.
const CLEAR = "\r\x1b[2K";
// Long enough for several updates 200 ms apart (60 nodes took 0.4 s once summaries made idle rounds cheap).
const SIMULATE = [process.execPath, join(ROOT, "scripts", "simulate.ts"), "--nodes", "300", "--trials", "10", "--idle-rounds", "2"];
const RUN_TIMEOUT_MS = 45_000;

/** This process's environment with `changes` applied; an undefined value removes the variable. */
function environment(changes: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string | undefined> = { ...process.env, ...changes };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  return env as Record<string, string>;
}

const quote = (arg: string) => `'${arg.replace(/'/g, "'\\''")}'`;

/** Runs argv with stdout and stderr on a pseudo-terminal; returns everything it wrote there. */
async function onTerminal(argv: string[], env: Record<string, string | undefined> = {}): Promise<string> {
  const child = Bun.spawn([SCRIPT!, "-qec", argv.map(quote).join(" "), "/dev/null"], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: environment(env) });
  return await finish(child, argv);
}

async function finish(child: Bun.Subprocess<"ignore", "pipe", "pipe">, argv: string[]): Promise<string> {
  const timer = setTimeout(() => child.kill(9), RUN_TIMEOUT_MS);
  try {
    const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    expect({ argv: argv.slice(1).join(" "), exitCode: await child.exited }).toEqual({ argv: argv.slice(1).join(" "), exitCode: 0 });
    return stdout + stderr;
  } finally {
    clearTimeout(timer);
  }
}

describe("bun run simulate", () => {
  terminalTest("on a terminal: a line rewritten in place through the phases, erased before the report", async () => {
    const output = await onTerminal(SIMULATE, { CI: undefined, TERM: "xterm" });
    const updates = output.split(CLEAR).slice(1, -1);
    expect(updates.length).toBeGreaterThanOrEqual(3);
    for (const update of updates) expect(update).toMatch(/^simulate: (joining|idle traffic|write \d+ of 10), interval \d+, rss \d+ MiB \(\d+ s\)$/);
    expect(updates.some((update) => update.startsWith("simulate: write "))).toBe(true);
    // The report starts on a clean line right after the last erase.
    expect(output.split(CLEAR).at(-1)).toStartWith("nodes=300 loss=0 seed=7");
  });

  terminalTest("on a terminal with CI set: no progress line", async () => {
    const output = await onTerminal(SIMULATE, { CI: "true", TERM: "xterm" });
    expect(output).not.toContain(CLEAR);
    expect(output).toStartWith("nodes=300 loss=0 seed=7");
  });

  test("into a pipe (a CI log): no progress line, only the report", async () => {
    const child = Bun.spawn(SIMULATE, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: environment({ CI: undefined, TERM: "xterm" }) });
    const output = await finish(child, SIMULATE);
    expect(output).not.toContain("\x1b");
    expect(output).not.toContain("\r");
    expect(output).toStartWith("nodes=300 loss=0 seed=7");
  });
});

describe("benchmarks", () => {
  terminalTest("bench:codec --quick shows its rounds on a terminal and not in a pipe", async () => {
    const argv = [process.execPath, join(ROOT, "scripts", "bench", "codec.ts"), "--quick"];
    const output = await onTerminal(argv, { CI: undefined, TERM: "xterm" });
    const updates = output.split(CLEAR).slice(1, -1);
    expect(updates.length).toBeGreaterThanOrEqual(1);
    for (const update of updates) expect(update).toMatch(/^bench:codec: round \d+ of \d+ \(\d+ s\)$/);
    expect(output.split(CLEAR).at(-1)).toStartWith("Machine: ");
    const piped = await finish(Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: environment({ CI: undefined }) }), argv);
    expect(piped).not.toContain(CLEAR);
  });
});
