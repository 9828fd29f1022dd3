// The frame header shared by every message. Layout (big-endian), 12 bytes:
//   0  u32  body length in bytes (the header is not counted)
//   4  u8   protocol version (PROTOCOL_VERSION; 0 is never valid)
//   5  u8   message type (MessageType)
//   6  u16  flags (no bits defined yet in version 4; receivers ignore unknown bits)
//   8  u32  correlation id: a request's id, echoed by its reply; 0 means "no reply expected"
// The body length comes first so a receiver can frame the stream without understanding the rest,
// and skip message types from a newer protocol version instead of failing.

export const HEADER_BYTES = 12;
export const PROTOCOL_VERSION = 4;
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

export const MessageType = {
  Hello: 1,
  Welcome: 2,
  Syn: 3,
  SynAck: 4,
  Ack: 5,
  Ping: 6,
  Pong: 7,
  Probe: 8,
  ProbeAck: 9,
  Leave: 10,
  Error: 11,
  Push: 12,
  /** Flow-control rates, sent beside SYN and SYN-ACK; nodes that do not know it skip it. */
  Flow: 13,
  /** After a keyring handshake, every frame travels inside SEALED records (src/transport/sealed-frames.ts). */
  Sealed: 14,
  /** An application event broadcast to every node (user-event.ts); nodes that do not know it skip it. */
  UserEvent: 15,
  /** A question to chosen nodes (query.ts); nodes that do not know it skip it, and never answer. */
  Query: 16,
  /** An ack, answer or error for a QUERY, sent back to the node that asked (query.ts). */
  QueryReply: 17,
  /** Keyring changes and listings between encrypted nodes (keyring-messages.ts); nodes that do not know them skip them. */
  KeyringRequest: 18,
  KeyringReply: 19,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const messageTypeNames = new Map<number, string>(Object.entries(MessageType).map(([name, value]) => [value, name]));

export function messageTypeName(type: number): string {
  return messageTypeNames.get(type) ?? `Unknown(${type})`;
}

export interface Frame {
  version: number;
  type: number;
  flags: number;
  correlationId: number;
  /** The body bytes: a view into the received chunk unless the frame spanned several reads. */
  body: Uint8Array;
}
