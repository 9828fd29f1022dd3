// TCP transport in real multi-process clusters: nodes started from the CLI as separate processes
// on 127.0.0.1, observed only through their client ports (/v1/state, /v1/members, /v1/self) and
// their JSON logs. Covers convergence, a restart with a new generation, mutual TLS, cluster
// secrets and names, and garbage on the node port.

import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "bun";
import { HEADER_BYTES, MessageType, PROTOCOL_VERSION } from "../src/codec/index.ts";
import { AuthScheme, encodeHelloIntroduce } from "../src/codec/index.ts";
import { newNonce } from "../src/transport/admission.ts";
import { CertificateAuthorities, SKIP_REASON, opensslPath, tlsFlags } from "./support/certificates.ts";
import {
  allHold,
  api,
  clusterState,
  killAll,
  logLines,
  members,
  putKey,
  restartNode,
  startCluster,
  startNode,
  stopNode,
  waitFor,
  waitForLog,
  waitHealthy,
  type NodeProcess,
} from "./support/node-processes.ts";

// Clusters of five processes on a small CI machine take seconds to start; every wait below has
// its own, tighter bound (bunfig's timeout is ignored for per-test limits).
setDefaultTimeout(90_000);

const NAMES = ["alpha", "bravo", "charlie", "delta", "echo"] as const;
const INTERVAL_MS = 200;
/** Generous bound for a write to reach every node: pushes make it a few ms, gossip a few rounds. */
const CONVERGE_MS = 10_000;

afterEach(killAll);

/** Asserts that `name` is absent from every node's member list now and at every sample over `forMs`. */
async function expectNeverMember(nodes: readonly NodeProcess[], name: string, forMs: number): Promise<void> {
  const until = performance.now() + forMs;
  do {
    const tables = await Promise.all(nodes.map((node) => members(node)));
    for (const [index, rows] of tables.entries()) {
      expect({ node: nodes[index]!.name, sees: rows.map((row) => row.name).filter((seen) => seen === name) }).toEqual({ node: nodes[index]!.name, sees: [] });
    }
    await Bun.sleep(INTERVAL_MS);
  } while (performance.now() < until);
}

/** A write made after a disturbance still reaches every node: the cluster kept gossiping. */
async function expectStillConverging(nodes: readonly NodeProcess[], writer: NodeProcess, label: string): Promise<void> {
  await putKey(writer, "after", label, `${label}-ok`);
  await waitFor(`${writer.name}'s after/${label} to reach every node`, () => allHold(nodes, writer.name, "after", label, `${label}-ok`), CONVERGE_MS);
}

describe("a cluster of 5 processes", () => {
  test("converges on each node's writes", async () => {
    const nodes = await startCluster({ names: NAMES, gossipIntervalMs: INTERVAL_MS });
    const versions = await Promise.all(nodes.map((node) => putKey(node, "app", "greeting", `hello from ${node.name}`)));
    const everyWriteEverywhere = async () => {
      const states = await Promise.all(nodes.map((node) => clusterState(node)));
      return states.every((state) => nodes.every((owner, i) => {
        const entry = state[owner.name]?.app?.greeting;
        return entry?.value === `hello from ${owner.name}` && entry.type === "string" && entry.version === versions[i];
      }));
    };
    await waitFor("every node to hold all 5 writes", everyWriteEverywhere, CONVERGE_MS);
    // Nothing else: each node's user state is exactly its one write.
    const state = await clusterState(nodes[4]!);
    for (const owner of NAMES) expect(Object.keys(state[owner] ?? {})).toEqual(["app"]);
  });

  test("a node killed with -9 and restarted under the same name and port replaces its old state everywhere", async () => {
    const nodes = await startCluster({ names: NAMES, gossipIntervalMs: INTERVAL_MS });
    const [alpha, , , delta] = nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess, NodeProcess];
    const others = nodes.filter((node) => node !== delta);
    const oldGeneration = (await api<{ generation: number }>(delta, "GET", "/v1/self")).body.generation;
    await putKey(delta, "old", "only-before", "gone after the restart");
    await putKey(delta, "shared", "rewritten", "first life");
    await waitFor("delta's first-life writes to reach everyone", () => allHold(others, "delta", "shared", "rewritten", "first life"), CONVERGE_MS);
    expect(await allHold(others, "delta", "old", "only-before", "gone after the restart")).toBe(true);

    await stopNode(delta, "SIGKILL");
    const reborn = await restartNode(delta);
    await waitHealthy(reborn);
    expect(reborn.nodePort).toBe(delta.nodePort);
    const newGeneration = (await api<{ generation: number }>(reborn, "GET", "/v1/self")).body.generation;
    expect(newGeneration).toBeGreaterThan(oldGeneration);
    await putKey(reborn, "shared", "rewritten", "second life");
    await putKey(reborn, "new", "only-after", "fresh");

    const replacedEverywhere = async () => {
      const states = await Promise.all(others.map((node) => clusterState(node)));
      return states.every((state) => {
        const entries = state.delta;
        return entries?.old === undefined && entries?.shared?.rewritten?.value === "second life" && entries?.new?.["only-after"]?.value === "fresh";
      });
    };
    await waitFor("delta's new state to replace the old one on every node", replacedEverywhere, CONVERGE_MS);
    await waitFor(
      "every node to list delta alive with its new generation",
      async () => (await Promise.all(others.map((node) => members(node)))).every((rows) =>
        rows.some((row) => row.name === "delta" && row.state === "alive" && row.generation === newGeneration)),
      CONVERGE_MS,
    );
    // The restarted node learned everyone else's state too.
    await expectStillConverging([...others, reborn], alpha, "after-restart");
  });
});

