// The attacks of the hostile soak (soak-hostile.ts, issue #16), each a loop against one node of a
// running cluster until a deadline. Each says how many authenticated connections it holds at
// most, for the memory bar (README "Memory per connection": maxFrameBytes + 4 MiB each).

import { randomBytes } from "node:crypto";
import { type DigestEntry, encodeHelloIntroduce, MessageType, type NodeDelta, PROTOCOL_VERSION, SUMMARY_BUCKETS, writeDeltas, writePage, writeSummary } from "../../src/codec/index.ts";
import { ValueType } from "../../src/state/index.ts";
import { frame, frameHeader, handshake, HostilePeer, introduction, type TlsFiles } from "./hostile-peer.ts";

export type Mode = "plain" | "secret" | "mtls";

export interface AttackTarget {
  mode: Mode;
  nodePort: number;
  clientPort: number;
  clusterName: string;
  secret?: string;
  /** mTLS: a certificate the cluster CA signed (an insider), and one another CA signed. */
  insiderTls?: TlsFiles;
  foreignTls?: TlsFiles;
}

export interface Attack {
  name: string;
  /** Authenticated connections it holds at once, at most. */
  insiders: number;
  /**
   * Legitimate state the attack works on, set up before it: the target's idle RSS is measured
   * again once it is held (holding it is within the limits, not the attack). Returns what ends it.
   */
  prepare?(target: AttackTarget): Promise<() => void>;
  run(target: AttackTarget, deadline: number): Promise<void>;
}

const until = (deadline: number) => performance.now() < deadline;

function connect(target: AttackTarget, tls = target.insiderTls): Promise<HostilePeer> {
  return HostilePeer.connect({ port: target.nodePort, ...(tls ? { tls } : {}) });
}

/** A connection past the handshake, as the member `name` (mTLS: the insider certificate's name). */
async function insider(target: AttackTarget, name = "mallory"): Promise<HostilePeer | null> {
  const peer = await connect(target);
  const { welcomed } = await handshake(peer, introduction(name, target.clusterName), target.secret);
  if (welcomed) return peer;
  peer.close();
  return null;
}

/** Repeats `once` (a short-lived connection) until the deadline, `pauseMs` apart. */
async function repeat(deadline: number, pauseMs: number, once: () => Promise<void>): Promise<void> {
  while (until(deadline)) {
    await once().catch(() => {});
    await Bun.sleep(pauseMs);
  }
}

async function briefly(target: AttackTarget, bytes: Uint8Array, holdMs = 100, tls = target.insiderTls): Promise<void> {
  const peer = await connect(target, tls);
  peer.write(bytes);
  await Bun.sleep(holdMs);
  peer.close();
}

function wire(key: string, version: number) {
  return { group: "g", key, version, valueType: ValueType.String, deleted: false, value: new TextEncoder().encode("x") };
}

function digestOf(names: readonly string[]): DigestEntry[] {
  return names.map((node) => ({ node, generation: 1, heartbeat: 1 + Math.floor(performance.now() / 1000), maxVersion: 0, collectedUpTo: 0 }));
}

/**
 * An ACK whose page covers every name hash and lists `entries` (protocol 4: names travel in pages,
 * and the receiver answers with the deltas of every node the page lacks).
 */
function pageAck(entries: DigestEntry[], correlationId: number): Uint8Array {
  return frame(MessageType.Ack, (writer) => {
    writePage(writer, { ranges: [{ first: 0, last: 0xffffffff }], entries });
    writeDeltas(writer, []);
  }, correlationId);
}

/** A SYN whose summary agrees with nothing (every bucket hash 0). */
function emptySyn(correlationId: number): Uint8Array {
  return frame(MessageType.Syn, (writer) => writeSummary(writer, new Uint32Array(SUMMARY_BUCKETS)), correlationId);
}

/** Keeps one insider connection up, calling `step` on it until the deadline. */
async function asInsider(target: AttackTarget, deadline: number, name: string, step: (peer: HostilePeer) => Promise<void>): Promise<void> {
  while (until(deadline)) {
    const peer = await insider(target, name).catch(() => null);
    if (!peer) {
      await Bun.sleep(200);
      continue;
    }
    while (until(deadline) && !peer.closed) await step(peer);
    peer.close();
  }
}

const hello = (target: AttackTarget, overrides = {}) => encodeHelloIntroduce(introduction("mallory", target.clusterName, overrides));

