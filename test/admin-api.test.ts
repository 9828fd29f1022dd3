// The admin HTTP API end to end: real HTTP against a 3-node TCP cluster on 127.0.0.1, writes on
// one node read back on another, every refusal path, tokens, server-sent events, and /metrics
// checked line by line against the Prometheus text exposition grammar.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import packageJson from "../package.json" with { type: "json" };
import { type AdminServer, startAdminServer } from "../src/admin/index.ts";
import { EventStreamHub } from "../src/admin/sse.ts";
import type { GossipEvent } from "../src/events.ts";
import { createNode, type Node } from "../src/index.ts";
import { silentLogger } from "../src/log.ts";
import { type ParsedFamily, parseExposition, sampleValue } from "./support/exposition.ts";
import { waitFor } from "./support/wait.ts";

const TOKEN = "test-token-0123456789";

// Several tests wait for gossip (waitFor allows 10 s); Bun's default of 5 s would cut them short.
setDefaultTimeout(20_000);

type RequestBody = NonNullable<RequestInit["body"]>;

interface Member {
  node: Node;
  admin: AdminServer;
}

const cluster: Member[] = [];
/** "*" handlers each node has live, counted through its public on(): the event stream subscribes with "*". */
const liveHandlers = new Map<Node, number>();
let alpha: Member;
let bravo: Member;
let charlie: Member; // its admin server requires TOKEN

beforeAll(async () => {
  for (const name of ["alpha", "bravo", "charlie"]) {
    const seeds = cluster.length === 0 ? [] : [cluster[0]!.node.address];
    const node = createNode({ name, address: "127.0.0.1:0", seeds, gossipIntervalMs: 200 });
    countHandlers(node);
    await node.start();
    const admin = startAdminServer(node, { port: 0, hostname: "127.0.0.1", logger: silentLogger, ...(name === "charlie" ? { token: TOKEN } : {}) });
    cluster.push({ node, admin });
  }
  [alpha, bravo, charlie] = cluster as [Member, Member, Member];
  await waitFor("all three nodes to see three alive members", () => cluster.every(({ node }) => node.members().filter((m) => m.state === "alive").length === 3));
});

afterAll(async () => {
  for (const { admin } of cluster) await admin.stop();
  for (const { node } of cluster) await node.stop();
});

// ---------------------------------------------------------------------------------------------
// Helpers

function countHandlers(node: Node): void {
  const on = node.on;
  liveHandlers.set(node, 0);
  node.on = (type, handler) => {
    const unsubscribe = on(type, handler);
    if (type !== "*") return unsubscribe;
    liveHandlers.set(node, liveHandlers.get(node)! + 1);
    let subscribed = true;
    return () => {
      if (subscribed) liveHandlers.set(node, liveHandlers.get(node)! - 1);
      subscribed = false;
      unsubscribe();
    };
  };
}

