// The hostile soak (issue #16): every attack of attacks.ts against one node of a 3-node cluster of
// the compiled binary, in plain, shared-secret and mTLS modes, while a legitimate writer writes.
// Per attack it reports the legitimate writes delivered (to the attacked node and the third one)
// and their worst delay, the attacked node's max RSS, max event-loop lag (its own
// goferbroke_event_loop_max_lag_seconds) and /healthz p99 latency, and whether SIGTERM afterwards
// still ends it with exit 0 within 5 s (it is restarted for the next attack).
// Bars: 100% of writes within 5 s; RSS <= 2x idle + insiders x (maxFrameBytes + 4 MiB) + 64 KiB;
// /healthz p99 < 200 ms; a clean SIGTERM. An attack that works on legitimate state it sets up
// first (an insider's 20,000 entries, for the state dumps) has idle measured once that is held.
//
//   bun run soak:hostile -- --minutes M       M minutes per mode, split evenly among the attacks
//   bun run soak:hostile -- --seconds S       S seconds per attack instead
//   --modes plain,secret,mtls   --only SUBSTRING   --no-docs   --build
//
// Exits 1 when an attack misses a bar. Writes its table into docs/BENCHMARKS.md under
// "## Hostile soak" unless --no-docs.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ensureHostBinary, hostBinary } from "../../test/support/binary.ts";
import { CertificateAuthorities, opensslPath, tlsFlags } from "../../test/support/certificates.ts";
import { killAll, putKey, restartNode, startCluster, stopNode, waitAllAlive, waitHealthy, type NodeProcess } from "../../test/support/node-processes.ts";
import { type Attack, ATTACKS, type AttackTarget, HTTP_ATTACKS, type Mode } from "./attacks.ts";
import { closeAllPeers } from "./hostile-peer.ts";
import { machineLine, writeBenchmarkSection } from "./report.ts";


const CLUSTER = "soak";
const NAMES = ["soak-seed", "soak-writer", "soak-target"] as const;
const WRITE_EVERY_MS = 200;
const DELIVERY_BAR_MS = 5_000;
const HEALTHZ_BAR_MS = 200;
const MAX_FRAME_BYTES = 1024 * 1024;
const PER_INSIDER_BYTES = MAX_FRAME_BYTES + 4 * 1024 * 1024;
const UNAUTHENTICATED_BYTES = 16 * 4 * 1024;
const BINARY = hostBinary;
const NODE_ENV = { MIMALLOC_PURGE_DELAY: "-1" };
/** After an attack's prepare(): what it sent is applied and the target at rest before idle is measured again. */
const PREPARE_SETTLE_MS = 3_000;

export interface AttackResult {
  mode: Mode;
  attack: string;
  writes: number;
  delivered: number;
  maxDelayMs: number;
  maxRssMiB: number;
  rssBoundMiB: number;
  /** For an attack with prepared state: the target's idle RSS once it held it (the bound's "idle"). */
  preparedIdleMiB?: number;
  maxLagMs: number;
  healthzP99Ms: number;
  sigtermClean: boolean;
  /** The attack's own error, if it broke (then it did not run its course, and the row fails). */
  failure: string;
  passed: boolean;
  /** Whether each bar held: delivery, memory, healthz, SIGTERM. */
  bars: { delivery: boolean; memory: boolean; healthz: boolean; sigterm: boolean };
}

// ---- measurements ----

function rssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Polls the attacked node: /healthz every 100 ms, RSS and event-loop lag every 500 ms. */
class Sampler {
  readonly healthz: number[] = [];
  maxRss = 0;
  maxLagMs = 0;
  private running = true;
  private readonly done: Promise<void>;