describe.skipIf(!opensslPath)("mutual TLS between processes", () => {
  if (!opensslPath) console.warn(`skipping the mTLS process tests: ${SKIP_REASON}`);
  let certificates: CertificateAuthorities;
  beforeAll(() => {
    certificates = new CertificateAuthorities(opensslPath!);
  });
  afterAll(() => certificates?.remove());

  test("a cluster with CA-signed certificates converges; a certificate from another CA is refused and never joins", async () => {
    const names = NAMES.slice(0, 3);
    const nodes = await startCluster({
      names,
      gossipIntervalMs: INTERVAL_MS,
      flags: (name) => tlsFlags(certificates.nodeCertificate(name, "cluster-ca")),
    });
    const [alpha, bravo] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    expect(logLines(alpha).some((line) => /^listening on /.test(line.msg) && line.tls === true)).toBe(true);
    await putKey(bravo, "secure", "key", "over mTLS");
    await waitFor("bravo's write to reach every node over mTLS", () => allHold(nodes, "bravo", "secure", "key", "over mTLS"), CONVERGE_MS);

    // mallory trusts the cluster CA, so only its own certificate is wrong.
    const mallory = await startNode({
      name: "mallory",
      seeds: [alpha.address],
      gossipIntervalMs: INTERVAL_MS,
      flags: tlsFlags(certificates.nodeCertificate("mallory", "other-ca", "cluster-ca")),
    });
    await waitHealthy(mallory);
    const refusal = await waitForLog(alpha, "the refusal of mallory's certificate", (line) =>
      /^refused peer 127\.0\.0\.1:\d+: certificate not trusted/.test(line.msg));
    expect(refusal.level).toBe("warn");
    await expectNeverMember(nodes, "mallory", 2_000);
    expect((await members(mallory)).map((row) => row.name)).toEqual(["mallory"]);
    await expectStillConverging(nodes, alpha, "after-mallory");
  });

  test("with --tls-require-name, a CA-signed certificate for another name is refused", async () => {
    const names = NAMES.slice(0, 2);
    const nodes = await startCluster({ names, gossipIntervalMs: INTERVAL_MS, flags: (name) => tlsFlags(certificates.nodeCertificate(name, "cluster-ca")) });
    const [alpha] = nodes as [NodeProcess, NodeProcess];
    // eve presents a valid cluster certificate, but it names carol.
    const eve = await startNode({ name: "eve", seeds: [alpha.address], gossipIntervalMs: INTERVAL_MS, flags: tlsFlags(certificates.nodeCertificate("carol", "cluster-ca")) });
    await waitHealthy(eve);
    await waitForLog(alpha, "the refusal of eve's certificate name", (line) =>
      /^refused peer 127\.0\.0\.1:\d+: certificate names \[carol\] do not include the announced node name 'eve'$/.test(line.msg));
    await expectNeverMember(nodes, "eve", 1_000);
  });
});

