// A minimal client of the Serf agent's RPC protocol (msgpack over TCP, the `-rpc-addr` port): the
// same requests `serf members -format=json` and `serf tags -set k=v` send, on one long-lived
// connection per agent. The benchmark speaks the protocol itself instead of running the CLI for
// every read, because a process start per poll (about 10 ms of CPU for a Go binary) on 30 agents
// every 20 ms would load the 2-core machine far more than the systems under test; GoferBroke is
// read over kept-alive HTTP, so both are read through one request per member per poll.
//
// Protocol (hashicorp/serf cmd/serf/command/agent/ipc.go): every request is a msgpack header map
// {Command, Seq} followed, for commands that take one, by a body map; every response is a header
// {Seq, Error} followed, for commands that return one, by a body. The agent serves a connection's
// requests one at a time, in order, so responses arrive in request order. `tags` answers only once
// memberlist has finished broadcasting the change (UpdateNode waits for it): a write must use a
// connection of its own, or it would hold up the reads queued behind it.

import { Socket } from "node:net";
import { Incomplete, concatBytes, decode, encode, type MsgValue } from "./serf-msgpack.ts";

export interface SerfMember {
  name: string;
  /** alive, leaving, left or failed (serf.MemberStatus). */
  status: string;
  tags: Record<string, string>;
}

interface Pending {
  seq: number;
  command: string;
  /** Whether a body follows a successful response header. */
  hasBody: boolean;
  header: { Seq: number; Error: string } | null;
  resolve: (body: MsgValue) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class SerfRpc {
  private buffer = new Uint8Array(0);
  private readonly queue: Pending[] = [];
  private seq = 0;
  private broken: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (error) => this.fail(error));
    socket.on("close", () => this.fail(new Error("connection closed")));
  }

  /** Connects and performs the protocol handshake; rejects if either does not finish in time. */
  static async connect(host: string, port: number, timeoutMs: number): Promise<SerfRpc> {
    const rpc = new SerfRpc(await connectSocket(host, port, timeoutMs));
    try {
      await rpc.request("handshake", { Version: 1 }, false, timeoutMs);
    } catch (error) {
      rpc.close();
      throw error;
    }
    return rpc;
  }

  get usable(): boolean {
    return this.broken === null;
  }

  async members(timeoutMs: number): Promise<SerfMember[]> {
    const body = await this.request("members", undefined, true, timeoutMs);
    const list = (body as { Members?: unknown } | null)?.Members;
    if (!Array.isArray(list)) throw new Error("members: no Members array in the response");
    return list.map((raw) => {
      const row = raw as { Name?: unknown; Status?: unknown; Tags?: unknown };
      const tags: Record<string, string> = {};
      if (row.Tags && typeof row.Tags === "object") {
        for (const [key, value] of Object.entries(row.Tags as Record<string, unknown>)) tags[key] = String(value);
      }
      return { name: String(row.Name), status: String(row.Status), tags };
    });
  }

  /** `serf tags -set key=value`: resolves when the agent answers, which is after its broadcast. */
  async setTags(tags: Record<string, string>, timeoutMs: number): Promise<void> {
    await this.request("tags", { Tags: tags, DeleteTags: [] }, false, timeoutMs);
  }

  close(): void {
    this.fail(new Error("closed by the benchmark"));
    this.socket.destroy();
  }

  private request(command: string, body: MsgValue | undefined, hasBody: boolean, timeoutMs: number): Promise<MsgValue> {
    if (this.broken) return Promise.reject(this.broken);
    const seq = this.seq++;
    return new Promise<MsgValue>((resolve, reject) => {
      // A late answer would be taken for the next request's: a timeout ends the connection.
      const timer = setTimeout(() => this.fail(new Error(`${command} timed out after ${timeoutMs} ms`)), timeoutMs);
      this.queue.push({ seq, command, hasBody, header: null, resolve, reject, timer });
      const header = encode({ Command: command, Seq: seq });
      this.socket.write(body === undefined ? header : Buffer.concat([header, encode(body)]));
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = concatBytes(this.buffer, chunk);
    let offset = 0;
    try {
      for (;;) {
        const head = this.queue[0];
        if (!head || offset >= this.buffer.length) break;
        const { value, next } = decode(this.buffer, offset);
        if (head.header === null) {
          const header = value as { Seq?: unknown; Error?: unknown };
          if (Number(header.Seq) !== head.seq) throw new Error(`response for seq ${String(header.Seq)}, expected ${head.seq}`);
          head.header = { Seq: Number(header.Seq), Error: typeof header.Error === "string" ? header.Error : "" };
          offset = next;
          if (head.header.Error !== "") this.settle(head, new Error(`${head.command}: ${head.header.Error}`));
          else if (!head.hasBody) this.settle(head, null);
        } else {
          offset = next;
          this.settle(head, value);
        }
      }
    } catch (error) {
      if (!(error instanceof Incomplete)) return this.fail(error as Error);
    }
    this.buffer = this.buffer.slice(offset);
  }

  private settle(pending: Pending, outcome: MsgValue | Error): void {
    this.queue.shift();
    clearTimeout(pending.timer);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  private fail(error: Error): void {
    if (!this.broken) this.broken = error;
    for (const pending of this.queue.splice(0)) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.socket.destroy();
  }
}

/** A TCP connection to an agent's RPC port; rejects when it is not open within timeoutMs. */
export async function connectSocket(host: string, port: number, timeoutMs: number): Promise<Socket> {
  const socket = new Socket();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => (socket.destroy(), reject(new Error(`connect to ${host}:${port} timed out`))), timeoutMs);
    socket.once("error", (error) => (clearTimeout(timer), reject(error)));
    socket.connect(port, host, () => (clearTimeout(timer), resolve()));
  });
  return socket;
}
