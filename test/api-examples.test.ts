// Runs every example under examples/ as its own `bun` process and checks what it prints: each
// must exit 0 on its own within a few seconds, with no error output. The process is killed in
// `finally` whatever happens.

import { describe, expect, test } from "bun:test";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const TIMEOUT_MS = 15_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
  ms: number;
}

async function runExample(file: string): Promise<Run> {
  const started = performance.now();
  const child = Bun.spawn([process.execPath, join("examples", file)], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), TIMEOUT_MS)));
    const [outcome, stdout, stderr] = await Promise.all([
      Promise.race([child.exited, timedOut]),
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    if (outcome === "timeout") throw new Error(`examples/${file} did not exit within ${TIMEOUT_MS} ms`);
    return { code: outcome, stdout, stderr, lines: stdout.trimEnd().split("\n"), ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

function expectCleanExit(run: Run): void {
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
  expect(run.lines.at(-1)).toBe("stopped");
  expect(run.ms).toBeLessThan(10_000);
}

/** The one line matching `pattern` (fails when there is none or more than one). */
function line(run: Run, pattern: RegExp): RegExpExecArray {
  const matches = run.lines.map((text) => pattern.exec(text)).filter((match) => match !== null);
  expect({ pattern: String(pattern), count: matches.length }).toEqual({ pattern: String(pattern), count: 1 });
  return matches[0]!;
}

describe("examples", () => {
  test("basic-node.ts: one node, set/get/delete, stop", async () => {
    const run = await runExample("basic-node.ts");
    expectCleanExit(run);
    const port = Number(line(run, /^node basic listening on 127\.0\.0\.1:(\d+)$/)[1]);
    expect(port).toBeGreaterThan(0);
    const version = line(run, /^set greeting\/hello = "world" \(version (\d+)\)$/)[1];
    line(run, new RegExp(`^get greeting/hello -> "world" \\(string, version ${version}\\)$`));
    line(run, /^stats\/visits is now 42 \(int\)$/);
    line(run, /^profile\/settings\.theme is dark \(json\)$/);
    line(run, /^after delete: greeting\/hello -> undefined$/);
    line(run, /^entries: profile\/settings, stats\/load, stats\/visits$/);
  }, TIMEOUT_MS + 5_000);

  test("two-nodes-events.ts: bravo sees alpha's add, update and delete as events", async () => {
    const run = await runExample("two-nodes-events.ts");
    expectCleanExit(run);
    line(run, /^bravo: alpha joined$/);
    const added = Number(line(run, /^bravo: alpha added inventory\/apples = 3n \(int, version (\d+)\)$/)[1]);
    const updated = line(run, /^bravo: alpha updated inventory\/apples: 3n \(version (\d+)\) -> 5n \(version (\d+)\)$/);
    expect(Number(updated[1])).toBe(added);
    expect(Number(updated[2])).toBeGreaterThan(added);
    line(run, new RegExp(`^bravo: alpha deleted inventory/apples \\(was 5n, version ${updated[2]}\\)$`));
    line(run, /^bravo saw: added apples, updated apples, deleted apples$/);
  }, TIMEOUT_MS + 5_000);

  test("feature-flags.ts: a flag toggled on one node reaches all three, with events", async () => {
    const run = await runExample("feature-flags.ts");
    expectCleanExit(run);
    for (const name of ["control", "web-1", "web-2"]) {
      const local = name === "control" ? ", local" : "";
      line(run, new RegExp(`^${name}: flag dark-mode = false \\(new, from control${local}\\)$`));
      line(run, new RegExp(`^${name}: flag dark-mode = true \\(was false, from control${local}\\)$`));
      line(run, new RegExp(`^${name} sees: dark-mode=true new-checkout=false$`));
    }
    const ms = Number(line(run, /^dark-mode on at all 3 nodes after (\d+) ms$/)[1]);
    expect(ms).toBeLessThan(5_000);
  }, TIMEOUT_MS + 5_000);

  test("control-bus.ts: a user event raised once per node, a filtered query with acks and answers, a write applied everywhere", async () => {
    const run = await runExample("control-bus.ts");
    expectCleanExit(run);
    for (const name of ["control", "web-1", "web-2"]) line(run, new RegExp(`^${name} got deploy v2\\.1\\.0 from control$`));
    expect(run.lines.filter((text) => text.endsWith("got deploy v2.1.0 from control")).length).toBe(3);
    for (const name of ["web-1", "web-2"]) line(run, new RegExp(`^  answer from ${name}: ${name} runs v2\\.1\\.0 \\(build 417\\)$`));
    line(run, /^query version: asked 2, acked 2, answered 2, missing 0$/);
    line(run, /^everyone answered: control, web-1, web-2$/);
    line(run, /^dark-mode applied on web-1, web-2: true$/);
  }, TIMEOUT_MS + 5_000);

  test("live-config.ts: app.maxConnections pushed with updateClusterConfig is seen by every node", async () => {
    const run = await runExample("live-config.ts");
    expectCleanExit(run);
    for (const name of ["alpha", "bravo", "charlie"]) {
      line(run, new RegExp(`^${name}: maxConnections = undefined \\(config version 0\\)$`));
      line(run, new RegExp(`^${name}: config version 1 from alpha: maxConnections = 1000$`));
    }
    line(run, /^alpha: published config version 1$/);
  }, TIMEOUT_MS + 5_000);
});
