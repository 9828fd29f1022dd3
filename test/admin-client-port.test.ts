// The client port's own defences, over real sockets: a large /v1/state dump is streamed without
// stalling the event loop, a request without Host gets a JSON 400 (not Bun's 500), a port that
// is taken is refused instead of shared (Bun's SO_REUSEPORT default), and a non-loopback bind
// without a token is refused unless declared insecure.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { AdminListenError, startAdminServer, type AdminServer } from "../src/admin/index.ts";
import { createNode, type Node } from "../src/index.ts";
import type { Logger } from "../src/log.ts";
import { silentLogger } from "../src/log.ts";

setDefaultTimeout(60_000);

let node: Node;
let admin: AdminServer;

beforeAll(async () => {
  node = createNode({ name: "guarded", address: "127.0.0.1:0" });
  await node.start();
  admin = startAdminServer(node, { port: 0, hostname: "127.0.0.1", logger: silentLogger });
});

afterAll(async () => {
  await admin.stop();
  await node.stop();
});

/** Sends raw bytes to the client port and returns everything it answers until it closes. */
async function rawExchange(port: number, request: string): Promise<string> {
  let received = "";
  const closed = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data: (_socket, data) => void (received += new TextDecoder().decode(data)),
      close: () => closed.resolve(),
      error: () => closed.resolve(),
    },
  });
  socket.write(request);
  await Promise.race([closed.promise, Bun.sleep(3000)]);
  socket.end();
  return received;
}

