// Bodies of the membership messages. Each frame starts with the 12-byte header (codec/frame.ts);
// what follows is the body. Integers are varuints (minimal LEB128, below 2^53), strings are a
// varuint byte length then that many bytes of UTF-8. Every body must be consumed exactly: trailing
// bytes are a DecodeError, like every other body of the protocol.
//
// PING (type 6): "are you there?", sent to the node itself: by a monitor to a ring successor whose
// heartbeat did not arrive for a round and a half, and in every probe round.
//   header.correlationId  non-zero; the PONG echoes it (a PING with id 0 gets no answer)
//   body                  empty (0 bytes)
//
// PONG (type 7): the answer to a PING.
//   header.correlationId  the PING's; 0 for an unsolicited PONG, "I am alive": every round, the
//                         sender's heartbeat to its ring predecessors (the monitors that watch
//                         it); and to every live node when the sender heard it was declared dead
//                         (a verdict naming it)
//   body  varuint generation   the responder's generation, so a restarted node (new generation)
//                              is not taken for its old self, and a stale answer from an older
//                              generation refutes nothing
//
// PROBE (type 8): indirect probe; the requester asks a helper to ping the target for it.
//   header.correlationId  non-zero; the PROBE_ACK echoes it. 0 makes it a verdict: the sender
//                         declared the target dead on its own evidence and tells every live node
//                         (and the target); no answer, each receiver checks the target itself
//   body  string target        the node name to ping (at most maxNameBytes bytes)
//
// PROBE_ACK (type 9): the helper's verdict, sent back to the requester.
//   header.correlationId  the PROBE's
//   body  u8 result            0 = failed (no PONG within the helper's timeout, or the target could
//                              not be reached), 1 = ok (the target answered); other values are a
//                              DecodeError
//         varuint generation   ok: the generation in the target's PONG; failed: 0 (ignored)
//
// LEAVE (type 10): the sender stops gracefully; sent by the leaving node itself before it exits.
//   header.correlationId  0 (no reply)
//   body  string name          the leaving node's name (at most maxNameBytes bytes)
//         varuint generation   its generation: a LEAVE never affects a later generation
//
// The id-0 forms reuse existing bodies on purpose: a receiver that predates them ignores a PROBE
// or PONG it cannot answer or match, so mixed versions interoperate.
//
// Example, PROBE_ACK ok for generation 300, correlation id 7:
//   00 00 00 03  01  09  00 00  00 00 00 07  |  01  ac 02

import { DecodeError } from "./errors.ts";
import { MessageType } from "./frame.ts";
import { BodyReader } from "./reader.ts";
import type { FrameWriter } from "./writer.ts";

export const ProbeResult = {
  Failed: 0,
  Ok: 1,
} as const;
export type ProbeResult = (typeof ProbeResult)[keyof typeof ProbeResult];

export interface ProbeAck {
  ok: boolean;
  /** The target's generation as its PONG reported it; 0 when the probe failed. */
  generation: number;
}

export interface LeaveNotice {
  name: string;
  generation: number;
}

export function writePing(writer: FrameWriter, correlationId: number): void {
  writer.begin(MessageType.Ping, correlationId);
  writer.end();
}

export function decodePing(body: Uint8Array): void {
  new BodyReader(body).expectEnd("ping");
}

export function writePong(writer: FrameWriter, correlationId: number, generation: number): void {
  writer.begin(MessageType.Pong, correlationId);
  writer.varuint(generation);
  writer.end();
}

/** Returns the responder's generation. */
export function decodePong(body: Uint8Array): number {
  const reader = new BodyReader(body);
  const generation = reader.varuint("pong.generation");
  reader.expectEnd("pong");
  return generation;
}

export function writeProbe(writer: FrameWriter, correlationId: number, target: string): void {
  writer.begin(MessageType.Probe, correlationId);
  writer.string(target);
  writer.end();
}

/** Returns the target's name. */
export function decodeProbe(body: Uint8Array, maxNameBytes: number): string {
  const reader = new BodyReader(body);
  const target = reader.string("probe.target", maxNameBytes);
  reader.expectEnd("probe");
  return target;
}

export function writeProbeAck(writer: FrameWriter, correlationId: number, ack: ProbeAck): void {
  writer.begin(MessageType.ProbeAck, correlationId);
  writer.u8(ack.ok ? ProbeResult.Ok : ProbeResult.Failed);
  writer.varuint(ack.ok ? ack.generation : 0);
  writer.end();
}

export function decodeProbeAck(body: Uint8Array): ProbeAck {
  const reader = new BodyReader(body);
  const result = reader.u8("probeAck.result");
  if (result !== ProbeResult.Ok && result !== ProbeResult.Failed) {
    throw new DecodeError("probeAck.result", 0, `unknown result ${result}`);
  }
  const generation = reader.varuint("probeAck.generation");
  reader.expectEnd("probeAck");
  return { ok: result === ProbeResult.Ok, generation };
}

export function writeLeave(writer: FrameWriter, notice: LeaveNotice): void {
  writer.begin(MessageType.Leave, 0);
  writer.string(notice.name);
  writer.varuint(notice.generation);
  writer.end();
}

export function decodeLeave(body: Uint8Array, maxNameBytes: number): LeaveNotice {
  const reader = new BodyReader(body);
  const name = reader.string("leave.name", maxNameBytes);
  const generation = reader.varuint("leave.generation");
  reader.expectEnd("leave");
  return { name, generation };
}
