// Issue #19 items 1, 2 and 6 with real processes: join at run time (CLI and HTTP), force-leave
// (a versioned fact that reaches a node paused during the decision; prune; a live member refused
// unless forced), and the seed retry reports (one line per interval, with the attempt count and
// the last error).

import { afterAll, describe, expect, test } from "bun:test";
import { api, freePort, killAll, logLines, members, runCli, startNode, stopNode, waitAllAlive, waitFor, waitHealthy, type NodeProcess } from "./support/node-processes.ts";

afterAll(killAll);

async function started(...nodes: NodeProcess[]): Promise<void> {
  for (const node of nodes) await waitHealthy(node);
}

async function stateOf(at: NodeProcess, name: string): Promise<string | undefined> {
  return (await members(at)).find((member) => member.name === name)?.state;
}

function client(node: NodeProcess): string[] {
  return ["-c", `127.0.0.1:${node.clientPort}`];
}

describe("join at run time", () => {
  test("goferbroke join connects two lone nodes and says how many answered; none answering exits 1", async () => {
    const a = await startNode({ name: "join-a" });
    const b = await startNode({ name: "join-b" });
    await started(a, b);
    expect((await members(a)).map((member) => member.name)).toEqual(["join-a"]);
    const joined = await runCli(["join", b.address, ...client(a)]);
    expect(joined.stdout.trim()).toBe("reached 1 of 1");
    expect(joined.exitCode).toBe(0);
    await waitAllAlive([a, b], ["join-a", "join-b"], 5_000);
    const dead = `127.0.0.1:${await freePort()}`;
    const none = await runCli(["join", dead, ...client(a)]);
    expect(none.stdout.trim()).toBe("reached 0 of 1");
    expect(none.stderr).toContain(`none of ${dead} answered`);
    expect(none.exitCode).toBe(1);
  }, 30_000);

  test("POST /v1/join counts the addresses that answered and names a malformed one", async () => {
    const a = await startNode({ name: "http-join-a" });
    const b = await startNode({ name: "http-join-b" });
    await started(a, b);
    const dead = `127.0.0.1:${await freePort()}`;
    const answer = await api<{ reached: number; addresses: string[] }>(a, "POST", "/v1/join", JSON.stringify({ addresses: [b.address, dead, a.address] }));
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ reached: 1, addresses: [b.address, dead, a.address] });
    await waitAllAlive([a, b], ["http-join-a", "http-join-b"], 5_000);
    // Joining a peer already connected counts it, without a second connection.
    expect((await api<{ reached: number }>(a, "POST", "/v1/join", JSON.stringify({ addresses: [b.address] }))).body.reached).toBe(1);
    const bad = await api<{ error: string }>(a, "POST", "/v1/join", JSON.stringify({ addresses: ["nowhere"] }));
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("'nowhere' is not a \\\"host:port\\\" address");
    expect((await api(a, "POST", "/v1/join", JSON.stringify({ addresses: [] }))).status).toBe(400);
  }, 30_000);
});

describe("force-leave", () => {
  test("marks a dead member left everywhere, also on a node paused during the decision; a live one only with --force", async () => {
    const a = await startNode({ name: "fl-a" });
    const b = await startNode({ name: "fl-b", seeds: [a.address] });
    const c = await startNode({ name: "fl-c", seeds: [a.address] });
    await started(a, b, c);
    await waitAllAlive([a, b, c], ["fl-a", "fl-b", "fl-c"]);
    await stopNode(c, "SIGKILL");
    await waitFor("fl-a to stop holding fl-c alive", async () => (await stateOf(a, "fl-c")) !== "alive", 20_000);
    // b is cut off while the decision is made: it must learn it afterwards, from a's state.
    b.process.kill("SIGSTOP");
    try {
      const forced = await runCli(["force-leave", "fl-c", ...client(a)]);
      expect(forced.stdout.trim()).toBe("fl-c marked left on every node");
      expect(forced.exitCode).toBe(0);
      expect(await stateOf(a, "fl-c")).toBe("left");
    } finally {
      b.process.kill("SIGCONT");
    }
    await waitFor("fl-b to see fl-c left", async () => (await stateOf(b, "fl-c")) === "left", 10_000);

    await waitFor("fl-a to see fl-b alive again", async () => (await stateOf(a, "fl-b")) === "alive", 15_000);
    const refused = await runCli(["force-leave", "fl-b", ...client(a)]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("fl-b is alive");
    expect(await stateOf(a, "fl-b")).toBe("alive");
    const unknown = await api<unknown>(a, "POST", "/v1/force-leave", JSON.stringify({ node: "nobody" }));
    expect(unknown.status).toBe(404);
    const self = await api<unknown>(a, "POST", "/v1/force-leave", JSON.stringify({ node: "fl-a" }));
    expect(self.status).toBe(409);
    const forced = await runCli(["force-leave", "--force", "fl-b", ...client(a)]);
    expect(forced.exitCode).toBe(0);
    expect(await stateOf(a, "fl-b")).toBe("left");
  }, 60_000);

  test("-prune removes the member from every node at once", async () => {
    const a = await startNode({ name: "pr-a" });
    const b = await startNode({ name: "pr-b", seeds: [a.address] });
    const c = await startNode({ name: "pr-c", seeds: [a.address] });
    await started(a, b, c);
    await waitAllAlive([a, b, c], ["pr-a", "pr-b", "pr-c"]);
    await stopNode(c, "SIGKILL");
    await waitFor("pr-a to stop holding pr-c alive", async () => (await stateOf(a, "pr-c")) !== "alive", 20_000);
    const pruned = await runCli(["force-leave", "-prune", "pr-c", ...client(a)]);
    expect(pruned.stdout.trim()).toBe("pr-c marked left and pruned on every node");
    expect(await stateOf(a, "pr-c")).toBeUndefined();
    await waitFor("pr-b to drop pr-c", async () => (await stateOf(b, "pr-c")) === undefined, 5_000);
  }, 60_000);
});

describe("seed retry reports", () => {
  test("while a seed stays down: a warning, then at most one line per interval with the attempt count and the last error", async () => {
    const seed = `127.0.0.1:${await freePort()}`;
    const node = await startNode({ name: "lonely", seeds: [seed], flags: ["--retry-log-interval=2s"] });
    await waitHealthy(node);
    const watchedMs = 9_000;
    await Bun.sleep(watchedMs);
    const lines = logLines(node).filter((line) => line.level === "warn" && line.msg.includes(`seed ${seed}`));
    expect(lines[0]?.msg ?? node.output()).toMatch(/^cannot reach seed .*retrying in/);
    const reports = lines.slice(1);
    expect(reports.length).toBeGreaterThanOrEqual(1);
    // Retries start every 250 ms and double: more than 4 attempts happened in 9 s, fewer lines.
    expect(reports.length).toBeLessThanOrEqual(Math.floor(watchedMs / 2000));
    for (const report of reports) {
      expect(report.msg).toMatch(/^still cannot reach seed .*: .*(refused|ECONNREFUSED).*\((\d+) attempts so far\)$/);
    }
    const times = lines.map((line) => Date.parse(line.time));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1_900);
    const counts = reports.map((report) => Number(/\((\d+) attempts so far\)/.exec(report.msg)![1]));
    expect(counts[0]).toBeGreaterThan(1);
    for (let i = 1; i < counts.length; i++) expect(counts[i]!).toBeGreaterThan(counts[i - 1]!);
    await stopNode(node);
  }, 30_000);
});