describe("GET /v1/state streams a large state in slices", () => {
  const ENTRIES = 300_000;

  test(`${ENTRIES} entries: no turn of the node's event loop takes 50 ms of CPU, /healthz answers throughout, and the dump is complete`, async () => {
    // The node runs in a process of its own, so this process's reading and parsing of 20 MB of
    // JSON does not count against the node's event loop.
    const child = Bun.spawn([process.execPath, join(import.meta.dir, "fixtures", "large-state-node.ts"), String(ENTRIES)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    const lines = lineReader(child.stdout);
    const report = async () => {
      child.stdin.write("report\n");
      await child.stdin.flush();
      return JSON.parse(await lines.next(10_000)) as { maxBusyMs: number; busyMs: number };
    };
    try {
      const { port } = JSON.parse(await lines.next(60_000)) as { port: number };
      const base = `http://127.0.0.1:${port}`;
      await report(); // from here on

      const started = performance.now();
      let finishedAt = 0;
      const dump = fetch(`${base}/v1/state`).then(async (response) => {
        const chunks: Uint8Array[] = [];
        for await (const chunk of response.body!) chunks.push(chunk);
        finishedAt = performance.now();
        return { status: response.status, type: response.headers.get("content-type"), text: await new Blob(chunks).text(), chunks: chunks.length };
      });
      const latencies: number[] = [];
      // Bounded: stops when the dump is read, or after 60 s.
      while (finishedAt === 0 && performance.now() - started < 60_000) {
        const sent = performance.now();
        const health = await fetch(`${base}/healthz`);
        expect(health.status).toBe(200);
        latencies.push(performance.now() - sent);
        await Bun.sleep(20);
      }
      const { status, type, text, chunks } = await dump;
      const { maxBusyMs, busyMs } = await report();
      expect(status).toBe(200);
      expect(type).toStartWith("application/json");
      const state = JSON.parse(text) as Record<string, Record<string, Record<string, { value: unknown; type: string; version: number }>>>;
      const mine = state.dumper!;
      expect(Object.keys(mine).sort()).toEqual(["alpha", "beta", "gamma"]);
      const total = Object.values(mine).reduce((sum, keys) => sum + Object.keys(keys).length, 0);
      expect(total).toBe(ENTRIES + 1);
      expect(mine.beta!["key-1"]).toEqual({ value: "value-1", type: "string", version: expect.any(Number) });
      expect(mine.alpha!['odd "key"\n']!.value).toBe("x");
      const worst = Math.round(Math.max(...latencies));
      console.log(
        `dump of ${ENTRIES} entries: ${Math.round(finishedAt - started)} ms, ${text.length} bytes in ${chunks} chunks; ` +
          `node's event loop: ${Math.round(busyMs)} ms of CPU in all, at most ${Math.round(maxBusyMs)} ms between two turns; ` +
          `/healthz during it: ${latencies.length} calls, max ${worst} ms`,
      );
      // The work is real (a dump not sliced would hold the loop for all of it at once) ...
      expect(busyMs).toBeGreaterThan(4 * 50);
      // ... and it is cut into slices: no turn of the loop waits for more than ~50 ms of it.
      // Measured in CPU time, which a loaded machine does not inflate.
      expect(maxBusyMs).toBeLessThan(50);
      // In wall time /healthz answers well within that same total, even on a loaded machine.
      expect(latencies.length).toBeGreaterThanOrEqual(5);
      expect(worst).toBeLessThan(Math.max(200, busyMs / 2));
    } finally {
      child.kill("SIGKILL");
      await child.exited;
    }
  });
});

/** Lines of a stream, one per next(); next() throws after timeoutMs without a line. */
function lineReader(stream: ReadableStream<Uint8Array>): { next(timeoutMs: number): Promise<string> } {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  return {
    async next(timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      // Bounded: each read either completes a line, ends the stream, or runs into the deadline.
      while (!pending.includes("\n")) {
        const left = deadline - performance.now();
        const read = await Promise.race([reader.read(), Bun.sleep(Math.max(0, left)).then(() => null)]);
        if (read === null) throw new Error(`no line within ${timeoutMs} ms`);
        if (read.done) throw new Error("the fixture's output ended");
        pending += decoder.decode(read.value, { stream: true });
      }
      const end = pending.indexOf("\n");
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      return line;
    },
  };
}

describe("requests without Host", () => {
  test("HTTP/1.0 without Host: JSON 400 naming the header, and the server keeps serving", async () => {
    const answer = await rawExchange(admin.port, "GET /v1/self HTTP/1.0\r\n\r\n");
    expect(answer).toStartWith("HTTP/1.1 400");
    expect(answer).toContain('{"error":"a Host header is required"}');
    expect((await fetch(new URL("/healthz", admin.url))).status).toBe(200);
  });

  test("HTTP/1.1 without Host: 400 (Bun refuses it before the handler)", async () => {
    expect(await rawExchange(admin.port, "GET /v1/self HTTP/1.1\r\nConnection: close\r\n\r\n")).toStartWith("HTTP/1.1 400");
  });
});

describe("listening", () => {
  test("a port in use is refused, naming the address and EADDRINUSE, not shared", async () => {
    let error: unknown;
    try {
      startAdminServer(node, { port: admin.port, hostname: "127.0.0.1", logger: silentLogger });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AdminListenError);
    expect((error as Error).message).toContain(`127.0.0.1:${admin.port}`);
    expect((error as Error).message).toContain("EADDRINUSE");
  });

  test("a non-loopback address without a token is refused; with insecure: true it is served, with a warning", async () => {
    expect(() => startAdminServer(node, { port: 0, hostname: "0.0.0.0", logger: silentLogger })).toThrow(/refusing to serve the client port on 0\.0\.0\.0 without a token/);
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message) => void warnings.push(message) };
    const open = startAdminServer(node, { port: 0, hostname: "0.0.0.0", insecure: true, logger });
    try {
      expect((await fetch(`http://127.0.0.1:${open.port}/healthz`)).status).toBe(200);
      expect(warnings.join("\n")).toContain("no token (insecure)");
    } finally {
      await open.stop();
    }
  });

  test("with a token, PATCH /v1/config needs it", async () => {
    const token = "client-token-0123456789";
    const guarded = startAdminServer(node, { port: 0, hostname: "0.0.0.0", token, logger: silentLogger });
    try {
      const url = `http://127.0.0.1:${guarded.port}/v1/config`;
      const body = JSON.stringify({ fanout: 2 });
      const refused = await fetch(url, { method: "PATCH", body });
      expect(refused.status).toBe(401);
      expect(node.clusterConfig().settings.fanout).toBe(1);
      const accepted = await fetch(url, { method: "PATCH", body, headers: { authorization: `Bearer ${token}` } });
      expect(accepted.status).toBe(200);
      expect(node.clusterConfig().settings.fanout).toBe(2);
    } finally {
      await guarded.stop();
    }
  });
});
