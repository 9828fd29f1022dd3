// The two systems under test behind one interface, so scripts/bench/vs-serf.ts runs exactly the
// same steps on both: start N members on 127.0.0.1, read each member's view of the membership,
// write a value on one member and read it on another, kill one member.
//
// - Serf: `serf agent -profile=local`, joined through the first agent; reads and writes through
//   the agent's RPC port (serf-rpc.ts), the protocol behind `serf members` and `serf tags`.
//   The value is a tag `bench=<value>` of the writing agent.
// - GoferBroke: the compiled binary; reads and writes through the client port (the HTTP API of
//   src/admin/README.md). The value is the writing node's entry `bench/k`.

import { join } from "node:path";
import { SerfRpc, type SerfMember } from "./serf-rpc.ts";
import { isRunning, killChild, reservePort, spawnChild, type Child } from "./serf-harness.ts";

/** A member's status, with Serf's `failed` written as `dead` so both systems compare directly. */
export type Status = "alive" | "suspect" | "dead" | "left" | "other";

export interface Cluster {
  readonly names: readonly string[];
  readonly members: readonly Child[];
  /** performance.now() right after the last process was spawned. */
  readonly lastStartedAt: number;
  /** Member i's view: name → status; null when it does not answer (yet) within timeoutMs. */
  view(i: number, timeoutMs: number): Promise<Map<string, Status> | null>;
  /** The value member i holds for `owner`'s benchmark key, or undefined (absent, or no answer). */
  readValue(i: number, owner: string, timeoutMs: number): Promise<string | undefined>;
  /**
   * Writes `value` on member i. Resolves once the request has left (a connection is opened first,
   * outside the timing): `sentAt` is performance.now() just before it was sent, and `done` settles
   * when member i has answered (for Serf: only after its broadcast finished, see serf-rpc.ts).
   */
  write(i: number, value: string): Promise<{ sentAt: number; done: Promise<void> }>;
  /** kill -9 of member i's process (by PID); returns performance.now() just before the signal. */
  kill(i: number): number;
  close(): Promise<void>;
}

export interface StartSettings {
  n: number;
  logDir: string;
  /** Bound on the seed becoming reachable before the others are started. */
  seedTimeoutMs: number;
}

/** A fixed, minimal environment: PATH and HOME only, plus what a variant adds. */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...extra };
}

const pad = (i: number) => String(i).padStart(2, "0");

async function pollUntil(what: string, condition: () => Promise<boolean>, timeoutMs: number, everyMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await condition()) return;
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// ---------------------------------------------------------------------------------------------
// Serf

export class SerfCluster implements Cluster {
  private readonly reads = new Map<number, SerfRpc>();
  private readonly writes = new Map<number, SerfRpc>();
  /** Reconnection attempts in flight, so concurrent polls do not open several connections. */
  private readonly connecting = new Map<string, Promise<SerfRpc | null>>();

  private constructor(
    readonly names: readonly string[],
    readonly members: readonly Child[],
    readonly rpcPorts: readonly number[],
    readonly lastStartedAt: number,
  ) {}

  static async start(settings: StartSettings, serfPath: string): Promise<SerfCluster> {
    const names = Array.from({ length: settings.n }, (_, i) => `serf-${pad(i)}`);
    const bindPorts: number[] = [];
    const rpcPorts: number[] = [];
    for (let i = 0; i < settings.n; i++) {
      bindPorts.push(await reservePort(true));
      rpcPorts.push(await reservePort(false));
    }
    const spawn = (i: number) => {
      const args = [
        serfPath,
        "agent",
        `-node=${names[i]}`,
        `-bind=127.0.0.1:${bindPorts[i]}`,
        `-rpc-addr=127.0.0.1:${rpcPorts[i]}`,
        "-profile=local",
        "-log-level=warn",
        // -retry-join, not -join: under 100 agents starting at once on 2 cores, a -join timed out
        // and the agent exited (Serf's own join failed, ending the run); GoferBroke redials its
        // seeds too. The retry comes after 1 s, not the default 30 s.
        ...(i === 0 ? [] : [`-retry-join=127.0.0.1:${bindPorts[0]}`, "-retry-interval=1s"]),
      ];
      return spawnChild(names[i]!, args, baseEnv(), join(settings.logDir, `${names[i]}.log`));
    };
    const members: Child[] = [spawn(0)];
    // The others join through the seed once it is up.
    await pollUntil(
      `${names[0]} to answer on its RPC port`,
      async () => {
        if (!isRunning(members[0]!)) throw new Error(`${names[0]} exited; see ${members[0]!.logPath}`);
        try {
          (await SerfRpc.connect("127.0.0.1", rpcPorts[0]!, 500)).close();
          return true;
        } catch {
          return false;
        }
      },
      settings.seedTimeoutMs,
      20,
    );
    for (let i = 1; i < settings.n; i++) members.push(spawn(i));
    return new SerfCluster(names, members, rpcPorts, performance.now());
  }

