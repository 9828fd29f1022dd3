// The plain `goferbroke` daemon answers queries by running commands (--query-handler NAME=COMMAND):
// three real daemons (two given the handlers as flags, one in its .conf node file), asked with
// `goferbroke query`. Each answer is a real process's stdout; the deadline, the answer limit and a
// failing command each come back as an error naming what happened; bad flag values stop the start.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { QuerySummary } from "../src/index.ts";
import { killAll, runCli, spawnCli, startCluster, startNode, stopNode, waitFor, waitHealthy, type NodeProcess } from "./support/node-processes.ts";

setDefaultTimeout(90_000);

const NAMES = ["qh0", "qh1", "qh2"];
/** A sleep no other process on the machine runs, so pgrep finds only the handlers' own. */
const SLEEP = "sleep 31.25";
const HANDLERS = [
  "uptime=echo ok-$GOFERBROKE_NODE",
  // The payload arrives on stdin; the context in the environment.
  `context=printf '%s|%s|%s|' "$GOFERBROKE_QUERY_NAME" "$GOFERBROKE_QUERY_FROM" "$GOFERBROKE_NODE"; cat`,
  `slow=${SLEEP}; echo never`, // sh waits for sleep: only a group kill stops both
  "fail=echo 'disk on fire' >&2; echo second line >&2; exit 3",
  "flood=head -c 9000 /dev/zero",
];
const ANY_HANDLER = "*=echo fallback-$GOFERBROKE_QUERY_NAME";
const tempDir = mkdtempSync(join(tmpdir(), "gb-query-handlers-"));
let nodes: NodeProcess[] = [];

beforeAll(async () => {
  // qh2 reads its handlers from a .conf node file, the others from repeated flags.
  const conf = join(tempDir, "qh2.conf");
  writeFileSync(conf, `queryHandlers = [\n${HANDLERS.map((entry) => `  ${JSON.stringify(entry)}`).join("\n")}\n]\n`);
  // qh0 and qh1 also answer any other query: "*" is the handler of every name without its own.
  const flags = (name: string) => (name === "qh2" ? ["--node-config", conf] : [...HANDLERS, ANY_HANDLER].flatMap((entry) => ["--query-handler", entry]));
  nodes = await startCluster({ names: NAMES, gossipIntervalMs: 200, flags, timeoutMs: 45_000 });
});

afterAll(async () => {
  await killAll();
  rmSync(tempDir, { recursive: true, force: true });
});

type Item = { type: string; from?: string; payload?: string; error?: string } & Partial<QuerySummary>;

/** `goferbroke query --json` through the client port of `via`: every item it printed, and how it ended. */
async function query(via: NodeProcess, args: string[]): Promise<{ exitCode: number | null; items: Item[]; summary: QuerySummary; elapsedMs: number }> {
  const run = await runCli(["query", "--client", `127.0.0.1:${via.clientPort}`, "--json", ...args], { timeoutMs: 30_000 });
  const items = run.stdout.trim().split("\n").map((line) => JSON.parse(line) as Item);
  const summary = items.at(-1) as Item;
  expect(summary.type).toBe("summary");
  return { exitCode: run.exitCode, items, summary: summary as QuerySummary, elapsedMs: run.elapsedMs };
}

/** How many processes run exactly this command line (`sleep 31.25`): a handler's, not the daemon's. */
function running(commandLine: string): number {
  return Bun.spawnSync(["pgrep", "-f", `^${commandLine}$`]).stdout.toString().trim().split("\n").filter((line) => line !== "").length;
}

const decode = (payload: string | undefined) => Buffer.from(payload ?? "", "base64").toString("utf8");
const errorsByNode = (summary: QuerySummary) => Object.fromEntries(summary.errors.map(({ from, error }) => [from, error]));

