// Bodies of QUERY (type 16) and QUERY_REPLY (type 17): a question sent to chosen live nodes and
// their answers, sent back straight to the node that asked (node/queries.ts). Correlation id 0 and
// flags 0 on both: the body names the query.
//
// QUERY, from the node that asks to each node asked:
//   string origin        the node that asks (at most maxNameBytes bytes)
//   varuint generation   its generation: a restarted origin's query ids start again
//   varuint id           the origin's query number; (origin, generation, id) names the query
//   string name          the query name (at most MAX_QUERY_NAME_BYTES bytes)
//   blob payload         application bytes (at most MAX_QUERY_PAYLOAD_BYTES bytes)
//   varuint timeoutMs    how long the origin waits, from when it sent the query; a node answers
//                        within that time or not at all
//   u8 options           bit 0: send an ACK at once, before the handler answers; other bits ignored
//   u8 relayFactor       besides the direct reply, send each reply through this many other live
//                        nodes, which forward it (at most MAX_QUERY_RELAY_FACTOR)
//
// QUERY_REPLY, from a node asked to the origin (or to a relay, which forwards it to the origin):
//   string origin        the node that asked
//   varuint generation   its generation, copied from the QUERY
//   varuint id           the query's id, copied from the QUERY
//   string responder     the node that answers
//   u8 kind              0 ACK (got it), 1 RESPONSE (the handler's answer), 2 ERROR (the handler
//                        failed, ran out of time, answered too much, or there is none)
//   u8 options           bit 0: relay (the receiver is not the origin: forward to it with the bit
//                        cleared); other bits ignored
//   blob payload         RESPONSE: the answer (at most MAX_QUERY_PAYLOAD_BYTES); ERROR: the reason
//                        as UTF-8; ACK: empty
// A node that predates these types skips them (frame.ts); it never answers, so the origin counts it
// as not answering.
//
// Example QUERY, origin "a" generation 5, id 1, name "load", payload "1m", 2000 ms, ack, relay 0:
//   00 00 00 10  03  10  00 00  00 00 00 00  |  01 61  05  01  04 6c 6f 61 64  02 31 6d  d0 0f  01  00
// Example QUERY_REPLY, origin "a" generation 5, id 1, from "b", RESPONSE "0.5":
//   00 00 00 0c  03  11  00 00  00 00 00 00  |  01 61  05  01  01 62  01  00  03 30 2e 35

import { DecodeError } from "./errors.ts";
import { MessageType } from "./frame.ts";
import { BodyReader } from "./reader.ts";
import type { FrameWriter } from "./writer.ts";

export const MAX_QUERY_NAME_BYTES = 128;
export const MAX_QUERY_PAYLOAD_BYTES = 8 * 1024;
export const MAX_QUERY_RELAY_FACTOR = 5;
const ACK_BIT = 1;
const RELAY_BIT = 1;

export interface QueryMessage {
  origin: string;
  generation: number;
  id: number;
  name: string;
  payload: Uint8Array;
  timeoutMs: number;
  requestAck: boolean;
  relayFactor: number;
}

export const QueryReplyKind = { Ack: 0, Response: 1, Error: 2 } as const;
export type QueryReplyKind = (typeof QueryReplyKind)[keyof typeof QueryReplyKind];

export interface QueryReplyMessage {
  origin: string;
  generation: number;
  id: number;
  responder: string;
  kind: QueryReplyKind;
  relay: boolean;
  payload: Uint8Array;
}

export function writeQuery(writer: FrameWriter, query: QueryMessage): void {
  writer.begin(MessageType.Query);
  writer.string(query.origin).varuint(query.generation).varuint(query.id).string(query.name).blob(query.payload);
  writer.varuint(query.timeoutMs).u8(query.requestAck ? ACK_BIT : 0).u8(query.relayFactor);
  writer.end();
}

/** Decodes a QUERY body; DecodeError names the field that is wrong. The payload is a copy. */
export function readQuery(body: Uint8Array, maxNameBytes: number): QueryMessage {
  const reader = new BodyReader(body);
  const origin = reader.string("origin", maxNameBytes);
  const generation = reader.varuint("generation");
  const id = reader.varuint("id");
  const name = reader.string("name", MAX_QUERY_NAME_BYTES);
  const payload = new Uint8Array(reader.blob("payload", MAX_QUERY_PAYLOAD_BYTES));
  const timeoutMs = reader.varuint("timeoutMs");
  const requestAck = (reader.u8("options") & ACK_BIT) !== 0;
  const relayAt = reader.offset;
  const relayFactor = reader.u8("relayFactor");
  if (relayFactor > MAX_QUERY_RELAY_FACTOR) throw new DecodeError("relayFactor", relayAt, `${relayFactor} is more than ${MAX_QUERY_RELAY_FACTOR}`);
  reader.expectEnd("query");
  return { origin, generation, id, name, payload, timeoutMs, requestAck, relayFactor };
}

export function writeQueryReply(writer: FrameWriter, reply: QueryReplyMessage): void {
  writer.begin(MessageType.QueryReply);
  writer.string(reply.origin).varuint(reply.generation).varuint(reply.id).string(reply.responder);
  writer.u8(reply.kind).u8(reply.relay ? RELAY_BIT : 0).blob(reply.payload);
  writer.end();
}

/** Decodes a QUERY_REPLY body; DecodeError names the field that is wrong. The payload is a copy. */
export function readQueryReply(body: Uint8Array, maxNameBytes: number): QueryReplyMessage {
  const reader = new BodyReader(body);
  const origin = reader.string("origin", maxNameBytes);
  const generation = reader.varuint("generation");
  const id = reader.varuint("id");
  const responder = reader.string("responder", maxNameBytes);
  const kindAt = reader.offset;
  const kind = reader.u8("kind");
  if (kind > QueryReplyKind.Error) throw new DecodeError("kind", kindAt, `unknown reply kind ${kind} (known: 0 ack, 1 response, 2 error)`);
  const relay = (reader.u8("options") & RELAY_BIT) !== 0;
  const payload = new Uint8Array(reader.blob("payload", MAX_QUERY_PAYLOAD_BYTES));
  reader.expectEnd("query reply");
  return { origin, generation, id, responder, kind: kind as QueryReplyKind, relay, payload };
}
