// Queries (issue #20): node.query(name, payload) asks chosen live nodes a question and collects
// their acks and answers until each has answered or the timeout passes (node/query-run.ts).
// The origin picks the nodes (query-filter.ts) and sends each the QUERY directly, over the
// connections gossip already uses; every answer comes straight back to the origin as a
// QUERY_REPLY, and with a relay factor also through that many other live nodes, which forward it
// (a reply then survives a broken link between the two). Handlers register with onQuery(); each
// answer is bounded in time (it must come before the origin stops listening) and in size, and a
// node that cannot answer says why (an ERROR reply) rather than staying silent.

import { FrameWriter, MAX_QUERY_NAME_BYTES, MAX_QUERY_PAYLOAD_BYTES, MAX_QUERY_RELAY_FACTOR, type QueryMessage, QueryReplyKind, type QueryReplyMessage, readQuery, readQueryReply, writeQuery, writeQueryReply } from "../codec/index.ts";
import type { Value } from "../state/index.ts";
import { type QueryTargeting, checkTargeting, selectTargets } from "./query-filter.ts";
import { QueryRun } from "./query-run.ts";
import { TokenBucket } from "./token-bucket.ts";
import { type BusWiring, checkBusName } from "./user-events.ts";

export const DEFAULT_QUERY_TIMEOUT_MS = 5000;
export const MAX_QUERY_TIMEOUT_MS = 60_000;
/** Queries one node may start: a burst of QUERY_BURST, refilled at QUERY_RATE_PER_SECOND. */
export const QUERY_BURST = 64;
export const QUERY_RATE_PER_SECOND = 32;
/** Queries of one origin that may be waiting for answers at once. */
export const MAX_PENDING_QUERIES = 256;
/** Handlers that may run on one node at once; past that, a query is answered with a "busy" error. */
export const MAX_RUNNING_HANDLERS = 256;
/** The longest time kept back from a handler, for its answer to travel back before the origin's timeout. */
const REPLY_TRAVEL_MS = 500;
/** The handler name that answers every query without a handler of its own (as Serf's `*` event handlers). */
export const ANY_QUERY = "*";
/** Error texts sent back are cut to this many characters. */
const MAX_ERROR_CHARS = 500;

export interface QueryOptions extends QueryTargeting {
  /** How long to wait for answers (ms, default 5 s, at most 60 s). */
  timeoutMs?: number;
  /** Ask each node to acknowledge receipt at once, before its handler answers. */
  requestAck?: boolean;
  /** Also send every reply through this many other live nodes (0 to 5, default 0). */
  relayFactor?: number;
}

/** What a handler is given. */
export interface QueryRequest {
  name: string;
  payload: Uint8Array;
  /** The node that asks. */
  from: string;
  /** How long the handler has to answer (ms); past that its answer is replaced by an error. */
  timeoutMs: number;
}

/** Answers a query: bytes or text (at most 8 KiB), or nothing for an empty answer. May be async. */
export type QueryHandler = (query: QueryRequest) => Uint8Array | string | undefined | void | Promise<Uint8Array | string | undefined | void>;

export interface QueryWiring extends BusWiring {
  /** A node's entry value, for entry filters (undefined when it has none). */
  entry(node: string, group: string, key: string): Value | undefined;
  warn(message: string): void;
}

type Outcome = { payload: Uint8Array } | { error: string };

export class Queries {
  private nextId = 0;
  private readonly pending = new Map<number, QueryRun>();
  private readonly handlers = new Map<string, QueryHandler>();
  private runningHandlers = 0;
  private readonly rate: TokenBucket;
  private readonly writer = new FrameWriter(256);
  readonly counters = { sent: 0, received: 0, responses: 0, errors: 0, relayed: 0, refused: 0, late: 0 };

  constructor(private readonly wiring: QueryWiring) {
    this.rate = new TokenBucket(wiring.clock, QUERY_BURST, QUERY_RATE_PER_SECOND);
  }

