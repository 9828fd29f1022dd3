// The control bus side by side with HashiCorp Serf: N Serf agents (`serf agent -profile=local`)
// and N GoferBroke nodes (the compiled binary dist/goferbroke, default settings), all on
// 127.0.0.1, one cluster at a time, each measured --rounds times, the origin rotating:
//   1. Event to all: a user event (`serf event` / POST /v1/user-events), from the send until the
//      last member raised it. Every member's stream is open beforehand (Serf: the RPC `stream`
//      of user events, what `serf monitor` and event handlers see; GoferBroke: /v1/events).
//   2. Query to all acks: a query asking for acks (`serf query -ack` over RPC / POST
//      /v1/queries?ack=true), from the send until the last ack reached the asker. Neither side
//      has a handler registered, so acks are what every member sends (GoferBroke's members then
//      answer "no handler", which ends its query at once; Serf's runs to its timeout).
//   3. Applied (GoferBroke only, Serf has none): PUT /v1/keys?wait=10s, from the send until it
//      answers that every live member holds the write.
// Prints p50 and p99 of each (p99 of 30 rounds is the second-largest value: read it as a tail
// indication, not a percentile) and writes them under "## Control bus versus Serf" in
// docs/BENCHMARKS.md (--no-docs skips that).
//
//   bun run bench:serf:bus                                 (N = 10 and 30, 30 rounds each)
//   bun scripts/bench/bus-vs-serf.ts --nodes 5 --rounds 5 --no-docs   (a smoke run)
// Every process is killed by PID in finally; every wait is bounded. dist/goferbroke is built
// (`bun run build -- --host-only`) when missing; serf must be on PATH (apt-get install serf).

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { formatLoad, killAllChildren, loadAverage, machineLine, quantile, replaceDocSection } from "./serf-harness.ts";
import { SerfStream } from "./serf-stream.ts";
import { type Cluster, GoferBrokeCluster, SerfCluster, baseEnv } from "./serf-systems.ts";

const repoRoot = join(import.meta.dir, "..", "..");
const BINARY = join(repoRoot, "dist", "goferbroke");
const DOCS = join(repoRoot, "docs", "BENCHMARKS.md");
const SECTION = "## Control bus versus Serf";
const STEP_TIMEOUT_MS = 10_000;

const { values: args } = parseArgs({
  options: {
    nodes: { type: "string", default: "10,30" },
    rounds: { type: "string", default: "30" },
    "no-docs": { type: "boolean", default: false },
  },
  strict: true,
});
const NODE_COUNTS = (args.nodes ?? "").split(",").map(Number);
const ROUNDS = Number(args.rounds);
if (NODE_COUNTS.some((n) => !Number.isInteger(n) || n < 2) || !Number.isInteger(ROUNDS) || ROUNDS < 1) {
  console.error("bus-vs-serf: --nodes takes whole numbers of at least 2 (10,30), --rounds a positive whole number");
  process.exit(2);
}
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

type Figures = Record<string, number[]>;

async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  if (!(await reached(condition, timeoutMs))) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Whether `condition` held within timeoutMs (polled every 5 ms). */
async function reached(condition: () => boolean | Promise<boolean>, timeoutMs = STEP_TIMEOUT_MS): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) return false;
    await Bun.sleep(5);
  }
  return true;
}

/**
 * Records how long an event took to reach all n members (its last arrival), or counts it as
 * missed when some member had not raised it within STEP_TIMEOUT_MS: neither system replays a
 * user event, so one lost on the way stays lost.
 */
async function recordDelivery(figures: Figures, arrivals: () => number[] | undefined, n: number, sentAt: number): Promise<void> {
  if (await reached(() => (arrivals()?.length ?? 0) >= n)) figures.event!.push(Math.max(...arrivals()!) - sentAt);
  else figures.eventMissed!.push(1);
}

async function waitAllAlive(cluster: Cluster): Promise<void> {
  const n = cluster.names.length;
  await waitUntil(`all ${n} members to see each other alive`, async () => {
    const views = await Promise.all(cluster.names.map((_, i) => cluster.view(i, 2_000)));
    return views.every((view) => view !== null && [...view.values()].filter((status) => status === "alive").length === n);
  }, 90_000);
}

