// Queries over real processes (issue #20 item 2): ten node processes (test/support/query-daemon.ts:
// the CLI's node plus two query handlers). A query to all ten returns ten acks and ten answers over
// the NDJSON endpoint, the SSE form and `goferbroke query`; a query during a kill -9 ends at its
// timeout and names the dead node as not answering; bad queries are refused with clear errors.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import type { QuerySummary } from "../src/index.ts";
import { cliEntry, killAll, runCli, startCluster, stopNode, type NodeProcess } from "./support/node-processes.ts";

setDefaultTimeout(120_000);

const NAMES = Array.from({ length: 10 }, (_, i) => `q${i}`);
const DAEMON = [process.execPath, join(import.meta.dir, "support", "query-daemon.ts")];
let nodes: NodeProcess[] = [];

beforeAll(async () => {
  nodes = await startCluster({ names: NAMES, gossipIntervalMs: 200, command: DAEMON, timeoutMs: 60_000 });
});

afterAll(async () => {
  await killAll();
});

type Item = { type: string; from?: string; payload?: string; error?: string } & Partial<QuerySummary>;

/** Sends a query through the node's client port; returns every streamed item and the time the stream took. */
async function query(node: NodeProcess, name: string, params: string, payload: string, accept = "application/x-ndjson"): Promise<{ status: number; contentType: string; items: Item[]; ms: number }> {
  const started = performance.now();
  const response = await fetch(`http://${node.clientHost}:${node.clientPort}/v1/queries/${name}?${params}`, {
    method: "POST",
    body: payload,
    headers: { accept },
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  const ms = performance.now() - started;
  const contentType = response.headers.get("content-type") ?? "";
  if (response.status !== 200) return { status: response.status, contentType, items: [JSON.parse(text) as Item], ms };
  const lines = contentType.startsWith("text/event-stream") ? text.split("\n").filter((line) => line.startsWith("data: ")).map((line) => line.slice(6)) : text.split("\n").filter((line) => line !== "");
  return { status: response.status, contentType, items: lines.map((line) => JSON.parse(line) as Item), ms };
}

const decode = (payload: string | undefined) => Buffer.from(payload ?? "", "base64").toString("utf8");
const summaryOf = (items: Item[]) => {
  const last = items.at(-1)!;
  expect(last.type).toBe("summary");
  return last as QuerySummary;
};

describe("queries, 10 processes", () => {
  test("a query to 10 processes returns 10 acks and 10 responses (NDJSON)", async () => {
    const { status, contentType, items } = await query(nodes[3]!, "whoami", "ack=true&timeout=10s", "hi");
    expect({ status, contentType }).toEqual({ status: 200, contentType: "application/x-ndjson; charset=utf-8" });
    const acks = items.filter((item) => item.type === "ack").map((item) => item.from).sort();
    const responses = items.filter((item) => item.type === "response").map((item) => decode(item.payload)).sort();
    expect(acks).toEqual([...NAMES].sort());
    expect(responses).toEqual(NAMES.map((name) => `${name}:hi`).sort());
    const summary = summaryOf(items);
    expect({ asked: summary.asked.length, acked: summary.acked.length, responded: summary.responded.length, missing: summary.missing, errors: summary.errors, timedOut: summary.timedOut })
      .toEqual({ asked: 10, acked: 10, responded: 10, missing: [], errors: [], timedOut: false });
  });

  test("the same as server-sent events, and filtered by a name pattern", async () => {
    const { contentType, items } = await query(nodes[0]!, "whoami", "node=q1&node=q2&node=q9", "sse", "text/event-stream");
    expect(contentType).toBe("text/event-stream; charset=utf-8");
    expect(items.filter((item) => item.type === "response").map((item) => decode(item.payload)).sort()).toEqual(["q1:sse", "q2:sse", "q9:sse"]);
    expect(summaryOf(items).asked.sort()).toEqual(["q1", "q2", "q9"]);
    // GET with ?payload=, as an EventSource asks.
    const node = nodes[4]!;
    const response = await fetch(`http://${node.clientHost}:${node.clientPort}/v1/queries/whoami?node=q4&payload=from-get&format=sse`, { signal: AbortSignal.timeout(10_000) });
    const events = (await response.text()).split("\n").filter((line) => line.startsWith("data: ")).map((line) => JSON.parse(line.slice(6)) as Item);
    expect(events.map((item) => (item.type === "response" ? `${item.from} ${decode(item.payload)}` : item.type))).toEqual(["q4 q4:from-get", "summary"]);
  });

  test("goferbroke query prints each answer and the summary, or JSON lines with --json", async () => {
    const client = `127.0.0.1:${nodes[5]!.clientPort}`;
    const text = await runCli(["query", "--client", client, "--ack", "--timeout", "10s", "whoami", "cli"], { timeoutMs: 30_000 });
    expect({ code: text.exitCode, stderr: text.stderr }).toEqual({ code: 0, stderr: "" });
    for (const name of NAMES) expect(text.stdout).toContain(`response from ${name}: ${name}:cli\n`);
    expect(text.stdout).toMatch(/^asked 10, acked 10, answered 10, errors 0, in \d+\.\ds$/m);
    const json = await runCli(["query", "--client", client, "--json", "--node", "q1", "--node", "q?", "whoami"], { timeoutMs: 30_000 });
    expect({ code: json.exitCode, stderr: json.stderr }).toEqual({ code: 0, stderr: "" });
    const lines = json.stdout.trim().split("\n").map((line) => JSON.parse(line) as Item);
    expect(lines.filter((item) => item.type === "response").length).toBe(10);
    expect(summaryOf(lines).responded.length).toBe(10);
  });

  // script(1) (util-linux) runs the CLI on a pseudo-terminal, so stderr is a TTY as at a shell.
  test.skipIf(Bun.which("script") === null)("on a terminal, a progress line on stderr counts the answers as they come", async () => {
    const command = [process.execPath, cliEntry, "query", "--client", `127.0.0.1:${nodes[2]!.clientPort}`, "--ack", "whoami", "tty"].join(" ");
    const child = Bun.spawn(["script", "-qec", command, "/dev/null"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    try {
      const exited = await Promise.race([child.exited, Bun.sleep(20_000).then(() => "timeout" as const)]);
      const output = await new Response(child.stdout).text();
      expect({ exited, progress: output.includes("\r\x1b[2K10 acked, 10 answered, 0 errors, ") }).toEqual({ exited: 0, progress: true });
      expect(output).toMatch(/asked 10, acked 10, answered 10, errors 0, in \d+\.\ds/);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  test("bad queries are refused with clear errors", async () => {
    const node = nodes[1]!;
    expect((await query(node, "whoami", "timeout=2m", "")).items[0]?.error).toBe('timeout must be a duration such as 5s or 500ms, at most 60s; got "2m"');
    expect((await query(node, "whoami", "relay=9", "")).items[0]?.error).toBe('relay must be a whole number from 0 to 5; got "9"');
    expect((await query(node, "whoami", "entry=novalue", "")).items[0]?.error).toBe('entry must be group/key=value or group/key; got "novalue"');
    expect((await query(node, "whoami", "color=red", "")).items[0]?.error).toStartWith('unknown query parameter "color"');
    const big = await query(node, "whoami", "", "x".repeat(8193));
    expect({ status: big.status, error: big.items[0]?.error }).toEqual({ status: 413, error: "request body is larger than 8192 bytes" });
    const usage = await runCli(["query", "--client", `127.0.0.1:${node.clientPort}`, "--relay", "7", "whoami"]);
    expect({ code: usage.exitCode, stderr: usage.stderr.trim() }).toEqual({ code: 2, stderr: 'goferbroke: flag --relay: "7" is not one of 0, 1, 2, 3, 4, 5' });
  });

  test("a query during a kill -9 ends at its timeout and names the dead node", async () => {
    const victim = nodes.find((node) => node.name === "q7")!;
    const origin = nodes[0]!;
    const pending = query(origin, "sleep", "ack=true&timeout=3s", "500");
    await Bun.sleep(200); // the query is out: the victim acked and is in its handler
    await stopNode(victim, "SIGKILL");
    const { items, ms } = await pending;
    const summary = summaryOf(items);
    expect(summary.asked.length).toBe(10);
    expect({ missing: summary.missing, timedOut: summary.timedOut, errors: summary.errors }).toEqual({ missing: ["q7"], timedOut: true, errors: [] });
    expect(summary.responded.sort()).toEqual(NAMES.filter((name) => name !== "q7").sort());
    expect(summary.elapsedMs).toBeGreaterThanOrEqual(2990);
    expect(ms).toBeLessThan(5_000); // it ended at the timeout: nothing hung
    // The CLI says who did not answer, and exits 1.
    const run = await runCli(["query", "--client", `127.0.0.1:${origin.clientPort}`, "--timeout", "1s", "--node", "q7", "whoami"], { timeoutMs: 20_000 });
    expect(run.exitCode).toBe(1);
    expect(run.stderr.trim()).toBe("goferbroke: query whoami: no answer by the timeout from q7");
  });
});