  /** Sends a query; throws RangeError for a bad name, payload or option, or past the rate limits. */
  query(name: string, payload: Uint8Array | string, options: QueryOptions = {}): QueryRun {
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    checkName(name);
    if (bytes.byteLength > MAX_QUERY_PAYLOAD_BYTES) throw new RangeError(`query ${JSON.stringify(name)}: payload of ${bytes.byteLength} bytes is larger than ${MAX_QUERY_PAYLOAD_BYTES}`);
    const timeoutMs = options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_QUERY_TIMEOUT_MS) throw new RangeError(`query timeoutMs must be a whole number of ms from 1 to ${MAX_QUERY_TIMEOUT_MS}; got ${timeoutMs}`);
    const relayFactor = options.relayFactor ?? 0;
    if (!Number.isInteger(relayFactor) || relayFactor < 0 || relayFactor > MAX_QUERY_RELAY_FACTOR) throw new RangeError(`query relayFactor must be a whole number from 0 to ${MAX_QUERY_RELAY_FACTOR}; got ${relayFactor}`);
    checkTargeting(options);
    if (this.pending.size >= MAX_PENDING_QUERIES) throw new RangeError(`query limit: ${MAX_PENDING_QUERIES} queries of this node are already waiting for answers`);
    const waitMs = this.rate.take();
    if (waitMs > 0) throw new RangeError(`query rate limit: at most ${QUERY_RATE_PER_SECOND} queries/s (bursts of ${QUERY_BURST}) from one node; retry in ${waitMs} ms`);