  private async connection(pool: Map<number, SerfRpc>, i: number, timeoutMs: number): Promise<SerfRpc | null> {
    const existing = pool.get(i);
    if (existing?.usable) return existing;
    const key = `${pool === this.reads ? "r" : "w"}${i}`;
    let attempt = this.connecting.get(key);
    if (!attempt) {
      attempt = SerfRpc.connect("127.0.0.1", this.rpcPorts[i]!, timeoutMs).then(
        (rpc) => (pool.set(i, rpc), rpc),
        () => null,
      );
      this.connecting.set(key, attempt);
      void attempt.then(() => this.connecting.delete(key));
    }
    return await attempt;
  }

  private async memberList(i: number, timeoutMs: number): Promise<SerfMember[] | null> {
    const rpc = await this.connection(this.reads, i, timeoutMs);
    if (!rpc) return null;
    try {
      return await rpc.members(timeoutMs);
    } catch {
      return null; // the connection is closed on failure; the next poll reconnects
    }
  }

  async view(i: number, timeoutMs: number): Promise<Map<string, Status> | null> {
    const list = await this.memberList(i, timeoutMs);
    if (!list) return null;
    const statuses = new Map<string, Status>();
    for (const member of list) {
      const status: Status =
        member.status === "alive" ? "alive" : member.status === "failed" ? "dead" : member.status === "left" || member.status === "leaving" ? "left" : "other";
      statuses.set(member.name, status);
    }
    return statuses;
  }

  async readValue(i: number, owner: string, timeoutMs: number): Promise<string | undefined> {
    const list = await this.memberList(i, timeoutMs);
    return list?.find((member) => member.name === owner)?.tags.bench;
  }

  async write(i: number, value: string): Promise<{ sentAt: number; done: Promise<void> }> {
    const rpc = await this.connection(this.writes, i, 2000);
    if (!rpc) throw new Error(`${this.names[i]}: no RPC connection for the write`);
    const sentAt = performance.now();
    return { sentAt, done: rpc.setTags({ bench: value }, 10_000) };
  }

  kill(i: number): number {
    const at = performance.now();
    this.members[i]!.process.kill("SIGKILL");
    return at;
  }

  async close(): Promise<void> {
    for (const rpc of [...this.reads.values(), ...this.writes.values()]) rpc.close();
    await Promise.all(this.members.map((member) => killChild(member)));
  }
}

// ---------------------------------------------------------------------------------------------
// GoferBroke

export class GoferBrokeCluster implements Cluster {
  private constructor(
    readonly names: readonly string[],
    readonly members: readonly Child[],
    readonly clientPorts: readonly number[],
    readonly lastStartedAt: number,
  ) {}

  /** `flags` and `env` are the variant's (e.g. --gossip-interval=200ms, BUN_OPTIONS=--smol). */
  static async start(settings: StartSettings, binary: string, flags: readonly string[], env: Record<string, string>): Promise<GoferBrokeCluster> {
    const names = Array.from({ length: settings.n }, (_, i) => `gb-${pad(i)}`);
    const nodePorts: number[] = [];
    const clientPorts: number[] = [];
    for (let i = 0; i < settings.n; i++) {
      nodePorts.push(await reservePort(false));
      clientPorts.push(await reservePort(false));
    }
    const spawn = (i: number) => {
      const args = [
        binary,
        `-name=${names[i]}`,
        `-nodeAddr=127.0.0.1:${nodePorts[i]}`,
        `-clientPort=${clientPorts[i]}`,
        "--log-level=warn",
        "--log-format=json",
        ...(i === 0 ? ["-mode=seed"] : [`-routes=127.0.0.1:${nodePorts[0]}`]),
        ...flags,
      ];
      return spawnChild(names[i]!, args, baseEnv(env), join(settings.logDir, `${names[i]}.log`));
    };
    const members: Child[] = [spawn(0)];
    // Started like Serf's agents: the seed first, the others once it answers.
    await pollUntil(
      `${names[0]} to answer /healthz`,
      async () => {
        if (!isRunning(members[0]!)) throw new Error(`${names[0]} exited; see ${members[0]!.logPath}`);
        try {
          return (await fetch(`http://127.0.0.1:${clientPorts[0]}/healthz`, { signal: AbortSignal.timeout(500) })).ok;
        } catch {
          return false;
        }
      },
      settings.seedTimeoutMs,
      20,
    );
    for (let i = 1; i < settings.n; i++) members.push(spawn(i));
    return new GoferBrokeCluster(names, members, clientPorts, performance.now());
  }

