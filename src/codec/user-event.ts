// Body of USER_EVENT (type 15): an application event broadcast to every live node (node/user-events.ts).
//   header.correlationId  0 (no reply)
//   header.flags          0
//   body  string origin        the node that broadcast it (at most maxNameBytes bytes)
//         varuint generation   the origin's generation: a restarted origin's events are new ones
//         varuint ltime        the origin's Lamport time when it broadcast; (origin, generation,
//                              ltime) names the event, so receivers drop copies they already had
//         string name          the event name (at most MAX_USER_EVENT_NAME_BYTES bytes)
//         blob payload         application bytes (at most MAX_USER_EVENT_PAYLOAD_BYTES bytes)
//         u8 options           bit 0: coalesce (receivers that fall behind keep only the latest
//                              of each name); other bits are ignored
// A node that predates this type skips the frame (frame.ts), so mixed versions interoperate.
//
// Example, origin "a" generation 5, ltime 1, name "deploy", payload "v2", coalesce:
//   00 00 00 0f  03  0f  00 00  00 00 00 00  |  01 61  05  01  06 64 65 70 6c 6f 79  02 76 32  01

import { MessageType } from "./frame.ts";
import { BodyReader } from "./reader.ts";
import type { FrameWriter } from "./writer.ts";

export const MAX_USER_EVENT_NAME_BYTES = 128;
export const MAX_USER_EVENT_PAYLOAD_BYTES = 8 * 1024;
const COALESCE_BIT = 1;

export interface UserEventMessage {
  origin: string;
  generation: number;
  ltime: number;
  name: string;
  payload: Uint8Array;
  coalesce: boolean;
}

export function writeUserEvent(writer: FrameWriter, event: UserEventMessage): void {
  writer.begin(MessageType.UserEvent);
  writer.string(event.origin).varuint(event.generation).varuint(event.ltime).string(event.name).blob(event.payload);
  writer.u8(event.coalesce ? COALESCE_BIT : 0);
  writer.end();
}

/** Decodes a USER_EVENT body; DecodeError names the field that is wrong. The payload is a copy. */
export function readUserEvent(body: Uint8Array, maxNameBytes: number): UserEventMessage {
  const reader = new BodyReader(body);
  const origin = reader.string("origin", maxNameBytes);
  const generation = reader.varuint("generation");
  const ltime = reader.varuint("ltime");
  const name = reader.string("name", MAX_USER_EVENT_NAME_BYTES);
  const payload = new Uint8Array(reader.blob("payload", MAX_USER_EVENT_PAYLOAD_BYTES));
  const coalesce = (reader.u8("options") & COALESCE_BIT) !== 0;
  reader.expectEnd("user event");
  return { origin, generation, ltime, name, payload, coalesce };
}