export const ATTACKS: Attack[] = [
  { name: "random bytes", insiders: 0, run: (t, d) => repeat(d, 20, () => briefly(t, new Uint8Array(randomBytes(64 * 1024)))) },
  { name: "4 GiB frame length", insiders: 0, run: (t, d) => repeat(d, 20, () => briefly(t, frameHeader(MessageType.Hello, 0xffffffff))) },
  { name: "bad protocol versions", insiders: 0, run: (t, d) => repeat(d, 20, () => briefly(t, hello(t, { protocolVersion: [0, 2, PROTOCOL_VERSION + 1, 255][Math.floor(Math.random() * 4)]! }))) },
  {
    name: "1-byte splits",
    insiders: 0,
    run: (t, d) => repeat(d, 10, async () => {
      const peer = await connect(t);
      for (const byte of hello(t)) peer.write(new Uint8Array([byte]));
      await Bun.sleep(100);
      peer.close();
    }),
  },
  {
    name: "slow HELLO (1 byte / 500 ms, 20 sockets)",
    insiders: 0,
    run: async (t, d) => {
      const bytes = hello(t);
      await Promise.all(Array.from({ length: 20 }, () => repeat(d, 0, async () => {
        const peer = await connect(t);
        for (let i = 0; i < bytes.length && !peer.closed && until(d); i++) {
          peer.write(bytes.subarray(i, i + 1));
          await Bun.sleep(500);
        }
        peer.close();
      })));
    },
  },
  {
    name: "replayed HELLOs",
    insiders: 1,
    run: async (t, d) => {
      const recorder = await connect(t);
      const { sent } = await handshake(recorder, introduction("mallory", t.clusterName), t.secret);
      recorder.close();
      await repeat(d, 20, async () => {
        const peer = await connect(t);
        for (const bytes of sent) peer.write(bytes);
        await Bun.sleep(100);
        peer.close();
      });
    },
  },
  { name: "wrong cluster name", insiders: 0, run: (t, d) => repeat(d, 20, () => briefly(t, hello(t, { clusterName: "not-this-cluster" }))) },
  {
    name: "wrong secret / CA",
    insiders: 0,
    run: (t, d) => repeat(d, 20, async () => {
      const peer = await connect(t, t.foreignTls ?? t.insiderTls);
      await handshake(peer, introduction("mallory", t.clusterName), "a guessed secret");
      peer.close();
    }),
  },
  {
    name: "peer that never reads",
    insiders: 1,
    run: (t, d) => asInsider(t, d, "mallory", async (peer) => {
      peer.pauseReading();
      // ACKs with an empty page over every name: each answer carries the node's whole state back, unread.
      for (let i = 0; i < 50; i++) peer.write(pageAck([], i + 1));
      await Bun.sleep(100);
    }),
  },
  {
    name: "fake members (10,000 names in digests)",
    insiders: 1,
    run: (t, d) => {
      const names = Array.from({ length: 10_000 }, (_, i) => `fake-${i}`);
      return asInsider(t, d, "mallory", async (peer) => {
        peer.received.length = 0;
        peer.write(pageAck(digestOf(names), 1));
        await Bun.sleep(500);
      });
    },
  },
  { name: "silent sockets (no ClientHello / HELLO)", insiders: 0, run: (t, d) => repeat(d, 10, () => briefly(t, new Uint8Array(0), 6_000)) },
  {
    name: "idle connections past maxConnections (1,200)",
    insiders: 0,
    run: async (t, d) => {
      let peers: HostilePeer[] = [];
      while (until(d)) {
        // Tops the set up to 1,200 open sockets; the ones the node closed are dialled again.
        for (let i = peers.length; i < 1_200 && until(d); i++) {
          const peer = await connect(t).catch(() => null);
          if (peer) peers.push(peer);
        }
        peers = peers.filter((peer) => !peer.closed);
        await Bun.sleep(200);
      }
      for (const peer of peers) peer.close();
    },
  },
  {
    name: "16 MiB frame before the handshake",
    insiders: 0,
    run: (t, d) => repeat(d, 20, async () => {
      const peer = await connect(t);
      peer.write(frameHeader(MessageType.Hello, 16 * 1024 * 1024));
      peer.write(new Uint8Array(256 * 1024));
      await Bun.sleep(100);
      peer.close();
    }),
  },
  {
    name: "established peer dribbling a frame",
    insiders: 1,
    run: (t, d) => asInsider(t, d, "mallory", async (peer) => {
      const bytes = emptySyn(1);
      for (let i = 0; i < bytes.length && !peer.closed && until(d); i++) {
        peer.write(bytes.subarray(i, i + 1));
        await Bun.sleep(1_000);
      }
    }),
  },
  {
    name: "1.5 M entries for one node",
    insiders: 1,
    run: async (t, d) => {
      let version = 0;
      await asInsider(t, d, "mallory", async (peer) => {
        if (version >= 1_500_000) return void (await Bun.sleep(200));
        const entries = Array.from({ length: 20_000 }, (_, i) => wire(`k${version + i}`, version + i + 1));
        const delta: NodeDelta = { node: "flooded", generation: 1, fromVersion: version, collectedUpTo: 0, maxVersion: version + entries.length, entries };
        peer.write(frame(MessageType.Push, (writer) => writeDeltas(writer, [delta])));
        version += entries.length;
        // Sleeps at least once per frame: building frames back to back would starve this process's own measurements.
        do await Bun.sleep(20);
        while (peer.queuedBytes > 0 && !peer.closed && until(d));
      });
    },
  },
  {
    name: "bad names (\"\", a\\nb, RTL override)",
    insiders: 1,
    run: (t, d) => asInsider(t, d, "mallory", async (peer) => {
      const bad = ["", "a\nb", "\u202eevil", "x".repeat(65)];
      peer.received.length = 0;
      peer.write(pageAck(digestOf(bad), 1));
      peer.write(frame(MessageType.Push, (writer) => writeDeltas(writer, bad.map((node): NodeDelta => ({ node, generation: 1, fromVersion: 0, collectedUpTo: 0, maxVersion: 1, entries: [wire("k", 1)] })))));
      await Bun.sleep(50);
    }),
  },
];