async function measureSerf(n: number, logDir: string, serfPath: string): Promise<Figures> {
  const cluster = await SerfCluster.start({ n, logDir, seedTimeoutMs: 20_000 }, serfPath);
  const streams: SerfStream[] = [];
  try {
    await waitAllAlive(cluster);
    const seen = new Map<string, number[]>();
    for (const port of cluster.rpcPorts) {
      const stream = await SerfStream.connect(port, 5_000);
      streams.push(stream);
      await stream.subscribe("bench", (body, at) => {
        const payload = new TextDecoder().decode(body.Payload as Uint8Array);
        seen.set(payload, [...(seen.get(payload) ?? []), at]);
      }, 5_000);
    }
    const figures: Figures = { event: [], eventMissed: [], query: [], queryAcks: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const payload = `e${round}`;
      const sentAt = performance.now();
      await streams[round % n]!.event("bench", payload, 5_000);
      await recordDelivery(figures, () => seen.get(payload), n, sentAt);
      // The first ack of each member: the agent's RPC stream also sends empty acks (no From) once
      // the query's ack channel has closed.
      const acks = new Map<string, number>();
      let done = false;
      const querySentAt = performance.now();
      await streams[round % n]!.query("bench", 2e9, (record, at) => {
        const from = typeof record.From === "string" ? record.From : "";
        if (record.Type === "ack" && from !== "" && !acks.has(from)) acks.set(from, at);
        if (record.Type === "done") done = true;
      }, 5_000);
      await waitUntil(`serf query ${round} to finish`, () => done);
      recordAcks(figures, [...acks.values()], n, querySentAt);
      await Bun.sleep(50);
    }
    return figures;
  } finally {
    for (const stream of streams) stream.close();
    await cluster.close();
  }
}

async function measureGoferBroke(n: number, logDir: string): Promise<Figures> {
  const cluster = await GoferBrokeCluster.start({ n, logDir, seedTimeoutMs: 20_000 }, BINARY, [], baseEnv());
  try {
    await waitAllAlive(cluster);
    const seen = new Map<string, number[]>();
    const close = await cluster.openEventStreams((_, event, at) => {
      if (event.type !== "user-event" || event.name !== "bench") return;
      const payload = Buffer.from(String(event.payload), "base64").toString("utf8");
      seen.set(payload, [...(seen.get(payload) ?? []), at]);
    }, 10_000);
    const figures: Figures = { event: [], eventMissed: [], query: [], queryAcks: [], applied: [] };
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const origin = round % n;
        const payload = `e${round}`;
        const sentAt = performance.now();
        const posted = await fetch(cluster.url(origin, "/v1/user-events/bench"), { method: "POST", body: payload, signal: AbortSignal.timeout(5_000) });
        if (!posted.ok) throw new Error(`POST /v1/user-events answered ${posted.status}: ${await posted.text()}`);
        await recordDelivery(figures, () => seen.get(payload), n, sentAt);

        const querySentAt = performance.now();
        const response = await fetch(cluster.url(origin, "/v1/queries/bench?ack=true&timeout=2s"), { method: "POST", body: "", signal: AbortSignal.timeout(5_000) });
        if (!response.ok || !response.body) throw new Error(`POST /v1/queries answered ${response.status}: ${await response.text()}`);
        const acks: number[] = [];
        let buffered = "";
        for await (const chunk of response.body) {
          const at = performance.now();
          buffered += new TextDecoder().decode(chunk);
          const lines = buffered.split("\n");
          buffered = lines.pop()!;
          for (const line of lines) if (line.includes('"type":"ack"')) acks.push(at);
        }
        recordAcks(figures, acks, n, querySentAt);

        const putAt = performance.now();
        const put = await fetch(cluster.url(origin, "/v1/keys/bench/k?wait=10s"), { method: "PUT", body: payload, signal: AbortSignal.timeout(15_000) });
        const answer = (await put.json()) as { wait?: { applied: boolean } };
        if (put.status !== 200 || !answer.wait?.applied) throw new Error(`PUT ?wait= answered ${put.status}: ${JSON.stringify(answer)}`);
        figures.applied!.push(performance.now() - putAt);
        await Bun.sleep(50);
      }
    } finally {
      close();
    }
    return figures;
  } finally {
    await cluster.close();
  }
}

/** The time to the last ack when all n acked (else counted only in the ack counts). */
function recordAcks(figures: Figures, acks: number[], n: number, sentAt: number): void {
  figures.queryAcks!.push(acks.length);
  if (acks.length >= n) figures.query!.push(Math.max(...acks) - sentAt);
}

const ms = (value: number | undefined) => (value === undefined ? "–" : `${value.toFixed(1)} ms`);
const p = (values: number[] | undefined, q: number) => (values && values.length > 0 ? quantile(values, q) : undefined);