function call(member: Member, method: string, path: string, init: { body?: RequestBody; headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(new URL(path, member.admin.url), { method, ...init });
}

async function json(member: Member, method: string, path: string, init: { body?: RequestBody; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await call(member, method, path, init);
  expect(response.headers.get("content-type")).toStartWith("application/json");
  return { status: response.status, body: await response.json(), headers: response.headers };
}

/** GET on `member` until the entry of `owner` has the expected JSON value (or is gone, for undefined). */
async function waitForEntry(member: Member, owner: string, group: string, key: string, expected: unknown): Promise<any> {
  const path = `/v1/state/${owner}/${encodeURIComponent(group)}/${encodeURIComponent(key)}`;
  let last: { status: number; body: any } | undefined;
  await waitFor(`${member.node.name} to see ${owner}'s ${group}/${key}`, async () => {
    last = await json(member, "GET", path);
    return expected === undefined ? last.status === 404 : last.status === 200 && Bun.deepEquals(last.body.value, expected);
  });
  return last?.body;
}

/** Reads server-sent events until `done` returns true for one of them, within timeoutMs. */
async function readEvents(response: Response, done: (event: any) => boolean, timeoutMs = 10_000): Promise<{ events: any[]; comments: string[] }> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const events: any[] = [];
  const comments: string[] = [];
  let buffer = "";
  const deadline = performance.now() + timeoutMs;
  try {
    while (performance.now() < deadline) {
      const timeout = Bun.sleep(Math.max(1, deadline - performance.now())).then(() => null);
      const chunk = await Promise.race([reader.read(), timeout]);
      if (chunk === null || chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) comments.push(line.slice(1).trim());
          else if (line.startsWith("data: ")) {
            const event = JSON.parse(line.slice(6));
            events.push(event);
            if (done(event)) return { events, comments };
          }
        }
      }
    }
    throw new Error(`event not seen within ${timeoutMs} ms; got ${JSON.stringify(events.map((e) => e.type))}`);
  } finally {
    await reader.cancel();
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

describe("reading", () => {
  test("GET /healthz answers 200 while the node runs", async () => {
    const { status, body } = await json(alpha, "GET", "/healthz");
    expect(status).toBe(200);
    expect(body).toEqual({ status: "ok", node: "alpha" });
  });

  test("GET /v1/self names the node, its addresses and the software version", async () => {
    const { status, body } = await json(alpha, "GET", "/v1/self");
    expect(status).toBe(200);
    expect(body).toEqual({
      name: "alpha",
      clusterName: "goferbroke",
      generation: alpha.node.generation,
      address: alpha.node.address,
      clientAddress: `127.0.0.1:${alpha.admin.port}`,
      version: packageJson.version,
    });
  });

  test("GET /v1/members lists every node with state, phi and heartbeat", async () => {
    const { status, body } = await json(bravo, "GET", "/v1/members");
    expect(status).toBe(200);
    expect(body.map((m: any) => m.name).sort()).toEqual(["alpha", "bravo", "charlie"]);
    for (const member of body) {
      expect(Object.keys(member).sort()).toEqual(["address", "generation", "heartbeat", "heartbeatAgeMs", "maxVersion", "name", "phi", "state"]);
      expect(member.state).toBe("alive");
      expect(member.address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(typeof member.phi).toBe("number");
      expect(typeof member.heartbeatAgeMs).toBe("number");
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Writing

describe("writing", () => {
  const typedValues: { type: string; body: RequestBody; shown: unknown }[] = [
    { type: "string", body: "hello, wörld", shown: "hello, wörld" },
    { type: "int", body: "9007199254740993", shown: "9007199254740993" }, // 2^53 + 1: exact only as a string
    { type: "int", body: "-42", shown: "-42" },
    { type: "float", body: "2.5e-3", shown: 0.0025 },
    { type: "float", body: "-Infinity", shown: "-Infinity" },
    { type: "bool", body: "false", shown: false },
    { type: "json", body: '{"list": [1, "two", null], "n": {"deep": true}}', shown: { list: [1, "two", null], n: { deep: true } } },
    { type: "bytes", body: new Uint8Array([0, 1, 254, 255]), shown: "AAH+/w==" },
  ];

  for (const { type, body, shown } of typedValues) {
    test(`PUT ?type=${type} on alpha is readable on bravo as ${JSON.stringify(shown)}`, async () => {
      const key = `typed-${type}-${typeof shown}`;
      const put = await json(alpha, "PUT", `/v1/keys/types/${key}?type=${type}`, { body });
      expect(put.status).toBe(200);
      expect(put.body).toEqual({ version: expect.any(Number) });
      const entry = await waitForEntry(bravo, "alpha", "types", key, shown);
      expect(entry).toEqual({ value: shown, type, version: put.body.version });
    });
  }

  test("the type defaults to string", async () => {
    await json(alpha, "PUT", "/v1/keys/defaults/plain", { body: "42" });
    expect((await waitForEntry(bravo, "alpha", "defaults", "plain", "42")).type).toBe("string");
  });

  test("GET /v1/state shows every node's entries by group and key, without reserved entries", async () => {
    await json(charlie, "PUT", "/v1/keys/charlie-group/one?type=int", { body: "1", headers: { authorization: `Bearer ${TOKEN}` } });
    await waitForEntry(bravo, "charlie", "charlie-group", "one", "1");
    const { status, body } = await json(bravo, "GET", "/v1/state");
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(["alpha", "bravo", "charlie"]);
    expect(body.charlie["charlie-group"].one).toEqual({ value: "1", type: "int", version: expect.any(Number) });
    for (const groups of Object.values<Record<string, unknown>>(body)) expect(Object.keys(groups)).not.toContain("__gb");
  });

  test("keys and groups with slashes, spaces and non-ASCII travel percent-encoded", async () => {
    const group = "a/b c";
    const key = "ключ/🔑?#";
    const put = await json(alpha, "PUT", `/v1/keys/${encodeURIComponent(group)}/${encodeURIComponent(key)}`, { body: "v" });
    expect(put.status).toBe(200);
    await waitForEntry(bravo, "alpha", group, key, "v");
    expect(alpha.node.get("alpha", group, key)).toBe("v");
  });

  test("?ttl= makes the entry expire everywhere", async () => {
    const put = await json(alpha, "PUT", "/v1/keys/ttl/short?ttl=400", { body: "soon gone" });
    expect(put.status).toBe(200);
    await waitForEntry(bravo, "alpha", "ttl", "short", "soon gone");
    await waitForEntry(bravo, "alpha", "ttl", "short", undefined);
    // The owner drops it at its next sweep (each gossip round), which may come after bravo's.
    await waitForEntry(alpha, "alpha", "ttl", "short", undefined);
  });

  test("DELETE removes the entry here and on the other nodes; a second DELETE is 404", async () => {
    await json(alpha, "PUT", "/v1/keys/del/me", { body: "x" });
    await waitForEntry(bravo, "alpha", "del", "me", "x");
    const deleted = await json(alpha, "DELETE", "/v1/keys/del/me");
    expect(deleted).toMatchObject({ status: 200, body: { deleted: true } });
    expect((await json(alpha, "GET", "/v1/state/alpha/del/me")).status).toBe(404);
    await waitForEntry(bravo, "alpha", "del", "me", undefined);
    const again = await json(alpha, "DELETE", "/v1/keys/del/me");
    expect(again.status).toBe(404);
    expect(again.body.error).toContain("no entry");
  });

  test("GET /v1/config shows the cluster config; PATCH changes it on every node", async () => {
    const before = await json(alpha, "GET", "/v1/config");
    expect(before.status).toBe(200);
    const { version, settings } = before.body;
    expect(typeof version).toBe("number");
    expect(settings.gossipIntervalMs).toBe(200);
    const patched = await json(alpha, "PATCH", "/v1/config", { body: JSON.stringify({ fanout: 2 }) });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ version: version + 1, origin: "alpha", settings: { fanout: 2, gossipIntervalMs: 200 } });
    await waitFor("bravo to adopt the patched config", async () => (await json(bravo, "GET", "/v1/config")).body.settings.fanout === 2);
  });
});

// ---------------------------------------------------------------------------------------------
// Refusals

describe("refusals", () => {
  const bigBody = "x".repeat(70_000); // past maxValueBytes (65536) + the body slack
  const refusals: { what: string; method: string; path: string; body?: RequestBody | (() => RequestBody); status: number; error: string; allow?: string }[] = [
    { what: "an unknown route", method: "GET", path: "/nope", status: 404, error: "no such route" },
    { what: "a trailing slash", method: "GET", path: "/v1/members/", status: 404, error: "no such route" },
    { what: "a missing key segment", method: "PUT", path: "/v1/keys/only-group", body: "v", status: 404, error: "no such route" },
    { what: "POST on keys", method: "POST", path: "/v1/keys/g/k", body: "v", status: 405, error: "POST is not allowed", allow: "PUT, DELETE" },
    { what: "DELETE on members", method: "DELETE", path: "/v1/members", status: 405, error: "not allowed", allow: "GET" },
    { what: "PUT on config", method: "PUT", path: "/v1/config", body: "{}", status: 405, error: "not allowed", allow: "GET, PATCH" },
    { what: "an unknown type", method: "PUT", path: "/v1/keys/g/k?type=decimal", body: "1", status: 400, error: "type must be one of" },
    { what: "a misspelt query parameter", method: "PUT", path: "/v1/keys/g/k?tpye=int", body: "1", status: 400, error: 'unknown query parameter "tpye"' },
    { what: "a ttl that is not a number", method: "PUT", path: "/v1/keys/g/k?ttl=soon", body: "v", status: 400, error: "ttl must be" },
    { what: "a ttl of zero", method: "PUT", path: "/v1/keys/g/k?ttl=0", body: "v", status: 400, error: "ttl must be" },
    { what: "a fractional ttl", method: "PUT", path: "/v1/keys/g/k?ttl=1.5", body: "v", status: 400, error: "ttl must be" },
    { what: "an int with letters", method: "PUT", path: "/v1/keys/g/k?type=int", body: "12x", status: 400, error: "int value must be" },
    { what: "an int past 64 bits", method: "PUT", path: "/v1/keys/g/k?type=int", body: "9223372036854775808", status: 400, error: "outside the signed 64-bit range" },
    { what: "a malformed float", method: "PUT", path: "/v1/keys/g/k?type=float", body: "1.2.3", status: 400, error: "float value must be" },
    { what: "a bool that is not true or false", method: "PUT", path: "/v1/keys/g/k?type=bool", body: "yes", status: 400, error: "bool value must be" },
    { what: "a json value that is not JSON", method: "PUT", path: "/v1/keys/g/k?type=json", body: "{bad", status: 400, error: "json value must be a JSON document" },
    { what: "a string that is not UTF-8", method: "PUT", path: "/v1/keys/g/k", body: new Uint8Array([0x66, 0xff, 0xfe]), status: 400, error: "not valid UTF-8" },
    { what: "the reserved group on PUT", method: "PUT", path: "/v1/keys/__gb/address", body: "evil", status: 400, error: "reserved" },
    { what: "the reserved group on DELETE", method: "DELETE", path: "/v1/keys/__gb/address", status: 400, error: "reserved" },
    { what: "the reserved group on GET", method: "GET", path: "/v1/state/alpha/__gb/address", status: 400, error: "reserved" },
    { what: "an empty group", method: "PUT", path: "/v1/keys//k", body: "v", status: 400, error: "group must not be empty" },
    { what: "a key longer than maxKeyBytes", method: "PUT", path: `/v1/keys/g/${"k".repeat(300)}`, body: "v", status: 400, error: "maxKeyBytes" },
    { what: "broken percent-encoding", method: "GET", path: "/v1/state/alpha/g/%E0%A4%A", status: 400, error: "not valid percent-encoding" },
    { what: "a body past the cap (Content-Length)", method: "PUT", path: "/v1/keys/g/big", body: bigBody, status: 413, error: "larger than" },
    {
      what: "a chunked body past the cap",
      method: "PUT",
      path: "/v1/keys/g/big",
      body: () => new ReadableStream({ pull: (controller) => { controller.enqueue(new TextEncoder().encode(bigBody)); controller.close(); } }),
      status: 413,
      error: "larger than",
    },
    { what: "a value within the body cap but past maxValueBytes", method: "PUT", path: "/v1/keys/g/big", body: "x".repeat(65_537), status: 413, error: "maxValueBytes" },
    { what: "a node nobody knows", method: "GET", path: "/v1/state/ghost/g/k", status: 404, error: "not known" },
    { what: "a config patch that is not JSON", method: "PATCH", path: "/v1/config", body: "{fanout:", status: 400, error: "not valid JSON" },
    { what: "a config patch that is not an object", method: "PATCH", path: "/v1/config", body: "[1]", status: 400, error: "an object of options" },
    { what: "a config value out of range", method: "PATCH", path: "/v1/config", body: '{"gossipIntervalMs": 5}', status: 400, error: "invalid option gossipIntervalMs" },
    { what: "an unknown config option", method: "PATCH", path: "/v1/config", body: '{"fanoutt": 2}', status: 400, error: "unknown option (did you mean fanout?)" },
    { what: "a per-node option in the cluster config", method: "PATCH", path: "/v1/config", body: '{"maxValueBytes": 5}', status: 400, error: "not a cluster setting" },
    { what: "a cluster name change", method: "PATCH", path: "/v1/config", body: '{"clusterName": "other"}', status: 400, error: "cannot change" },
  ];

  for (const refusal of refusals) {
    test(`${refusal.what} → ${refusal.status}`, async () => {
      const body = typeof refusal.body === "function" ? refusal.body() : refusal.body;
      const { status, body: answer, headers } = await json(alpha, refusal.method, refusal.path, body === undefined ? {} : { body });
      expect({ status, error: answer.error }).toEqual({ status: refusal.status, error: expect.stringContaining(refusal.error) });
      if (refusal.allow !== undefined) expect(headers.get("allow")).toBe(refusal.allow);
    });
  }

  test("after every refusal the node is still healthy and nothing was written", async () => {
    expect((await json(alpha, "GET", "/healthz")).status).toBe(200);
    expect(alpha.node.get("alpha", "g", "k")).toBeUndefined();
    expect(alpha.node.get("alpha", "g", "big")).toBeUndefined();
    expect(alpha.node.members().every((m) => m.state === "alive")).toBe(true);
  });

  test("without a token, a Host other than an IP or localhost is refused (DNS rebinding)", async () => {
    const evil = await json(alpha, "GET", "/v1/members", { headers: { host: "attacker.example" } });
    expect(evil.status).toBe(403);
    expect(evil.body.error).toContain("not accepted without a token");
    expect((await json(alpha, "GET", "/v1/members", { headers: { host: `localhost:${alpha.admin.port}` } })).status).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// Token

describe("token", () => {
  const bearer = { authorization: `Bearer ${TOKEN}` };

  test("a missing, malformed or wrong token gets 401 JSON with WWW-Authenticate", async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: `Basic ${btoa(`user:${TOKEN}`)}` }, { authorization: "Bearer wrong-token-000" }, { authorization: `Bearer ${TOKEN}x` }];
    for (const headers of attempts) {
      const { status, body, headers: answer } = await json(charlie, "GET", "/v1/members", { headers });
      expect(status).toBe(401);
      expect(typeof body.error).toBe("string");
      expect(answer.get("www-authenticate")).toStartWith("Bearer");
    }
  });

  test("unknown routes and writes get 401 too, before anything else", async () => {
    expect((await json(charlie, "GET", "/nope")).status).toBe(401);
    expect((await json(charlie, "PUT", "/v1/keys/g/k", { body: "v" })).status).toBe(401);
    expect(charlie.node.get("charlie", "g", "k")).toBeUndefined();
  });

  test("the right token opens every route; /healthz needs none", async () => {
    expect((await json(charlie, "GET", "/v1/members", { headers: bearer })).status).toBe(200);
    expect((await call(charlie, "GET", "/metrics", { headers: bearer })).status).toBe(200);
    expect((await json(charlie, "GET", "/healthz")).status).toBe(200);
  });

  test("?token= is accepted for the page and the event stream only", async () => {
    const query = `?token=${encodeURIComponent(TOKEN)}`;
    const page = await call(charlie, "GET", `/${query}`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toStartWith("text/html");
    await page.text();
    const abort = new AbortController();
    const stream = await fetch(new URL(`/v1/events${query}`, charlie.admin.url), { signal: abort.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toStartWith("text/event-stream");
    abort.abort();
    expect((await json(charlie, "GET", `/v1/members${query}`)).status).toBe(401);
    expect((await call(charlie, "GET", "/?token=wrong-token-000")).status).toBe(401);
  });
});

// ---------------------------------------------------------------------------------------------
// Events

describe("event stream", () => {
  test("delivers an entry written on another node, bigints as strings and bytes as base64", async () => {
    const abort = new AbortController();
    const response = await fetch(new URL("/v1/events", bravo.admin.url), { signal: abort.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/event-stream");
    // Write once the stream is open: the server subscribes when the request arrives.
    await waitFor("the event stream to be subscribed", () => liveHandlers.get(bravo.node)! > 0);
    await json(alpha, "PUT", "/v1/keys/sse/count?type=int", { body: "1234567890123456789" });
    await json(alpha, "PUT", "/v1/keys/sse/blob?type=bytes", { body: new Uint8Array([1, 2, 3]) });
    const { events, comments } = await readEvents(response, (event) => event.key === "blob");
    abort.abort();
    expect(comments).toContain("connected");
    const count = events.find((event) => event.key === "count");
    expect(count).toMatchObject({ type: "entry-added", node: "alpha", group: "sse", value: "1234567890123456789", valueType: "int", local: false, time: expect.any(Number) });
    expect(events.find((event) => event.key === "blob")).toMatchObject({ type: "entry-added", value: "AQID", valueType: "bytes" });
  });

  test("clients add no handlers: the server keeps one for its backlog, released when it stops", async () => {
    const handlers = () => liveHandlers.get(bravo.node)!;
    // The admin servers of this file started before any test: one handler each, whatever clients do.
    expect(handlers()).toBe(1);
    const abort = new AbortController();
    const response = await fetch(new URL("/v1/events", bravo.admin.url), { signal: abort.signal });
    expect(response.status).toBe(200);
    await waitFor("the stream to count as a client", async () => (await (await call(bravo, "GET", "/metrics")).text()).includes("\ngoferbroke_admin_event_stream_clients 1\n"));
    expect(handlers()).toBe(1);
    abort.abort();
    await waitFor("the client to be gone", async () => (await (await call(bravo, "GET", "/metrics")).text()).includes("\ngoferbroke_admin_event_stream_clients 0\n"));
    expect(handlers()).toBe(1);
    const second = startAdminServer(bravo.node, { port: 0, hostname: "127.0.0.1", logger: silentLogger });
    expect(handlers()).toBe(2);
    await second.stop();
    expect(handlers()).toBe(1);
  });
});

describe("EventStreamHub", () => {
  function fakeBus() {
    const handlers = new Set<(event: GossipEvent) => void>();
    return {
      handlers,
      subscribe: (handler: (event: GossipEvent) => void) => {
        handlers.add(handler);
        return () => void handlers.delete(handler);
      },
      emit: (event: GossipEvent) => {
        for (const handler of [...handlers]) handler(event);
      },
    };
  }
  const configEvent = (changed: string[]): GossipEvent => ({ type: "config-changed", node: "n", version: 1, changed, time: 0 });

  test("cuts off a client that does not read once its queue passes the cap, and unsubscribes", async () => {
    const bus = fakeBus();
    const hub = new EventStreamHub(bus.subscribe, { heartbeatMs: 60_000, maxQueuedBytes: 1000, maxClients: 4 });
    const response = hub.open();
    expect(bus.handlers.size).toBe(1);
    // Bounded: the client must be dropped within 1000 bytes of ~300-byte events.
    for (let i = 0; i < 10 && hub.clientCount > 0; i++) bus.emit(configEvent(["x".repeat(250)]));
    expect(hub.clientCount).toBe(0);
    expect(hub.slowClientsDropped).toBe(1);
    expect(bus.handlers.size).toBe(0);
    expect(response.text()).rejects.toThrow("too slow");
  });

  test("the backlog keeps the latest events within its count and byte caps, and listens with no client", async () => {
    const bus = fakeBus();
    const hub = new EventStreamHub(bus.subscribe, { heartbeatMs: 60_000, maxQueuedBytes: 1 << 20, maxClients: 4, backlogEvents: 5, backlogBytes: 1000 });
    expect(bus.handlers.size).toBe(1);
    // ~300 bytes each: the byte cap (1000) holds three, fewer than the count cap (5).
    for (let i = 0; i < 8; i++) bus.emit(configEvent([`e${i}`, "x".repeat(230)]));
    const response = hub.open(5);
    hub.closeAll();
    const replayed = [...(await response.text()).matchAll(/"changed":\["(e\d)"/g)].map((match) => match[1]);
    expect(replayed).toEqual(["e5", "e6", "e7"]);
    expect(bus.handlers.size).toBe(0);
  });

  test("delivers events and heartbeats to a client, and refuses clients past maxClients", async () => {
    const bus = fakeBus();
    const hub = new EventStreamHub(bus.subscribe, { heartbeatMs: 10, maxQueuedBytes: 1 << 20, maxClients: 1 });
    const response = hub.open();
    expect(() => hub.open()).toThrow("too many event stream clients");
    bus.emit(configEvent(["fanout"]));
    await Bun.sleep(50); // a few heartbeats
    hub.closeAll();
    const text = await response.text();
    expect(text).toContain(": connected\n\n");
    expect(text).toContain(`data: {"type":"config-changed","node":"n","version":1,"changed":["fanout"],"time":0}\n\n`);
    expect(text).toContain(": heartbeat\n\n");
    expect(bus.handlers.size).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Metrics

describe("metrics", () => {
  async function scrape(member: Member): Promise<Map<string, ParsedFamily>> {
    const response = await call(member, "GET", "/metrics");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    return parseExposition(await response.text());
  }

  const value = sampleValue;

  test("the strict parser refuses what the format forbids", () => {
    const valid = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n";
    expect(() => parseExposition(valid)).not.toThrow();
    for (const broken of [
      "a_total 1\n", // no HELP/TYPE
      "# HELP a_total A.\n# TYPE a_total counter\na_total one\n", // value
      "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1} 1\n", // label quote
      "# HELP a_total A.\n# TYPE a_total counter\na_total{1x=\"1\"} 1\n", // label name
      "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",x=\"2\"} 1\n", // repeated label
      "# HELP a_total A.\n# TYPE a_total counter\na_total 1\na_total 2\n", // repeated series
      "# HELP a_total A.\n# TYPE a_total counter\nb_total 1\n", // sample of another family
      "# HELP a A.\n# TYPE a counter\na 1\n", // counter without _total
      "# HELP a_total A.\n# TYPE a_total counter\na_total 1", // no final newline
      "# HELP h A.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n", // not cumulative
    ]) {
      expect(() => parseExposition(broken)).toThrow();
    }
  });

  test("every line parses, the promised families are there, and counters move between scrapes", async () => {
    const first = await scrape(alpha);
    const expected: Record<string, string> = {
      goferbroke_node_info: "gauge",
      goferbroke_gossip_rounds_total: "counter",
      goferbroke_gossip_sent_messages_total: "counter",
      goferbroke_gossip_received_messages_total: "counter",
      goferbroke_gossip_sent_bytes_total: "counter",
      goferbroke_gossip_received_bytes_total: "counter",
      goferbroke_entries_received_total: "counter",
      goferbroke_entries_applied_total: "counter",
      goferbroke_entries_skipped_total: "counter",
      goferbroke_transport_sent_bytes_total: "counter",
      goferbroke_transport_received_bytes_total: "counter",
      goferbroke_transport_overloads_total: "counter",
      goferbroke_transport_write_queue_bytes: "gauge",
      goferbroke_member_phi: "gauge",
      goferbroke_member_state: "gauge",
      goferbroke_members: "gauge",
      goferbroke_event_loop_lag_seconds: "gauge",
      goferbroke_event_loop_max_lag_seconds: "gauge",
      goferbroke_propagation_delay_seconds: "histogram",
    };
    for (const [name, type] of Object.entries(expected)) expect({ name, type: first.get(name)?.type }).toEqual({ name, type });

    expect(value(first, "goferbroke_node_info", { node: "alpha", version: packageJson.version })).toBe(1);
    for (const type of ["syn", "synack", "ack", "push"]) expect(value(first, "goferbroke_gossip_sent_messages_total", { type })).toBeGreaterThanOrEqual(0);
    for (const node of ["alpha", "bravo", "charlie"]) {
      expect(value(first, "goferbroke_member_state", { node, state: "alive" })).toBe(1);
      expect(value(first, "goferbroke_member_state", { node, state: "dead" })).toBe(0);
      expect(value(first, "goferbroke_member_phi", { node })).toBeGreaterThanOrEqual(0);
    }
    expect(value(first, "goferbroke_members", { state: "alive" })).toBe(3);
    expect(first.get("goferbroke_transport_write_queue_bytes")!.samples.map((s) => s.labels.peer).sort()).toEqual(["bravo", "charlie"]);
    const delays = (families: Map<string, ParsedFamily>, suffix: "_count" | "_sum") =>
      families.get("goferbroke_propagation_delay_seconds")!.samples.find((sample) => sample.name === `goferbroke_propagation_delay_seconds${suffix}`)!.value;

    await json(bravo, "PUT", "/v1/keys/metrics/moved", { body: "x" });
    await waitForEntry(alpha, "bravo", "metrics", "moved", "x");
    await Bun.sleep(500); // two or three gossip rounds
    const second = await scrape(alpha);
    for (const name of ["goferbroke_gossip_rounds_total", "goferbroke_transport_sent_bytes_total", "goferbroke_transport_received_bytes_total", "goferbroke_entries_applied_total"]) {
      expect({ name, moved: value(second, name) > value(first, name) }).toEqual({ name, moved: true });
    }
    const sentSyn = (families: Map<string, ParsedFamily>) => value(families, "goferbroke_gossip_sent_bytes_total", { type: "syn" });
    expect(sentSyn(second)).toBeGreaterThan(sentSyn(first));
    // bravo's write reached alpha once: one more propagation delay observed (a pushed write can
    // arrive within the same millisecond, so its delay may be 0).
    expect(delays(second, "_count") - delays(first, "_count")).toBe(1);
    expect(delays(second, "_sum")).toBeGreaterThanOrEqual(delays(first, "_sum"));
  });
});

// ---------------------------------------------------------------------------------------------
// What the dashboard page uses (the page itself is driven in a browser by admin-dashboard.test.ts)

describe("dashboard endpoints", () => {
  test("the page holds the controls: filters, health panel, config form, delete buttons, event backlog", async () => {
    const response = await call(alpha, "GET", "/");
    expect(response.status).toBe(200);
    const page = await response.text();
    for (const id of ["member-filter", "entry-filter", "health", "health-phi", "propagation", "set-form", "state-result", "config-form", "config-table", "config-result", "events"]) {
      expect({ id, present: page.includes(`id="${id}"`) }).toEqual({ id, present: true });
    }
    for (const figure of ["write-rate", "applied-rate", "exchange-rate", "loop-lag", "connections"]) expect(page).toContain(`data-figure="${figure}"`);
    // The script calls each endpoint tested below.
    for (const used of ['"/v1/stats"', '"/v1/config"', 'method: "PATCH"', 'method: "DELETE"', "backlog", "expiresAt"]) expect({ used, present: page.includes(used) }).toEqual({ used, present: true });
  });

  test("GET /v1/stats: counters, rates' inputs, connections, lag and the propagation histogram", async () => {
    const before = (await json(alpha, "GET", "/v1/stats")).body;
    await json(bravo, "PUT", "/v1/keys/stats/moved", { body: "y" });
    await waitForEntry(alpha, "bravo", "stats", "moved", "y");
    await Bun.sleep(300);
    const { status, body } = await json(alpha, "GET", "/v1/stats");
    expect(status).toBe(200);
    expect(body.time).toBeGreaterThan(before.time);
    expect(body.gossip.rounds).toBeGreaterThan(before.gossip.rounds);
    expect(body.gossip.messagesSent).toBeGreaterThan(before.gossip.messagesSent);
    expect(body.gossip.entriesApplied).toBeGreaterThan(before.gossip.entriesApplied);
    expect(body.connections.established).toBeGreaterThanOrEqual(1);
    expect(body.eventLoop.lagMs).toBeGreaterThanOrEqual(0);
    expect(body.writes.desiredRate).toBeGreaterThanOrEqual(0);
    const { buckets, count } = body.propagationSeconds;
    expect(count).toBe(before.propagationSeconds.count + 1);
    expect(buckets.at(-1)).toEqual({ le: "Infinity", count });
    // The same figures as /metrics.
    const families = parseExposition(await (await call(alpha, "GET", "/metrics")).text());
    const scraped = families.get("goferbroke_propagation_delay_seconds")!.samples.find((sample) => sample.name === "goferbroke_propagation_delay_seconds_count");
    expect(scraped?.value).toBe(count);
  });

  test("GET /v1/events?backlog=N first replays the last N events, in order, then goes on live; without it, none", async () => {
    for (const key of ["b1", "b2", "b3", "b4"]) await json(bravo, "PUT", `/v1/keys/backlog/${key}`, { body: key });
    const described = (events: any[]) => events.map((event) => `${event.type} ${event.group}/${event.key}`);
    for (const [query, expected] of [
      ["?backlog=3", ["entry-added backlog/b2", "entry-added backlog/b3", "entry-added backlog/b4", "entry-added backlog/live3"]],
      ["", ["entry-added backlog/live0"]],
    ] as const) {
      const abort = new AbortController();
      const response = await fetch(new URL(`/v1/events${query}`, bravo.admin.url), { signal: abort.signal });
      expect(response.status).toBe(200);
      const live = query === "" ? "live0" : "live3";
      setTimeout(() => void json(bravo, "PUT", `/v1/keys/backlog/${live}`, { body: "now" }), 200);
      const { events } = await readEvents(response, (event) => event.key === live);
      abort.abort();
      expect(described(events)).toEqual([...expected]);
    }
  });

  test("?backlog= out of range or not a number is refused with the range", async () => {
    for (const backlog of ["101", "-1", "abc", "1.5"]) {
      const { status, body } = await json(bravo, "GET", `/v1/events?backlog=${backlog}`);
      expect({ backlog, status, error: body.error }).toEqual({ backlog, status: 400, error: `backlog must be a whole number of events from 0 to 100; got ${JSON.stringify(backlog)}` });
    }
  });

  test("entries with a TTL show when they expire, in /v1/state and /v1/state/{node}/{group}/{key}", async () => {
    const before = Date.now();
    await json(alpha, "PUT", "/v1/keys/ttl-shown/soon?ttl=60000", { body: "x" });
    await json(alpha, "PUT", "/v1/keys/ttl-shown/never", { body: "y" });
    const state = (await json(alpha, "GET", "/v1/state")).body.alpha["ttl-shown"];
    expect(state.soon.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(state.soon.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(Object.keys(state.never).sort()).toEqual(["type", "value", "version"]);
    // The expiry travels with the entry: bravo shows the same deadline.
    const onBravo = await waitForEntry(bravo, "alpha", "ttl-shown", "soon", "x");
    expect(onBravo.expiresAt).toBe(state.soon.expiresAt);
  });
});