// ---- the client port ----

async function http(target: AttackTarget, method: string, path: string, body?: string | Uint8Array): Promise<void> {
  await fetch(`http://127.0.0.1:${target.clientPort}${path}`, { method, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(5_000) }).then((r) => r.arrayBuffer());
}

/** A request written by hand on a raw socket: what fetch() would never send. */
async function rawHttp(target: AttackTarget, text: string): Promise<void> {
  const socket = await Bun.connect({ hostname: "127.0.0.1", port: target.clientPort, socket: { data() {}, error() {} } });
  socket.write(text);
  await Bun.sleep(100);
  socket.terminate();
}

export const HTTP_ATTACKS: Attack[] = [
  { name: "HTTP: oversized values (8 MiB PUT)", insiders: 0, run: (t, d) => repeat(d, 50, () => http(t, "PUT", "/v1/keys/soak/big", new Uint8Array(8 * 1024 * 1024))) },
  { name: "HTTP: malformed JSON", insiders: 0, run: (t, d) => repeat(d, 20, () => http(t, "PATCH", "/v1/config", "{\"settings\": {\"gossipIntervalMs\": ")) },
  {
    name: "HTTP: path tricks",
    insiders: 0,
    run: (t, d) => repeat(d, 20, async () => {
      for (const path of ["/v1/keys/..%2F..%2Fetc/passwd", "/v1/state/%00/%ff/x", "//v1//keys//a//b", "/v1/keys/a/" + "b".repeat(10_000), "/v1/state/\u202e/g/k"]) {
        await http(t, "PUT", path, "x").catch(() => {});
      }
    }),
  },
  { name: "HTTP: missing Host header", insiders: 0, run: (t, d) => repeat(d, 20, () => rawHttp(t, "GET /v1/members HTTP/1.1\r\nConnection: close\r\n\r\n")) },
  {
    name: "HTTP: large state dumps (/v1/state, 20,000 entries)",
    insiders: 1,
    // The insider's own entries (those of names it only makes up stay on probation, 32 each),
    // within maxEntriesPerNode: held before the attack, which is the dumping.
    prepare: async (t) => {
      const peer = await insider(t, "dumper");
      if (peer) {
        for (let n = 0; n < 10; n++) {
          const entries = Array.from({ length: 2_000 }, (_, i) => wire(`k${n * 2_000 + i}`, n * 2_000 + i + 1));
          peer.write(frame(MessageType.Push, (writer) => writeDeltas(writer, [{ node: "dumper", generation: 1, fromVersion: n * 2_000, collectedUpTo: 0, maxVersion: (n + 1) * 2_000, entries }])));
        }
      }
      return () => peer?.close();
    },
    run: (t, d) => repeat(d, 0, () => http(t, "GET", "/v1/state")),
  },
];