describe("peers that do not belong", () => {
  let secretsDir = "";
  beforeAll(() => {
    secretsDir = mkdtempSync(join(tmpdir(), "goferbroke-secrets-"));
    writeFileSync(join(secretsDir, "right"), "correct horse battery staple\n");
    writeFileSync(join(secretsDir, "wrong"), "incorrect horse battery staple\n");
  });
  afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));

  test("a node with a wrong cluster secret, or none, is refused with a log line and never joins", async () => {
    const secret = (file: string) => [`--secret-file=${join(secretsDir, file)}`];
    const nodes = await startCluster({ names: NAMES.slice(0, 3), gossipIntervalMs: INTERVAL_MS, flags: () => secret("right") });
    const [alpha] = nodes as [NodeProcess, NodeProcess, NodeProcess];

    // The dialer proves first, so alpha (the listener) finds the intruder's proof wrong and never
    // sends its own; the intruder logs the refusal it receives. Either way no state flows.
    const wrong = await startNode({ name: "wrong-secret", seeds: [alpha.address], gossipIntervalMs: INTERVAL_MS, flags: secret("wrong") });
    await waitForLog(alpha, "its refusal of the intruder's proof", (line) => /^refused peer 127\.0\.0\.1:\d+: wrong cluster secret proof$/.test(line.msg));
    await waitForLog(wrong, "alpha's refusal", (line) =>
      /^peer alpha \(127\.0\.0\.1:\d+\) refused the connection \(AuthFailed\): "wrong cluster secret proof"$/.test(line.msg));

    // Without any secret the listener (alpha) refuses at the introduction.
    const none = await startNode({ name: "no-secret", seeds: [alpha.address], gossipIntervalMs: INTERVAL_MS });
    await waitForLog(alpha, "the refusal of a node without a secret", (line) =>
      /^refused peer 127\.0\.0\.1:\d+: peer has no cluster secret and this node requires one$/.test(line.msg));

    await expectNeverMember(nodes, "wrong-secret", 1_500);
    await expectNeverMember(nodes, "no-secret", 0);
    expect((await members(wrong)).map((row) => row.name)).toEqual(["wrong-secret"]);
    expect((await members(none)).map((row) => row.name)).toEqual(["no-secret"]);
    await expectStillConverging(nodes, alpha, "after-secrets");
  });

  test("a node of another cluster is refused with a log line naming both clusters", async () => {
    const nodes = await startCluster({ names: NAMES.slice(0, 3), gossipIntervalMs: INTERVAL_MS, flags: () => ["--cluster-name=production"] });
    const [alpha] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const stranger = await startNode({ name: "stranger", seeds: [alpha.address], gossipIntervalMs: INTERVAL_MS, flags: ["--cluster-name=staging"] });
    const refusal = await waitForLog(alpha, "the refusal of the staging node", (line) => line.msg.startsWith("refused peer"));
    expect(refusal.msg).toMatch(/^refused peer 127\.0\.0\.1:\d+: cluster name 'staging' differs from ours 'production'$/);
    expect(refusal.code).toBe("ClusterMismatch");
    await waitForLog(stranger, "alpha's refusal", (line) => /refused the connection \(ClusterMismatch\): "cluster name 'staging' differs from ours 'production'"$/.test(line.msg));
    await expectNeverMember(nodes, "stranger", 1_500);
    expect((await members(stranger)).map((row) => row.name)).toEqual(["stranger"]);
  });
});

