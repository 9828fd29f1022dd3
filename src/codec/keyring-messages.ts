// Bodies of the keyring messages (`goferbroke keys`, node/keyring-ops.ts). They travel only
// between nodes that run with an encryption keyring, whose every connection is sealed (auth
// scheme 2): a node without one never sends them and ignores them (and cannot receive them, since
// schemes must match to connect), so key material never crosses the network in plain text.
//
// KEYRING_REQUEST (type 18): the node an operator asked sends one to every live member.
//   header.correlationId  non-zero; the KEYRING_REPLY echoes it
//   body  u8 op        1 list, 2 install, 3 use, 4 remove; other values are a DecodeError
//         blob key     list: empty; install: the 32-byte key; use and remove: the 8-byte key id
//                      (the key itself is not needed to name it)
//
// KEYRING_REPLY (type 19): what the member did.
//   header.correlationId  the request's
//   body  string error   empty when the member applied the change (and wrote its key file);
//                        otherwise why it refused (at most MAX_KEYRING_ERROR_BYTES bytes)
//         blob ids       the key ids the member holds after the request, primary first: 8 bytes
//                        each, 1 to 16 of them
//
// Example, a reply "done, holding 0102030405060708" to request 7:
//   00 00 00 0a  03  13  00 00  00 00 00 07  |  00  08 01 02 03 04 05 06 07 08

import { DecodeError } from "./errors.ts";
import { MessageType } from "./frame.ts";
import { BodyReader } from "./reader.ts";
import type { FrameWriter } from "./writer.ts";

export const KeyringOp = { List: 1, Install: 2, Use: 3, Remove: 4 } as const;
export type KeyringOp = (typeof KeyringOp)[keyof typeof KeyringOp];
export const KEYRING_OP_NAMES: Record<KeyringOp, "list" | "install" | "use" | "remove"> = { 1: "list", 2: "install", 3: "use", 4: "remove" };

const KEY_BYTES = 32;
const KEY_ID_BYTES = 8;
/** A ring holds at most 16 keys (transport/keyring.ts MAX_KEYS). */
const MAX_RING_IDS = 16;
export const MAX_KEYRING_ERROR_BYTES = 512;

export interface KeyringRequest {
  op: KeyringOp;
  /** Install: the key; use and remove: the key id; list: empty. */
  key: Uint8Array;
}

export interface KeyringReply {
  /** Empty when the member applied the request. */
  error: string;
  /** The key ids the member holds, primary first. */
  ids: Uint8Array[];
}

export function writeKeyringRequest(writer: FrameWriter, correlationId: number, request: KeyringRequest): void {
  writer.begin(MessageType.KeyringRequest, correlationId);
  writer.u8(request.op).blob(request.key);
  writer.end();
}

export function readKeyringRequest(body: Uint8Array): KeyringRequest {
  const reader = new BodyReader(body);
  const op = reader.u8("op");
  if (!(op in KEYRING_OP_NAMES)) throw new DecodeError("keyring.op", 0, `unknown op ${op} (1 list, 2 install, 3 use, 4 remove)`);
  const expected = op === KeyringOp.List ? 0 : op === KeyringOp.Install ? KEY_BYTES : KEY_ID_BYTES;
  const key = new Uint8Array(reader.blob("keyring.key", KEY_BYTES));
  if (key.length !== expected) throw new DecodeError("keyring.key", 1, `${KEYRING_OP_NAMES[op as KeyringOp]} carries ${key.length} key bytes, expected ${expected}`);
  reader.expectEnd("keyring request");
  return { op: op as KeyringOp, key };
}

export function writeKeyringReply(writer: FrameWriter, correlationId: number, reply: KeyringReply): void {
  writer.begin(MessageType.KeyringReply, correlationId);
  const ids = new Uint8Array(reply.ids.length * KEY_ID_BYTES);
  reply.ids.forEach((id, index) => ids.set(id, index * KEY_ID_BYTES));
  writer.string(reply.error).blob(ids);
  writer.end();
}

export function readKeyringReply(body: Uint8Array): KeyringReply {
  const reader = new BodyReader(body);
  const error = reader.string("keyring.error", MAX_KEYRING_ERROR_BYTES);
  const idsAt = reader.offset;
  const blob = reader.blob("keyring.ids", MAX_RING_IDS * KEY_ID_BYTES);
  if (blob.length === 0 || blob.length % KEY_ID_BYTES !== 0) throw new DecodeError("keyring.ids", idsAt, `${blob.length} bytes: expected 1 to ${MAX_RING_IDS} ids of ${KEY_ID_BYTES} bytes`);
  const ids: Uint8Array[] = [];
  for (let at = 0; at < blob.length; at += KEY_ID_BYTES) ids.push(blob.slice(at, at + KEY_ID_BYTES));
  reader.expectEnd("keyring reply");
  return { error, ids };
}