  url(i: number, route: string): string {
    return `http://127.0.0.1:${this.clientPorts[i]}${route}`;
  }

  async view(i: number, timeoutMs: number): Promise<Map<string, Status> | null> {
    try {
      const response = await fetch(this.url(i, "/v1/members"), { signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) return null;
      const rows = (await response.json()) as { name: string; state: string }[];
      const statuses = new Map<string, Status>();
      for (const row of rows) {
        const state = row.state;
        statuses.set(row.name, state === "alive" || state === "suspect" || state === "dead" || state === "left" ? state : "other");
      }
      return statuses;
    } catch {
      return null;
    }
  }

  async readValue(i: number, owner: string, timeoutMs: number): Promise<string | undefined> {
    try {
      const response = await fetch(this.url(i, `/v1/state/${encodeURIComponent(owner)}/bench/k`), { signal: AbortSignal.timeout(timeoutMs) });
      if (response.status !== 200) {
        await response.arrayBuffer(); // drain, so the kept-alive connection is reused
        return undefined;
      }
      const entry = (await response.json()) as { value?: unknown };
      return typeof entry.value === "string" ? entry.value : undefined;
    } catch {
      return undefined;
    }
  }

  async write(i: number, value: string): Promise<{ sentAt: number; done: Promise<void> }> {
    const sentAt = performance.now();
    const done = (async () => {
      const response = await fetch(this.url(i, "/v1/keys/bench/k"), { method: "PUT", body: value, signal: AbortSignal.timeout(10_000) });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`PUT on ${this.names[i]} answered ${response.status}: ${text}`);
    })();
    return { sentAt, done };
  }

  kill(i: number): number {
    const at = performance.now();
    this.members[i]!.process.kill("SIGKILL");
    return at;
  }

  /**
   * Opens /v1/events on every member and calls onEvent(member index, event, arrival time) for
   * each event; resolves once every stream has started. The returned function closes them.
   */
  async openEventStreams(onEvent: (i: number, event: Record<string, unknown>, arrivedAt: number) => void, timeoutMs: number): Promise<() => void> {
    const aborts: AbortController[] = [];
    const ready = this.members.map(async (_, i) => {
      const abort = new AbortController();
      aborts.push(abort);
      const response = await fetch(this.url(i, "/v1/events"), { signal: abort.signal });
      if (!response.ok || !response.body) throw new Error(`${this.names[i]} /v1/events answered ${response.status}`);
      const reader = response.body.getReader();
      const first = await reader.read(); // the stream's opening comment: the node is subscribed
      const decoder = new TextDecoder();
      let pending = "";
      const consume = (chunk: Uint8Array | undefined, arrivedAt: number) => {
        if (!chunk) return;
        pending += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, end);
          pending = pending.slice(end + 1);
          if (line.startsWith("data:")) onEvent(i, JSON.parse(line.slice(5)) as Record<string, unknown>, arrivedAt);
        }
      };
      consume(first.value, performance.now());
      void (async () => {
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            consume(value, performance.now());
          }
        } catch {
          // aborted by close(), or the node was killed
        }
      })();
    });
    const close = () => aborts.forEach((abort) => abort.abort());
    try {
      await Promise.race([Promise.all(ready), Bun.sleep(timeoutMs).then(() => Promise.reject(new Error("event streams did not open in time")))]);
    } catch (error) {
      close();
      throw error;
    }
    return close;
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((member) => killChild(member)));
  }
}
