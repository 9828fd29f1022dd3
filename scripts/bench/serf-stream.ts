// The streaming half of Serf's RPC protocol (serf-rpc.ts has the request/answer half), for the
// control-bus benchmark: `stream` (the user events an agent raises, as `serf monitor` and event
// handlers see them), `event` (`serf event`) and `query` (`serf query`). A streamed request is
// answered by a header {Seq, Error}, then by any number of records, each a header with the
// request's Seq followed by a body; records of several requests interleave, so they are routed by
// Seq (hashicorp/serf cmd/serf/command/agent/ipc.go, ipc_event_stream.go, ipc_query_response_stream.go).

import type { Socket } from "node:net";
import { Incomplete, concatBytes, decode, encode, type MsgValue } from "./serf-msgpack.ts";
import { connectSocket } from "./serf-rpc.ts";

type Record_ = { [key: string]: MsgValue };

interface Request {
  /** Called once with the first header (the request's answer): its Error, "" when accepted. */
  answered: (error: string) => void;
  /** For streamed requests: called with each record's body. Absent: no records follow. */
  onRecord?: (body: Record_, arrivedAt: number) => void;
  gotAnswer: boolean;
}

export class SerfStream {
  private buffer = new Uint8Array(0);
  private readonly requests = new Map<number, Request>();
  private seq = 0;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", () => socket.destroy());
  }

  static async connect(port: number, timeoutMs: number): Promise<SerfStream> {
    const stream = new SerfStream(await connectSocket("127.0.0.1", port, timeoutMs));
    await stream.send("handshake", { Version: 1 }, timeoutMs);
    return stream;
  }

  /** Subscribes to the user events named `name`; onEvent gets each with its arrival time. */
  async subscribe(name: string, onEvent: (body: Record_, arrivedAt: number) => void, timeoutMs: number): Promise<void> {
    await this.send("stream", { Type: `user:${name}` }, timeoutMs, onEvent);
  }

  /** `serf event NAME PAYLOAD`: resolves once the agent accepted it. */
  async event(name: string, payload: string, timeoutMs: number): Promise<void> {
    await this.send("event", { Name: name, Payload: new TextEncoder().encode(payload), Coalesce: false }, timeoutMs);
  }

  /** `serf query -ack`: onRecord gets each {Type: ack|response|done, From, Payload}. */
  async query(name: string, timeoutNs: number, onRecord: (body: Record_, arrivedAt: number) => void, timeoutMs: number): Promise<void> {
    await this.send("query", { FilterNodes: [], FilterTags: {}, RequestAck: true, Timeout: timeoutNs, Name: name, Payload: new Uint8Array(0) }, timeoutMs, onRecord);
  }

  close(): void {
    this.socket.destroy();
  }

  private send(command: string, body: MsgValue, timeoutMs: number, onRecord?: Request["onRecord"]): Promise<void> {
    const seq = this.seq++;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${command} was not answered within ${timeoutMs} ms`)), timeoutMs);
      const answered = (error: string) => {
        clearTimeout(timer);
        if (error === "") resolve();
        else reject(new Error(`${command}: ${error}`));
      };
      this.requests.set(seq, { answered, gotAnswer: false, ...(onRecord ? { onRecord } : {}) });
      this.socket.write(Buffer.concat([encode({ Command: command, Seq: seq }), encode(body)]));
    });
  }

  private onData(chunk: Buffer): void {
    const arrivedAt = performance.now();
    this.buffer = concatBytes(this.buffer, chunk);
    let offset = 0;
    try {
      while (offset < this.buffer.length) {
        const header = decode(this.buffer, offset);
        const { Seq, Error: error } = header.value as { Seq?: unknown; Error?: unknown };
        const request = this.requests.get(Number(Seq));
        if (!request || !request.gotAnswer) {
          offset = header.next;
          if (!request) continue;
          request.gotAnswer = true;
          request.answered(typeof error === "string" ? error : "");
          if (!request.onRecord) this.requests.delete(Number(Seq));
          continue;
        }
        const body = decode(this.buffer, header.next); // header and body are taken together
        offset = body.next;
        request.onRecord?.(body.value as Record_, arrivedAt);
      }
    } catch (error) {
      if (!(error instanceof Incomplete)) throw error;
    }
    this.buffer = this.buffer.slice(offset);
  }
}