const serfPath = Bun.which("serf");
if (!serfPath) {
  console.error("bus-vs-serf: serf is not on PATH (Debian/Ubuntu: apt-get install serf)");
  process.exit(2);
}
if (!existsSync(BINARY)) {
  log("building dist/goferbroke");
  if (Bun.spawnSync([process.execPath, "run", "build", "--", "--host-only"], { cwd: repoRoot, stdout: "inherit", stderr: "inherit" }).exitCode !== 0) process.exit(1);
}
const logRoot = mkdtempSync(join(tmpdir(), "bus-vs-serf-"));
let failed = false;
const rows: string[] = [];
try {
  const loadBefore = loadAverage();
  for (const n of NODE_COUNTS) {
    log(`N = ${n}: Serf`);
    const serf = await measureSerf(n, logRoot, serfPath);
    log(`N = ${n}: GoferBroke`);
    const gb = await measureGoferBroke(n, logRoot);
    const ackCounts = (figures: Figures) => `${Math.min(...figures.queryAcks!)}-${Math.max(...figures.queryAcks!)}`;
    const missed = (figures: Figures) => `${figures.eventMissed!.length} of ${ROUNDS}`;
    rows.push(
      `| ${n} | event to all (not on all within 10 s: Serf ${missed(serf)}, GoferBroke ${missed(gb)}) | ${ms(p(serf.event, 0.5))} | ${ms(p(serf.event, 0.99))} | ${ms(p(gb.event, 0.5))} | ${ms(p(gb.event, 0.99))} |`,
      `| ${n} | query, all acks (acks per query: Serf ${ackCounts(serf)}, GoferBroke ${ackCounts(gb)}) | ${ms(p(serf.query, 0.5))} | ${ms(p(serf.query, 0.99))} | ${ms(p(gb.query, 0.5))} | ${ms(p(gb.query, 0.99))} |`,
      `| ${n} | applied everywhere (\`PUT ?wait=\`) | – | – | ${ms(p(gb.applied, 0.5))} | ${ms(p(gb.applied, 0.99))} |`,
    );
    for (const row of rows.slice(-3)) log(row);
  }
  const section = [
    SECTION,
    "",
    `Measured with \`bun run bench:serf:bus -- --nodes ${NODE_COUNTS.join(",")} --rounds ${ROUNDS}\` (scripts/bench/bus-vs-serf.ts), ${new Date().toISOString().slice(0, 10)}:`,
    `${machineLine()}; load average before ${formatLoad(loadBefore)}, after ${formatLoad(loadAverage())}. One run, ${ROUNDS} rounds per figure, origin rotating;`,
    "Serf agents with `-profile=local`, GoferBroke nodes with default settings (1 s rounds), all on 127.0.0.1.",
    "",
    "| N | what | Serf p50 | Serf p99 | GoferBroke p50 | GoferBroke p99 |",
    "|--:|------|---------:|---------:|---------------:|---------------:|",
    ...rows,
    "",
    "- Event to all: from the send until the last member's stream raised it (Serf: RPC `stream` of user",
    "  events; GoferBroke: `/v1/events`). Query: from the send until the last ack reached the asker.",
    "  An event some member had not raised within 10 s is counted as not on all and left out of the",
    "  percentiles (neither system replays user events); a query counts when every member acked.",
    "  Applied: the whole `PUT /v1/keys/…?wait=10s` request, answered once every live member holds the",
    "  write; Serf has no counterpart. The write itself travels at once (push), but members confirm",
    "  holding it in their digests, which ride on the gossip rounds (1 s by default): their own rounds'",
    "  SYNs to the writer, and a SYN the writer adds each round for at most 8 members that have not",
    "  confirmed yet. So the figure is counted in rounds, and grows with N.",
    "- GoferBroke sends an event or a query straight to every live member over the TCP connections it",
    "  already holds (and each member forwards an event it sees first to 2 others); Serf gossips both",
    "  over UDP in its gossip rounds, with a limited number of retransmissions.",
    `- p99 of ${ROUNDS} rounds is close to the maximum; single runs on a shared 2-core machine, so read the`,
    "  tails as indications.",
  ].join("\n");
  console.log(`\n${section}`);
  if (!args["no-docs"]) {
    replaceDocSection(DOCS, SECTION, section);
    log(`wrote the "${SECTION}" section of ${DOCS}`);
  }
} catch (error) {
  failed = true;
  console.error(`bus-vs-serf: ${(error as Error).stack ?? error}`);
  console.error(`logs kept in ${logRoot}`);
} finally {
  await killAllChildren();
  if (!failed) rmSync(logRoot, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
