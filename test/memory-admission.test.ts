// The memory transport admits and refuses exactly as TCP does: the same handshake (admission.ts)
// runs between simulated nodes, so another cluster, a malformed name, another secret or an older
// generation is refused in the simulator with the same reason a real node logs.

import { expect, test } from "bun:test";
import { MessageType } from "../src/codec/index.ts";
import { createRandom } from "../src/random.ts";
import { MemoryNetwork, type MemoryIdentity } from "../src/transport/memory.ts";
import { VirtualClock } from "../src/transport/virtual-clock.ts";
import { RecordingHost, frameBytes, introduce, startNode, waitFor, closeAll } from "./tcp-harness.ts";

interface SimPeer {
  host: RecordingHost;
  refusals: string[];
  send(to: string, label: string): string;
}

function network(): { net: MemoryNetwork; clock: VirtualClock; join(name: string, identity?: MemoryIdentity): Promise<SimPeer> } {
  const clock = new VirtualClock();
  const net = new MemoryNetwork(clock, createRandom(1), { lossRate: 0, minLatencyMs: 1, maxLatencyMs: 1 });
  const join = async (name: string, identity: MemoryIdentity = {}): Promise<SimPeer> => {
    const transport = net.transport(name, [], identity);
    const refusals: string[] = [];
    const host = new RecordingHost();
    Object.assign(host, { onRefused: (_address: string, node: string | undefined, reason: string) => void refusals.push(`${node}: ${reason}`) });
    await transport.start(host);
    return { host, refusals, send: (to, label) => transport.send(to, frameBytes(MessageType.Ping, new TextEncoder().encode(label))) };
  };
  return { net, clock, join };
}

test("matching nodes exchange frames both ways after one handshake", async () => {
  const { clock, join } = network();
  const a = await join("a");
  const b = await join("b");
  expect(a.send("b", "to b")).toBe("queued");
  expect(b.send("a", "to a")).toBe("queued");
  clock.advance(5);
  expect(b.host.framesFrom("a").length).toBe(1);
  expect(a.host.framesFrom("b").length).toBe(1);
  expect([...a.refusals, ...b.refusals]).toEqual([]);
});

test("another cluster, a malformed name and another secret are refused with TCP's reasons", async () => {
  const { clock, join } = network();
  const a = await join("a", { secret: "s" });
  const other = await join("o", { clusterName: "elsewhere", secret: "s" });
  const badName = await join("bad name", { secret: "s" });
  const wrongSecret = await join("w", { secret: "not s" });
  expect(other.send("a", "x")).toBe("unreachable");
  expect(badName.send("a", "x")).toBe("unreachable");
  expect(wrongSecret.send("a", "x")).toBe("unreachable");
  expect(a.send("o", "x")).toBe("unreachable"); // refused in the other direction too
  clock.advance(5);
  expect(a.host.frames).toEqual([]);
  expect(a.refusals).toEqual([
    "o: cluster name 'elsewhere' differs from ours 'simulation'",
    'bad name: node name "bad name" is not 1 to 64 characters from A-Z a-z 0-9 . _ -',
    "w: wrong cluster secret proof",
    `o: peer refused the connection: "cluster name 'simulation' differs from ours 'elsewhere'"`,
  ]);
  expect(wrongSecret.refusals).toEqual([`a: peer refused the connection: "wrong cluster secret proof"`]);
});

test("an older generation of an admitted node is refused; a newer one is admitted", async () => {
  const { clock, join } = network();
  const a = await join("a");
  const current = await join("b", { generation: 5 });
  expect(current.send("a", "gen 5")).toBe("queued");
  const stale = await join("b", { generation: 4 });
  expect(stale.send("a", "gen 4")).toBe("unreachable");
  expect(a.refusals).toEqual(["b: node 'b' is already connected with generation 5, newer than the announced 4"]);
  const restarted = await join("b", { generation: 6 });
  expect(restarted.send("a", "gen 6")).toBe("queued");
  clock.advance(5);
  expect(a.host.framesFrom("b").map((frame) => new TextDecoder().decode(frame.body))).toEqual(["gen 5", "gen 6"]);
});

test("a node that renews its generation keeps its connections, as over TCP: no new handshake either way", async () => {
  const { net, clock } = network();
  const handshakes = { a: 0, b: 0 };
  const peers = await Promise.all(
    (["a", "b"] as const).map(async (name) => {
      const transport = net.transport(name, [], { generation: 3 });
      const host = Object.assign(new RecordingHost(), { remembered: () => void handshakes[name]++ });
      await transport.start(host);
      return { transport, host };
    }),
  );
  const [a, b] = peers as [(typeof peers)[number], (typeof peers)[number]];
  const ping = (label: string) => frameBytes(MessageType.Ping, new TextEncoder().encode(label));
  expect(a.transport.send("b", ping("before"))).toBe("queued");
  const afterHandshake = { ...handshakes };
  expect(afterHandshake.a).toBeGreaterThan(0);
  b.transport.renewGeneration(9);
  expect(a.transport.send("b", ping("a after"))).toBe("queued");
  expect(b.transport.send("a", ping("b after"))).toBe("queued");
  clock.advance(5);
  expect(handshakes).toEqual(afterHandshake);
  expect(b.host.framesFrom("a").map((frame) => new TextDecoder().decode(frame.body))).toEqual(["before", "a after"]);
  expect(a.host.framesFrom("b").map((frame) => new TextDecoder().decode(frame.body))).toEqual(["b after"]);
});

test("the reason a simulated node is refused is the one a TCP node logs", async () => {
  try {
    const tcpA = await startNode("alpha", { clusterName: "simulation" });
    const tcpB = await startNode("beta", { clusterName: "elsewhere" });
    introduce(tcpA, tcpB);
    tcpB.transport.send("alpha", frameBytes(MessageType.Ping, new Uint8Array(0)));
    await waitFor("the TCP refusal", () => tcpA.transport.stats.connectionsRefused === 1);
    const tcpReason = tcpA.log.matching(/^refused peer/)[0]!.message.replace(/^refused peer 127\.0\.0\.1:\d+: /, "");

    const { join } = network();
    const alpha = await join("alpha");
    const beta = await join("beta", { clusterName: "elsewhere" });
    expect(beta.send("alpha", "x")).toBe("unreachable");
    expect(alpha.refusals).toEqual([`beta: ${tcpReason}`]);
  } finally {
    await closeAll();
  }
});
