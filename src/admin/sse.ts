// GET /v1/events: the node's events as server-sent events, one `data:` line of JSON per event
// (with its `type`; bigints as strings, bytes as base64, see json.ts), and a comment line every
// heartbeat so proxies and clients see the stream is alive.
//
// The hub subscribes to the node only while someone listens, serializes each event once for all
// clients, and never lets a client cost unbounded memory: each client has a queue capped in bytes,
// filled by the node's events and drained only as fast as its socket takes them (a pull stream,
// which Bun reads only when the socket can accept more). A client whose queue overflows is cut
// off; EventSource reconnects by itself. Gossip never waits for a client.
//
// With a backlog (backlogEvents > 0), the hub listens from the start and keeps the latest events,
// already serialized and capped in count and bytes, so a client that asks (?backlog=N) first gets
// what happened before it connected: a dashboard opened after a node died still shows it. Then it
// serializes every event even while nobody listens, which costs a few microseconds per event.

import type { GossipEvent } from "../events.ts";
import { HttpError } from "./http.ts";
import { toJson } from "./json.ts";

export interface EventStreamSettings {
  heartbeatMs: number;
  /** Bytes a client may have waiting before it is cut off as too slow. */
  maxQueuedBytes: number;
  maxClients: number;
  /** Latest events kept for ?backlog=N (0: none kept, and the hub listens only while clients do). */
  backlogEvents?: number;
  /** Bytes the kept events may take, serialized. */
  backlogBytes?: number;
}

// - maxQueuedBytes 1 MiB: sixteen maximum-size values (64 KiB), or thousands of ordinary events,
//   on top of what the kernel's socket buffer already holds; a reader that far behind is gone.
// - maxClients 64: a dashboard or two and a few tools; each client costs a copy per event.
// - backlog 100 events in at most 256 KiB: a screenful of recent history; a burst of large values
//   keeps fewer.
export const defaultEventStreamSettings: Readonly<EventStreamSettings> = Object.freeze({
  heartbeatMs: 15_000,
  maxQueuedBytes: 1024 * 1024,
  maxClients: 64,
  backlogEvents: 100,
  backlogBytes: 256 * 1024,
});

export type EventSubscriber = (handler: (event: GossipEvent) => void) => () => void;

const encoder = new TextEncoder();
// The retry field sets EventSource's reconnection delay; the comment makes the stream start at once.
const STREAM_START = encoder.encode("retry: 1000\n: connected\n\n");
const HEARTBEAT = encoder.encode(": heartbeat\n\n");

export class EventStreamHub {
  private readonly clients = new Set<EventStreamClient>();
  private unsubscribe: (() => void) | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  /** The latest events as sent, oldest first; empty without a backlog. */
  private backlog: Uint8Array[] = [];
  private backlogBytesHeld = 0;
  /** Clients cut off because they read too slowly. */
  slowClientsDropped = 0;

  constructor(
    private readonly subscribe: EventSubscriber,
    private readonly settings: EventStreamSettings = defaultEventStreamSettings,
  ) {
    if (this.backlogLimit > 0) this.listen();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** The most events ?backlog= may ask for. */
  get backlogLimit(): number {
    return this.settings.backlogEvents ?? 0;
  }

  /**
   * A new client's response, starting with up to `backlog` of the latest events (at most
   * backlogLimit); 503 when maxClients are already connected.
   */
  open(backlog = 0): Response {
    if (this.clients.size >= this.settings.maxClients) {
      throw new HttpError(503, `too many event stream clients (at most ${this.settings.maxClients})`, { "retry-after": "10" });
    }
    const client = new EventStreamClient(this.settings.maxQueuedBytes, (closed, slow) => this.remove(closed, slow));
    this.clients.add(client);
    client.push(STREAM_START);
    if (backlog > 0) for (const chunk of this.backlog.slice(-backlog)) client.push(chunk);
    this.listen();
    if (this.heartbeatTimer === null) {
      this.heartbeatTimer = setInterval(() => this.broadcast(HEARTBEAT), this.settings.heartbeatMs);
      this.heartbeatTimer.unref();
    }
    return new Response(client.body, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" },
    });
  }