    const { selfName } = this.wiring;
    const asked = selectTargets([selfName, ...this.wiring.livePeers()], options, (node, group, key) => this.wiring.entry(node, group, key));
    const id = ++this.nextId;
    const run = new QueryRun(name, asked, timeoutMs, this.wiring.clock, () => this.pending.delete(id));
    this.pending.set(id, run);
    const message: QueryMessage = { origin: selfName, generation: this.wiring.generation, id, name, payload: bytes, timeoutMs, requestAck: options.requestAck === true, relayFactor };
    writeQuery(this.writer, message);
    const frame = this.writer.finish();
    for (const peer of asked) if (peer !== selfName) this.wiring.send(peer, frame);
    this.counters.sent++;
    if (asked.includes(selfName)) queueMicrotask(() => this.answer(message));
    return run;
  }

  /** Registers the handler of a query name (ANY_QUERY: of every name without one); returns a function that removes it. One handler per name. */
  onQuery(name: string, handler: QueryHandler): () => void {
    checkName(name);
    if (typeof handler !== "function") throw new TypeError(`the handler for query ${JSON.stringify(name)} must be a function`);
    if (this.handlers.has(name)) throw new RangeError(`query ${JSON.stringify(name)} already has a handler on this node`);
    this.handlers.set(name, handler);
    return () => {
      if (this.handlers.get(name) === handler) this.handlers.delete(name);
    };
  }

  /** A QUERY frame from `from`; throws DecodeError when the body is malformed. */
  receiveQuery(from: string, body: Uint8Array): void {
    const message = readQuery(body, this.wiring.maxNameBytes);
    // Queries travel straight from their origin: one naming another node would make this node
    // answer a node that never asked.
    if (message.origin !== from || from === this.wiring.selfName) {
      this.counters.refused++;
      return;
    }
    this.counters.received++;
    this.answer(message);
  }

  /** A QUERY_REPLY frame; forwarded when this node is a relay. Throws DecodeError when malformed. */
  receiveReply(body: Uint8Array): void {
    const reply = readQueryReply(body, this.wiring.maxNameBytes);
    if (reply.relay && reply.origin !== this.wiring.selfName) {
      if (!this.wiring.livePeers().includes(reply.origin)) return;
      this.counters.relayed++;
      this.wiring.send(reply.origin, this.encodeReply({ ...reply, relay: false }));
      return;
    }
    this.onReply(reply);
  }

  /** Ends every query still waiting (the node stops): each reports what it has. */
  stop(): void {
    for (const run of [...this.pending.values()]) run.cancel();
  }

  private onReply(reply: QueryReplyMessage): void {
    const run = reply.origin === this.wiring.selfName && reply.generation === this.wiring.generation ? this.pending.get(reply.id) : undefined;
    const taken = run !== undefined && (reply.kind === QueryReplyKind.Ack ? run.ack(reply.responder) : reply.kind === QueryReplyKind.Response ? run.answer(reply.responder, reply.payload) : run.answer(reply.responder, reply.payload, new TextDecoder().decode(reply.payload)));
    if (!taken) this.counters.late++; // after the timeout, a relayed copy, or not asked
  }

  /** Acks (when asked to), runs the handler, and sends its answer or the reason there is none. */
  private answer(query: QueryMessage): void {
    if (query.requestAck) this.reply(query, QueryReplyKind.Ack, new Uint8Array(0));
    const handler = this.handlers.get(query.name) ?? this.handlers.get(ANY_QUERY);
    const where = `on ${this.wiring.selfName}`;
    if (!handler) return this.replyOutcome(query, { error: `no handler for query ${JSON.stringify(query.name)} ${where}` });
    if (this.runningHandlers >= MAX_RUNNING_HANDLERS) return this.replyOutcome(query, { error: `busy: ${MAX_RUNNING_HANDLERS} queries already running ${where}` });
    const timeoutMs = Math.min(query.timeoutMs, MAX_QUERY_TIMEOUT_MS);
    const budgetMs = Math.max(0, timeoutMs - Math.min(REPLY_TRAVEL_MS, Math.floor(timeoutMs / 10)));
    this.runningHandlers++;
    void this.runHandler(handler, { name: query.name, payload: query.payload, from: query.origin, timeoutMs: budgetMs }, budgetMs).then((outcome) => {
      this.runningHandlers--;
      if ("error" in outcome) this.wiring.warn(`query ${JSON.stringify(query.name)} from ${query.origin}: ${outcome.error}`);
      this.replyOutcome(query, outcome);
    });
  }

  /** The handler's answer as bytes, or why there is none; never rejects, and settles within the budget. */
  private async runHandler(handler: QueryHandler, request: QueryRequest, budgetMs: number): Promise<Outcome> {
    const subject = `handler for query ${JSON.stringify(request.name)} on ${this.wiring.selfName}`;
    let timer: { cancel(): void } | undefined;
    const late = new Promise<Outcome>((resolve) => (timer = this.wiring.clock.setTimer(budgetMs, () => resolve({ error: `${subject} did not answer within ${budgetMs} ms` }))));
    const answered = (async (): Promise<Outcome> => {
      try {
        return answerBytes(await handler(request), subject);
      } catch (error) {
        return { error: `${subject} failed: ${error instanceof Error ? error.message : String(error)}` };
      }
    })();
    try {
      return await Promise.race([answered, late]);
    } finally {
      timer?.cancel();
    }
  }

  private replyOutcome(query: QueryMessage, outcome: Outcome): void {
    if ("error" in outcome) {
      this.counters.errors++;
      this.reply(query, QueryReplyKind.Error, new TextEncoder().encode(outcome.error.slice(0, MAX_ERROR_CHARS)));
    } else {
      this.counters.responses++;
      this.reply(query, QueryReplyKind.Response, outcome.payload);
    }
  }

  private reply(query: QueryMessage, kind: QueryReplyKind, payload: Uint8Array): void {
    const reply: QueryReplyMessage = { origin: query.origin, generation: query.generation, id: query.id, responder: this.wiring.selfName, kind, relay: false, payload };
    if (query.origin === this.wiring.selfName) {
      this.onReply(reply);
      return;
    }
    this.wiring.send(query.origin, this.encodeReply(reply));
    if (query.relayFactor === 0) return;
    const relays = this.wiring.shuffle(this.wiring.livePeers().filter((peer) => peer !== query.origin)).slice(0, query.relayFactor);
    if (relays.length === 0) return;
    const relayed = this.encodeReply({ ...reply, relay: true });
    for (const peer of relays) this.wiring.send(peer, relayed);
  }

  private encodeReply(reply: QueryReplyMessage): Uint8Array {
    writeQueryReply(this.writer, reply);
    return this.writer.finish();
  }
}

function answerBytes(value: unknown, subject: string): Outcome {
  const payload = value === undefined ? new Uint8Array(0) : typeof value === "string" ? new TextEncoder().encode(value) : value instanceof Uint8Array ? value : null;
  if (payload === null) return { error: `${subject} returned ${value === null ? "null" : typeof value}, not a string, a Uint8Array or nothing` };
  if (payload.byteLength > MAX_QUERY_PAYLOAD_BYTES) return { error: `${subject} answered ${payload.byteLength} bytes, more than ${MAX_QUERY_PAYLOAD_BYTES}` };
  return { payload };
}

function checkName(name: string): void {
  checkBusName("query", name, MAX_QUERY_NAME_BYTES);
}
