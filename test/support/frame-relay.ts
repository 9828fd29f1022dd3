// A TCP relay that forwards frames one by one and lets a test rewrite them on the way: flip a bit
// of a SEALED record, send one twice. It frames each direction with the codec's decoder and
// re-encodes each frame unchanged unless the rewrite says otherwise, so what arrives is exactly
// what an attacker on the path could have sent.

import type { Socket, TCPSocketListener } from "bun";
import { FrameDecoder, HEADER_BYTES, type Frame } from "../../src/codec/index.ts";

export type Direction = "toTarget" | "toClient";

/** Returns the bytes to forward for one frame (its encoding as received, possibly changed). */
export type Rewrite = (frame: Frame, bytes: Uint8Array, direction: Direction) => Uint8Array;

interface Pair {
  client: Socket<Pair>;
  upstream: Socket<Pair> | null;
  /** Bytes from the client before the upstream connection opened. */
  early: Uint8Array[];
  decoders: Record<Direction, FrameDecoder>;
}

export class FrameRelay {
  /** Every frame forwarded, per direction, as received (before any rewrite). */
  readonly seen: Record<Direction, Uint8Array[]> = { toTarget: [], toClient: [] };
  private readonly sockets = new Set<Socket<Pair>>();
  private listener: TCPSocketListener<Pair> | null = null;

  constructor(
    private readonly target: { host: string; port: number },
    public rewrite: Rewrite = (_frame, bytes) => bytes,
  ) {}

  start(): string {
    this.listener = Bun.listen<Pair>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        binaryType: "uint8array",
        open: (client) => this.accept(client),
        data: (client, chunk) => this.forward(client.data, "toTarget", chunk),
        close: (client) => void client.data.upstream?.end(),
      },
    });
    return `127.0.0.1:${this.listener.port}`;
  }

  stop(): void {
    for (const socket of this.sockets) socket.terminate();
    this.listener?.stop(true);
  }

  private accept(client: Socket<Pair>): void {
    const frameLimit = 16 * 1024 * 1024;
    const pair: Pair = { client, upstream: null, early: [], decoders: { toTarget: new FrameDecoder({ maxFrameBytes: frameLimit }), toClient: new FrameDecoder({ maxFrameBytes: frameLimit }) } };
    client.data = pair;
    this.sockets.add(client);
    void Bun.connect<Pair>({
      hostname: this.target.host,
      port: this.target.port,
      data: pair,
      socket: {
        binaryType: "uint8array",
        open: (upstream) => {
          this.sockets.add(upstream);
          pair.upstream = upstream;
          for (const bytes of pair.early.splice(0)) upstream.write(bytes);
        },
        data: (_upstream, chunk) => this.forward(pair, "toClient", chunk),
        close: () => void client.end(),
      },
    }).catch(() => client.terminate());
  }

  private forward(pair: Pair, direction: Direction, chunk: Uint8Array): void {
    pair.decoders[direction].push(chunk, (frame) => {
      const bytes = new Uint8Array(HEADER_BYTES + frame.body.length);
      const view = new DataView(bytes.buffer);
      view.setUint32(0, frame.body.length);
      view.setUint8(4, frame.version);
      view.setUint8(5, frame.type);
      view.setUint16(6, frame.flags);
      view.setUint32(8, frame.correlationId);
      bytes.set(frame.body, HEADER_BYTES);
      this.seen[direction].push(bytes);
      const out = this.rewrite(frame, bytes.slice(), direction);
      if (direction === "toClient") pair.client.write(out);
      else if (pair.upstream) pair.upstream.write(out);
      else pair.early.push(out);
    });
  }
}