  /** Ends every stream and stops listening to the node (server shutdown). */
  closeAll(): void {
    for (const client of [...this.clients]) client.end();
    this.stopListening();
  }

  private listen(): void {
    if (this.unsubscribe !== null) return;
    this.unsubscribe = this.subscribe((event) => {
      const chunk = encoder.encode(`data: ${toJson(event)}\n\n`);
      this.keep(chunk);
      this.broadcast(chunk);
    });
  }

  private stopListening(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private keep(chunk: Uint8Array): void {
    const maxBytes = this.settings.backlogBytes ?? Infinity;
    if (this.backlogLimit === 0 || chunk.byteLength > maxBytes) return;
    this.backlog.push(chunk);
    this.backlogBytesHeld += chunk.byteLength;
    let drop = 0;
    while (this.backlog.length - drop > this.backlogLimit || this.backlogBytesHeld > maxBytes) this.backlogBytesHeld -= this.backlog[drop++]!.byteLength;
    if (drop > 0) this.backlog = this.backlog.slice(drop);
  }

  private broadcast(chunk: Uint8Array): void {
    for (const client of [...this.clients]) client.push(chunk);
  }

  private remove(client: EventStreamClient, slow: boolean): void {
    if (!this.clients.delete(client)) return;
    if (slow) this.slowClientsDropped++;
    if (this.clients.size > 0) return;
    // With a backlog the hub keeps listening, to have the latest events for the next client.
    if (this.backlogLimit > 0) {
      if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = null;
    } else {
      this.stopListening();
    }
  }
}

/** `?backlog=N` of GET /v1/events: 0 when absent; 400 unless a whole number from 0 to `limit`. */
export function parseBacklog(url: URL, limit: number): number {
  const text = url.searchParams.get("backlog");
  if (text === null) return 0;
  if (!/^\d{1,6}$/.test(text) || Number(text) > limit) {
    throw new HttpError(400, `backlog must be a whole number of events from 0 to ${limit}; got ${JSON.stringify(text.slice(0, 40))}`);
  }
  return Number(text);
}

class EventStreamClient {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private wake: (() => void) | null = null;
  private closed = false;

  constructor(
    private readonly maxQueuedBytes: number,
    private readonly onClosed: (client: EventStreamClient, slow: boolean) => void,
  ) {
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => void (this.controller = controller),
        pull: () => this.pull(),
        cancel: () => this.finish(false), // the client went away
      },
      // Nothing is buffered inside the stream: pull() runs only when the socket wants more.
      { highWaterMark: 0 },
    );
  }

  push(chunk: Uint8Array): void {
    if (this.closed) return;
    if (this.queuedBytes + chunk.byteLength > this.maxQueuedBytes) {
      this.finish(true);
      this.queue = [];
      this.queuedBytes = 0;
      // error() rather than close(): a client that does not read would never take a clean end.
      this.settle(() => this.controller.error(new Error("event stream client too slow")));
      return;
    }
    this.queue.push(chunk);
    this.queuedBytes += chunk.byteLength;
    this.wake?.();
  }

  /** Ends the stream cleanly after what is queued. */
  end(): void {
    this.finish(false);
  }

  private async pull(): Promise<void> {
    if (this.queue.length === 0 && !this.closed) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = null;
    if (this.queue.length > 0) {
      const chunk = this.queue.length === 1 ? (this.queue[0] as Uint8Array) : Buffer.concat(this.queue);
      this.queue = [];
      this.queuedBytes = 0;
      this.settle(() => this.controller.enqueue(chunk));
    }
    if (this.closed) this.settle(() => this.controller.close());
  }

  private finish(slow: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    this.onClosed(this, slow);
  }

  /** Runs a controller call that fails harmlessly once the stream is already cancelled or errored. */
  private settle(call: () => void): void {
    try {
      call();
    } catch {
      // the stream is gone; nothing left to deliver to
    }
  }
}