describe("garbage on the node port", () => {
  /** A raw TCP client: the test decides what it sends; it keeps what the node answered and when it closed. */
  interface RawClient {
    socket: Socket<undefined>;
    /** "ip:port" of our end, as the node's log names it. */
    local: string;
    received: Uint8Array[];
    closed: Promise<void>;
  }

  async function connectRaw(node: NodeProcess): Promise<RawClient> {
    let markClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    const received: Uint8Array[] = [];
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: node.nodePort,
      socket: {
        binaryType: "uint8array",
        data: (_socket, chunk) => void received.push(chunk),
        close: () => markClosed(),
        error: () => markClosed(),
      },
    });
    return { socket, local: `127.0.0.1:${socket.localPort}`, received, closed };
  }

  async function waitClosedByNode(client: RawClient, what: string, timeoutMs = 8_000): Promise<void> {
    const closed = await Promise.race([client.closed.then(() => true), Bun.sleep(timeoutMs).then(() => false)]);
    if (!closed) client.socket.terminate();
    expect({ what, closedByNode: closed }).toEqual({ what, closedByNode: true });
  }

  test("random bytes, an oversized length, a truncated frame and junk after HELLO are each closed with a logged reason; gossip goes on", async () => {
    const nodes = await startCluster({ names: NAMES, gossipIntervalMs: INTERVAL_MS });
    const [alpha, bravo] = nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess, NodeProcess];

    // 1. Random bytes. Their first four are a body length: past the 1 MiB limit the node refuses
    //    at once; in the rare case it is smaller, the handshake timeout (5 s) closes it instead.
    const random = await connectRaw(alpha);
    random.socket.write(crypto.getRandomValues(new Uint8Array(4096)));
    await waitClosedByNode(random, "random bytes");
    const randomReason = await waitForLog(alpha, "a reason for closing the random-bytes connection", (line) => line.msg.startsWith(`refused peer ${random.local}: `));
    expect(randomReason.msg).toMatch(/malformed frame|no handshake within|before the handshake/);

    // 2. A header announcing a 2 GiB body (before the handshake, the limit is 4 KiB).
    const oversized = await connectRaw(alpha);
    const header = new Uint8Array(HEADER_BYTES);
    new DataView(header.buffer).setUint32(0, 0x8000_0000);
    header[4] = PROTOCOL_VERSION;
    header[5] = MessageType.Syn;
    oversized.socket.write(header);
    await waitClosedByNode(oversized, "an oversized length header");
    await waitForLog(alpha, "the oversized frame's refusal", (line) =>
      line.msg === `refused peer ${oversized.local}: malformed frame (before the handshake completed): cannot decode frame.length at offset 0: body of 2147483648 bytes exceeds the 4096-byte frame limit`);

    // 3. A frame cut short, then our side closes: the node discards the partial frame and says so.
    const truncated = await connectRaw(alpha);
    const hello = encodeHelloIntroduce({
      protocolVersion: PROTOCOL_VERSION,
      clusterName: "goferbroke",
      nodeName: "raw-client",
      generation: 1,
      advertisedAddress: "127.0.0.1:1",
      authScheme: AuthScheme.None,
      nonce: newNonce(),
    });
    truncated.socket.write(hello.subarray(0, hello.length - 5));
    await Bun.sleep(100);
    truncated.socket.end();
    await truncated.closed;
    await waitForLog(alpha, "the discarded partial frame", (line) =>
      line.msg === `${truncated.local} closed in the middle of a frame: ${hello.length - 5} bytes discarded`);

    // 4. A well-formed HELLO (so the node answers WELCOME), then junk where step 2 should be.
    const junky = await connectRaw(alpha);
    const junk = new Uint8Array(64).fill(0xff);
    junky.socket.write(new Uint8Array([...hello, ...junk]));
    await waitClosedByNode(junky, "junk after a HELLO");
    const junkReason = await waitForLog(alpha, "the refusal of junk after HELLO", (line) => line.msg.startsWith(`refused peer ${junky.local}: `));
    expect(junkReason.msg).toMatch(/malformed frame \(before the handshake completed\): .*exceeds the 4096-byte frame limit/);
    const types = frameTypes(Buffer.concat(junky.received));
    expect(types).toContain(MessageType.Welcome); // the HELLO itself was fine
    expect(types).toContain(MessageType.Error); // the junk was answered with ERROR before closing

    // No raw client ever became a member, and alpha still gossips both ways.
    expect((await members(bravo)).map((row) => row.name).sort()).toEqual([...NAMES].sort());
    await expectStillConverging(nodes, alpha, "from-alpha");
    await expectStillConverging(nodes, bravo, "from-bravo");
  });
});

/** Message types of the frames in a byte stream (all chunks received, concatenated). */
function frameTypes(stream: Uint8Array): number[] {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const types: number[] = [];
  for (let at = 0; at + HEADER_BYTES <= stream.length; at += HEADER_BYTES + view.getUint32(at)) types.push(stream[at + 5]!);
  return types;
}
