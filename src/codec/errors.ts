// Typed codec errors. A DecodeError means the peer sent bytes we cannot trust: the caller closes
// that connection. An EncodeError means our own caller tried to send something the protocol
// cannot carry (a frame over the limit, an integer out of range); it is a bug or bad API input.

export class DecodeError extends Error {
  override readonly name = "DecodeError";
  constructor(
    /** The protocol field being read when decoding failed, e.g. "frame.length" or "entry.key". */
    readonly field: string,
    /** Byte offset of that field, relative to the start of the frame body (or stream for headers). */
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`cannot decode ${field} at offset ${offset}: ${reason}`);
  }
}

export class EncodeError extends Error {
  override readonly name = "EncodeError";
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`cannot encode ${field}: ${reason}`);
  }
}

/** What writeDeltas() and writeDigest() return when every part encoded (no allocation per message). */
export const NOTHING_LEFT_OUT: readonly EncodeError[] = Object.freeze([]);