describe("goferbroke --query-handler, 3 daemons", () => {
  test("`goferbroke query uptime` gets each node's own answer from its command", async () => {
    const run = await runCli(["query", "--client", `127.0.0.1:${nodes[1]!.clientPort}`, "uptime"], { timeoutMs: 30_000 });
    expect({ code: run.exitCode, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
    for (const name of NAMES) expect(run.stdout).toContain(`response from ${name}: ok-${name}\n`);
    expect(run.stdout).toMatch(/^asked 3, acked 0, answered 3, errors 0, in \d+\.\ds$/m);
  });

  test("the command reads the payload on stdin and the query name, the asker and its node from the environment", async () => {
    const { exitCode, items } = await query(nodes[2]!, ["context", "payload with spaces, commas\nand a newline"]);
    expect(exitCode).toBe(0);
    const answers = Object.fromEntries(items.filter((item) => item.type === "response").map((item) => [item.from, decode(item.payload)]));
    expect(answers).toEqual(Object.fromEntries(NAMES.map((name) => [name, `context|qh2|${name}|payload with spaces, commas\nand a newline`])));
  });

  test("a command that outlives the deadline is killed with its process group; the answer says it timed out, and the query ends by its timeout", async () => {
    const { exitCode, summary, elapsedMs } = await query(nodes[0]!, ["--timeout", "2s", "slow"]);
    expect(exitCode).toBe(1);
    expect({ responded: summary.responded, missing: summary.missing }).toEqual({ responded: [], missing: [] });
    const errors = errorsByNode(summary);
    expect(Object.keys(errors).sort()).toEqual(NAMES);
    for (const name of NAMES) expect(errors[name]).toMatch(new RegExp(`^handler for query "slow" on ${name} failed: the command timed out after \\d+ ms and was killed$`));
    expect(summary.elapsedMs).toBeLessThanOrEqual(2_100);
    expect(elapsedMs).toBeLessThan(6_000); // the CLI too: nothing waited on the killed processes
    // No sleep survives: the kill reached the whole group, not just `sh`.
    await waitFor("the handlers' sleep processes to be gone", () => running(SLEEP) === 0, 5_000);
  });

  test("a command exiting 3 gives an error naming the exit code and the first line of stderr", async () => {
    const { exitCode, summary } = await query(nodes[1]!, ["fail"]);
    expect(exitCode).toBe(1);
    expect(errorsByNode(summary)).toEqual(Object.fromEntries(NAMES.map((name) => [name, `handler for query "fail" on ${name} failed: the command exited with code 3: disk on fire`])));
  });

  test("stdout past the 8 KiB answer limit gives an error naming the limit, not a cut answer", async () => {
    const { summary } = await query(nodes[0]!, ["flood"]);
    expect(summary.responded).toEqual([]);
    for (const name of NAMES) expect(errorsByNode(summary)[name]).toBe(`handler for query "flood" on ${name} failed: the command wrote more than 8192 bytes to stdout (the limit of a query answer) and was killed`);
  });

  test('a "*" handler answers the queries without a handler of their own; a node without one says "no handler"', async () => {
    const { summary, items } = await query(nodes[0]!, ["anything-else"]);
    const answers = Object.fromEntries(items.filter((item) => item.type === "response").map((item) => [item.from, decode(item.payload)]));
    expect(answers).toEqual({ qh0: "fallback-anything-else\n", qh1: "fallback-anything-else\n" });
    expect(summary.errors).toEqual([{ from: "qh2", error: 'no handler for query "anything-else" on qh2' }]);
  });

  test("the nodes are still healthy and answering after all of that", async () => {
    const { exitCode, summary } = await query(nodes[2]!, ["uptime"]);
    expect({ exitCode, responded: summary.responded.sort() }).toEqual({ exitCode: 0, responded: NAMES });
  });
});

describe("stopping the daemon", () => {
  test("SIGTERM kills the commands still running (their process groups would outlive it) and the daemon exits 0", async () => {
    const sleep = "sleep 32.75";
    const node = await startNode({ name: "qh-stop", flags: ["--query-handler", `slow=${sleep}; echo never`] });
    await waitHealthy(node);
    const asking = spawnCli(["query", "--client", `127.0.0.1:${node.clientPort}`, "--timeout", "30s", "slow"]);
    await waitFor("the handler's sleep to start", () => running(sleep) === 1, 10_000);
    expect(await stopNode(node, "SIGTERM", 10_000)).toBe(0);
    await waitFor("the handler's sleep to be gone", () => running(sleep) === 0, 5_000);
    await asking.process.exited; // its node went away: it ends, whatever it printed
  });
});

describe("bad --query-handler values stop the start (exit 2)", () => {
  const cases: [string, string[], Record<string, string>, string][] = [
    ["no =", ["--query-handler", "uptime"], {}, 'goferbroke: flag --query-handler: "uptime" is not NAME=COMMAND: there is no "=" between NAME and COMMAND'],
    ["an empty name", ["--query-handler", "=uptime"], {}, 'goferbroke: flag --query-handler: "=uptime" is not NAME=COMMAND: the name is empty'],
    ["an empty command", ["--query-handler", "uptime= "], {}, 'goferbroke: flag --query-handler: "uptime= " is not NAME=COMMAND: the command for "uptime" is empty'],
    ["a name given twice", ["--query-handler", "a=true", "--query-handler", "a=false"], {}, 'goferbroke: invalid option queryHandlers: expected a list of distinct query handlers; query "a" has two handlers, got ["a=true","a=false"] (from command-line flags)'],
    [
      "a bad line in GOFERBROKE_QUERY_HANDLER",
      [],
      { GOFERBROKE_QUERY_HANDLER: "ok=true\nbroken" },
      'goferbroke: invalid option queryHandlers[1]: expected NAME=COMMAND (a query name of 1 to 128 bytes without "=", then a command of at most 4096 characters); there is no "=" between NAME and COMMAND, got "broken" (from GOFERBROKE_QUERY_HANDLER)',
    ],
  ];
  for (const [what, args, env, message] of cases) {
    test(what, async () => {
      const run = await runCli(["--name", "bad", "--node-addr", "127.0.0.1:0", ...args], { env });
      expect({ code: run.exitCode, stderr: run.stderr.trim() }).toEqual({ code: 2, stderr: message });
    });
  }
});