  constructor(private readonly node: NodeProcess) {
    this.done = Promise.all([this.pollHealth(), this.pollProcess()]).then(() => {});
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  p99(): number {
    const sorted = [...this.healthz].sort((a, b) => a - b);
    return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
  }

  private async pollHealth(): Promise<void> {
    while (this.running) {
      const started = performance.now();
      try {
        await fetch(`http://127.0.0.1:${this.node.clientPort}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.arrayBuffer());
        this.healthz.push(performance.now() - started);
      } catch {
        this.healthz.push(2_000); // no answer within 2 s counts as 2 s
      }
      await Bun.sleep(Math.max(0, 100 - (performance.now() - started)));
    }
  }

  private async pollProcess(): Promise<void> {
    while (this.running) {
      this.maxRss = Math.max(this.maxRss, rssBytes(this.node.process.pid));
      try {
        const text = await fetch(`http://127.0.0.1:${this.node.clientPort}/metrics`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text());
        const lag = /^goferbroke_event_loop_max_lag_seconds (\S+)$/m.exec(text);
        if (lag) this.maxLagMs = Math.max(this.maxLagMs, Number(lag[1]) * 1000);
      } catch {
        // counted by the healthz poll
      }
      await Bun.sleep(500);
    }
  }
}

/**
 * The legitimate writer: a PUT on the writer node every WRITE_EVERY_MS, and the arrival of each
 * write on the other two nodes, seen by polling GET /v1/state/{writer}/soak/{key} every 50 ms
 * for the writes not arrived yet. (Not from /v1/events: an attack that makes a node raise 100,000
 * events makes this process a slow event-stream client, which the node rightly cuts off.)
 */
class Writer {
  private readonly sentAt = new Map<string, number>();
  private readonly arrivals = new Map<string, Map<string, number>>();
  private readonly watched = new Map<string, NodeProcess>();
  private running = true;
  private sequence = 0;
  private readonly done: Promise<void>;

  constructor(private readonly writer: NodeProcess, watched: readonly NodeProcess[]) {
    for (const node of watched) this.watch(node);
    this.done = Promise.all([this.loop(), this.poll()]).then(() => {});
  }

  /** Watches `node` for the writes (again, after a restart: same name, new process). */
  watch(node: NodeProcess): void {
    this.watched.set(node.name, node);
    if (!this.arrivals.has(node.name)) this.arrivals.set(node.name, new Map());
  }

  /** Writes sent in [from, to): how many, how many arrived everywhere within the bar, the worst delay. */
  tally(from: number, to: number): { writes: number; delivered: number; maxDelayMs: number } {
    let writes = 0;
    let delivered = 0;
    let maxDelayMs = 0;
    for (const [key, sent] of this.sentAt) {
      if (sent < from || sent >= to) continue;
      writes++;
      let worst = 0;
      for (const seen of this.arrivals.values()) worst = Math.max(worst, (seen.get(key) ?? Infinity) - sent);
      if (worst <= DELIVERY_BAR_MS) delivered++;
      maxDelayMs = Math.max(maxDelayMs, worst);
    }
    return { writes, delivered, maxDelayMs };
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  private async poll(): Promise<void> {
    while (this.running) {
      const started = performance.now();
      await Promise.all([...this.watched.values()].map(async (node) => {
        const seen = this.arrivals.get(node.name)!;
        for (const [key, sent] of this.sentAt) {
          if (seen.has(key) || started - sent > 2 * DELIVERY_BAR_MS) continue; // arrived, or missed for good
          const found = await fetch(`http://127.0.0.1:${node.clientPort}/v1/state/${this.writer.name}/soak/${key}`, { signal: AbortSignal.timeout(2_000) })
            .then(async (response) => (await response.arrayBuffer(), response.ok), () => false);
          if (found) seen.set(key, performance.now());
        }
      }));
      await Bun.sleep(Math.max(0, 50 - (performance.now() - started)));
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const key = `w${++this.sequence}`;
      const sent = performance.now();
      this.sentAt.set(key, sent);
      await putKey(this.writer, "soak", key, String(sent)).catch(() => this.sentAt.delete(key)); // a refused PUT is the writer's failure, not a lost write
      await Bun.sleep(Math.max(0, WRITE_EVERY_MS - (performance.now() - sent)));
    }
  }
}

// ---- one mode ----

interface ModeSetup {
  flags(name: string): string[];
  target: Omit<AttackTarget, "nodePort" | "clientPort">;
  cleanup(): void;
}

function setUp(mode: Mode): ModeSetup {
  if (mode === "plain") return { flags: () => [`--cluster-name=${CLUSTER}`], target: { mode, clusterName: CLUSTER }, cleanup() {} };
  if (mode === "secret") {
    const dir = mkdtempSync(join(tmpdir(), "goferbroke-soak-"));
    const secret = "soak secret of the cluster";
    writeFileSync(join(dir, "secret"), secret);
    return { flags: () => [`--cluster-name=${CLUSTER}`, `--secret-file=${join(dir, "secret")}`], target: { mode, clusterName: CLUSTER, secret }, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }
  if (!opensslPath) throw new Error("mTLS mode needs openssl on PATH");
  const authorities = new CertificateAuthorities(opensslPath);
  const certificates = new Map(NAMES.map((name) => [name, authorities.nodeCertificate(name, "cluster-ca")]));
  const files = (c: { caFile: string; certFile: string; keyFile: string }) => ({ ca: c.caFile, cert: c.certFile, key: c.keyFile });
  return {
    flags: (name) => [`--cluster-name=${CLUSTER}`, ...tlsFlags(certificates.get(name as (typeof NAMES)[number])!)],
    target: {
      mode,
      clusterName: CLUSTER,
      insiderTls: files(authorities.nodeCertificate("mallory", "cluster-ca")),
      foreignTls: files(authorities.nodeCertificate("mallory", "other-ca", "cluster-ca")),
    },
    cleanup: () => authorities.remove(),
  };
}

/** A 3-node cluster of the binary in one mode, with the writer running: attacks run one at a time on its target. */
export class SoakCluster {
  private setup: ModeSetup;
  private nodes: NodeProcess[] = [];
  private writer: Writer | null = null;
  private idleRss = 0;

  constructor(readonly mode: Mode) {
    this.setup = setUp(mode);
  }

  /** Starts the nodes and the writer; returns the target's idle RSS in bytes. */
  async start(): Promise<number> {
    this.nodes = await startCluster({ names: NAMES, command: [BINARY], flags: this.setup.flags, env: NODE_ENV, gossipIntervalMs: 200, timeoutMs: 30_000 });
    await Bun.sleep(3_000); // joins and first exchanges settle before idle is measured
    this.idleRss = rssBytes(this.nodes[2]!.process.pid);
    this.writer = new Writer(this.nodes[1]!, [this.nodes[0]!, this.nodes[2]!]);
    return this.idleRss;
  }

  /** Runs one attack for `attackMs` against the target, measures, SIGTERMs the target and starts it again. */
  async attack(attack: Attack, attackMs: number): Promise<AttackResult> {
    const target = this.nodes[2]!;
    const writer = this.writer!;
    const targetInfo = { ...this.setup.target, nodePort: target.nodePort, clientPort: target.clientPort };
    const release = await attack.prepare?.(targetInfo);
    if (release) await Bun.sleep(PREPARE_SETTLE_MS);
    const idleRss = release ? rssBytes(target.process.pid) : this.idleRss;
    const sampler = new Sampler(target);
    const from = performance.now();
    const deadline = from + attackMs;
    let failure = "";
    await attack.run(targetInfo, deadline).catch((error) => void (failure = (error as Error).message));
    release?.();
    closeAllPeers();
    const to = Math.max(deadline, performance.now());
    // The last writes of the window get their 5 s (no longer: later ones count as missed).
    const settled = performance.now() + DELIVERY_BAR_MS + 500;
    while (performance.now() < settled && writer.tally(from, to).delivered < writer.tally(from, to).writes) await Bun.sleep(100);
    await sampler.stop();
    const tally = writer.tally(from, to);
    const exitCode = await stopNode(target, "SIGTERM", 5_000);
    const rssBound = 2 * idleRss + attack.insiders * PER_INSIDER_BYTES + UNAUTHENTICATED_BYTES;
    const bars = {
      delivery: tally.writes > 0 && tally.delivered === tally.writes,
      memory: sampler.maxRss <= rssBound,
      healthz: sampler.p99() < HEALTHZ_BAR_MS,
      sigterm: exitCode === 0,
    };
    return {
      mode: this.mode, attack: attack.name, ...tally, failure,
      maxRssMiB: sampler.maxRss / 2 ** 20, rssBoundMiB: rssBound / 2 ** 20, ...(release ? { preparedIdleMiB: idleRss / 2 ** 20 } : {}), maxLagMs: sampler.maxLagMs, healthzP99Ms: sampler.p99(),
      sigtermClean: bars.sigterm, bars, passed: failure === "" && Object.values(bars).every(Boolean),
    };
  }

  /** Starts the target again after attack() stopped it, and waits until the three see each other alive. */
  async restartTarget(): Promise<void> {
    const [seed, writerNode] = this.nodes as [NodeProcess, NodeProcess];
    const target = await restartNode(this.nodes[2]!);
    this.nodes[2] = target;
    await waitHealthy(target, 20_000);
    await waitAllAlive([seed, writerNode, target], NAMES, 30_000);
    this.writer!.watch(target);
  }

  async stop(): Promise<void> {
    closeAllPeers();
    await this.writer?.stop();
    await killAll();
    this.setup.cleanup();
  }
}

/**
 * Runs the attacks one after another. After an attack that missed a bar, the next one gets a fresh
 * cluster: what the last one left behind (a wedged node, members it planted) must not count
 * against it.
 */
async function runMode(mode: Mode, attacks: readonly Attack[], attackMs: number): Promise<AttackResult[]> {
  const results: AttackResult[] = [];
  let cluster: SoakCluster | null = null;
  try {
    for (const attack of attacks) {
      if (!cluster) {
        cluster = new SoakCluster(mode);
        const idle = await cluster.start();
        console.log(`${mode}: cluster up, target idle RSS ${(idle / 2 ** 20).toFixed(1)} MiB`);
      }
      const result = await cluster.attack(attack, attackMs);
      results.push(result);
      console.log(`  ${row(result)}${result.failure ? ` (the attack itself failed: ${result.failure})` : ""}`);
      const recovered = result.passed && (await cluster.restartTarget().then(() => true, () => false));
      if (!recovered) {
        await cluster.stop();
        cluster = null;
      }
    }
  } finally {
    await cluster?.stop();
  }
  return results;
}

// ---- report ----

export const TABLE_HEADER = [
  "| mode | attack | writes delivered ≤ 5 s | max delay | max RSS (bound) | max loop lag | /healthz p99 | SIGTERM | bars |",
  "|---|---|---|---|---|---|---|---|---|",
];

export function row(r: AttackResult): string {
  const missed = Object.entries(r.bars).filter(([, ok]) => !ok).map(([bar]) => bar);
  return `| ${r.mode} | ${r.attack} | ${r.delivered}/${r.writes} | ${Number.isFinite(r.maxDelayMs) ? `${Math.round(r.maxDelayMs)} ms` : "never"} | ${r.maxRssMiB.toFixed(0)} MiB (${r.rssBoundMiB.toFixed(0)}${r.preparedIdleMiB === undefined ? "" : `; idle ${r.preparedIdleMiB.toFixed(0)} with its state`}) | ${Math.round(r.maxLagMs)} ms | ${Math.round(r.healthzP99Ms)} ms | ${r.sigtermClean ? "exit 0" : "NOT clean"} | ${missed.length === 0 ? "met" : `missed: ${missed.join(", ")}`} |`;
}

/** How the soak measures, written above its table in docs/BENCHMARKS.md. */
const METHOD = [
  "Each attack (scripts/bench/attacks.ts) runs against one node of a 3-node cluster of dist/goferbroke while a writer PUTs a",
  "key every 200 ms on another node; delivery counts the writes seen (GET /v1/state, polled every 50 ms) on the attacked",
  "node and the third one within 5 s. RSS, event-loop lag (goferbroke_event_loop_max_lag_seconds) and /healthz (polled every",
  "100 ms; no answer in 2 s counts as 2 s) are the attacked node's; it then gets SIGTERM (exit 0 within 5 s) and is started",
  "again. Bars: every write within 5 s; RSS <= 2x idle + authenticated attacker connections x (maxFrameBytes + 4 MiB) +",
  "64 KiB (README, \"Memory per connection\"); /healthz p99 < 200 ms; SIGTERM clean. An attack that works on legitimate",
  "state it sets up first (the state dumps: an insider's 20,000 entries, within maxEntriesPerNode) has idle measured once",
  "that state is held, shown beside the bound. After a row that missed a bar, the next attack gets a fresh cluster. In the",
  "secret and mTLS modes the attacks that need a handshake are run by an insider (the secret, a certificate of the cluster",
  "CA); \"wrong secret / CA\" uses a guessed secret, and in mTLS a certificate of another CA. Poison writes are not in the",
  "soak: they are module-level, and covered by the tests. The short version runs in CI: test/soak-hostile.test.ts (plain",
  "mode, ~1 s per attack, about 60 s).",
];

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      minutes: { type: "string" },
      seconds: { type: "string" },
      modes: { type: "string", default: "plain,secret,mtls" },
      only: { type: "string" },
      build: { type: "boolean", default: false },
      "no-docs": { type: "boolean", default: false },
    },
    strict: true,
  });
  const modes = args.modes.split(",") as Mode[];
  for (const mode of modes) if (!["plain", "secret", "mtls"].includes(mode)) throw new Error(`--modes: unknown mode ${mode}`);
  const attacks = [...ATTACKS, ...HTTP_ATTACKS].filter((attack) => args.only === undefined || attack.name.includes(args.only));
  if (attacks.length === 0) throw new Error(`--only ${args.only}: no attack matches`);
  const attackMs = args.seconds !== undefined ? Number(args.seconds) * 1000 : (Number(args.minutes ?? "1") * 60_000) / attacks.length;
  if (!(attackMs >= 1000)) throw new Error("each attack needs at least 1 s: raise --minutes or --seconds");
  await ensureHostBinary(args.build);
  const results: AttackResult[] = [];
  for (const mode of modes) results.push(...(await runMode(mode, attacks, attackMs)));
  const table = [...TABLE_HEADER, ...results.map(row)].join("\n");
  console.log(`\n${table}`);
  if (!args["no-docs"]) {
    const command = `bun run soak:hostile -- ${args.seconds !== undefined ? `--seconds ${args.seconds}` : `--minutes ${args.minutes ?? "1"}`} --modes ${modes.join(",")}`;
    writeBenchmarkSection([
      "## Hostile soak",
      "",
      `\`${command}\` (${(attackMs / 1000).toFixed(0)} s per attack). ${machineLine()}`,
      "",
      ...METHOD,
      "",
      table,
    ].join("\n"));
  }
  process.exitCode = results.every((r) => r.passed) ? 0 : 1;
}

if (import.meta.main) await main();
