// Sealing after a keyring handshake (auth scheme 2): every byte either side sends after the
// handshake travels inside SEALED records, AES-256-GCM encrypted and authenticated. Layout and
// vectors: docs/PROTOCOL.md "Encryption".
//
// A record is a frame of type SEALED (14): the usual 12-byte header (version 4, flags 0,
// correlation id 0) and a body of ciphertext ‖ 16-byte tag; the header is the additional
// authenticated data. The plaintext is a slice of the frame stream, not one frame: the sender
// seals whatever its write queue flushes, in records of at most SEALED_PLAIN_LIMIT bytes, and the
// receiver feeds the opened plaintext to a second frame decoder. A frame split over two records
// is delivered only when both opened, so a tampered record applies nothing of what it carried.
//
// Keys and nonces. Each direction of each connection has its own key:
//     HKDF-SHA256(ikm = the agreed ring key, salt = dialer nonce ‖ listener nonce,
//                 info = "goferbroke/1 seal dialer" or "goferbroke/1 seal listener" (the sender's role)
//                        ‖ string dialer name ‖ string listener name, length 32)
// and its records are numbered from 0; the GCM nonce is 4 zero bytes ‖ the record number as a
// big-endian u64. The nonce is never sent: the receiver counts too, so a record replayed,
// dropped or reordered opens under the wrong nonce and fails. A nonce therefore never repeats
// under one key: the record number only grows, and every connection draws fresh random nonces
// into its keys (the ring key itself never encrypts). The count is a JavaScript number: at a
// million records a second it stays exact for 285 years.
//
// This module is the only one that loads node:crypto (AES-GCM and HKDF, synchronous, so records
// keep the order the write queue gives them); the transport imports it only when a keyring is
// configured, so nodes without encryption do not pay its start-up cost.

import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import { FrameDecoder, FrameWriter, HEADER_BYTES, MessageType, PROTOCOL_VERSION, type Frame, type ProofTranscript } from "../codec/index.ts";
import type { RingKey } from "./keyring.ts";

/** Largest plaintext per record: bounds what a receiver buffers before it can authenticate. */
export const SEALED_PLAIN_LIMIT = 64 * 1024;
const TAG_BYTES = 16;
/** Largest SEALED body, whatever maxFrameBytes says: the outer decoder's limit once sealed. */
export const SEALED_BODY_LIMIT = SEALED_PLAIN_LIMIT + TAG_BYTES;

export type SealRole = "dialer" | "listener";

/** A record that failed to open: tampered, replayed, reordered, or not SEALED at all. */
export class SealError extends Error {}

/** The key one side seals with (the other side opens with it). */
export function directionKey(ringKey: RingKey, transcript: ProofTranscript, sender: SealRole): Uint8Array {
  const salt = new Uint8Array(transcript.dialerNonce.length + transcript.listenerNonce.length);
  salt.set(transcript.dialerNonce);
  salt.set(transcript.listenerNonce, transcript.dialerNonce.length);
  const info = new FrameWriter(128)
    .raw(new TextEncoder().encode(`goferbroke/1 seal ${sender}`))
    .string(transcript.dialerName)
    .string(transcript.listenerName)
    .finish();
  return new Uint8Array(hkdfSync("sha256", ringKey.key, salt, info, 32));
}

/** The GCM nonce of record number `counter`: 4 zero bytes ‖ u64 big-endian. */
export function recordNonce(counter: number): Uint8Array {
  const nonce = new Uint8Array(12);
  const view = new DataView(nonce.buffer);
  view.setUint32(4, Math.floor(counter / 2 ** 32));
  view.setUint32(8, counter >>> 0);
  return nonce;
}

function recordHeader(bodyLength: number): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint32(0, bodyLength);
  view.setUint8(4, PROTOCOL_VERSION);
  view.setUint8(5, MessageType.Sealed);
  return header;
}

/** One connection's sealing: seals what it sends, opens what it receives. */
export class SealedStream {
  private readonly sendKey: Uint8Array;
  private readonly receiveKey: Uint8Array;
  /** Records sealed so far: the next record's number. */
  recordsSealed = 0;
  /** Records opened so far: the number the next one must carry. */
  recordsOpened = 0;
  private readonly inner: FrameDecoder;

  constructor(ringKey: RingKey, transcript: ProofTranscript, role: SealRole, maxFrameBytes: number) {
    const peerRole: SealRole = role === "dialer" ? "listener" : "dialer";
    this.sendKey = directionKey(ringKey, transcript, role);
    this.receiveKey = directionKey(ringKey, transcript, peerRole);
    this.inner = new FrameDecoder({ maxFrameBytes });
  }

  /** Bytes of a frame the inner decoder holds until the record that completes it opens. */
  get bufferedBytes(): number {
    return this.inner.bufferedBytes;
  }

  /** Seals a slice of the frame stream into one or more records, numbered in call order. */
  seal(plain: Uint8Array): Uint8Array {
    if (plain.length <= SEALED_PLAIN_LIMIT) return this.sealRecord(plain);
    const records: Uint8Array[] = [];
    for (let at = 0; at < plain.length; at += SEALED_PLAIN_LIMIT) records.push(this.sealRecord(plain.subarray(at, at + SEALED_PLAIN_LIMIT)));
    const size = records.reduce((sum, record) => sum + record.length, 0);
    const out = new Uint8Array(size);
    let offset = 0;
    for (const record of records) {
      out.set(record, offset);
      offset += record.length;
    }
    return out;
  }

  /**
   * Opens one received frame, which must be the next SEALED record, and hands every frame its
   * plaintext completes to onFrame. Throws SealError when it does not open, DecodeError when the
   * plaintext is not a valid frame stream.
   */
  open(record: Frame, onFrame: (frame: Frame) => void): void {
    if (record.type !== MessageType.Sealed) throw new SealError(`an unsealed frame of type ${record.type} on an encrypted connection`);
    if (record.body.length < TAG_BYTES) throw new SealError(`a SEALED record of ${record.body.length} bytes, shorter than its tag`);
    const decipher = createDecipheriv("aes-256-gcm", this.receiveKey, recordNonce(this.recordsOpened));
    decipher.setAAD(recordHeader(record.body.length));
    const tagAt = record.body.length - TAG_BYTES;
    decipher.setAuthTag(record.body.subarray(tagAt));
    let plain: Uint8Array;
    try {
      plain = Buffer.concat([decipher.update(record.body.subarray(0, tagAt)), decipher.final()]);
    } catch {
      throw new SealError(`SEALED record ${this.recordsOpened} failed authentication (tampered, replayed or out of order)`);
    }
    this.recordsOpened++;
    this.inner.push(plain, onFrame);
  }

  private sealRecord(plain: Uint8Array): Uint8Array {
    const header = recordHeader(plain.length + TAG_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.sendKey, recordNonce(this.recordsSealed++));
    cipher.setAAD(header);
    const body = cipher.update(plain);
    const final = cipher.final();
    const record = new Uint8Array(HEADER_BYTES + plain.length + TAG_BYTES);
    record.set(header);
    record.set(body, HEADER_BYTES);
    record.set(final, HEADER_BYTES + body.length);
    record.set(cipher.getAuthTag(), HEADER_BYTES + body.length + final.length);
    return record;
  }
}
