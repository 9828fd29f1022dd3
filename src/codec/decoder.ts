// Turns a TCP byte stream, split anywhere, into whole frames. A frame that lies inside one chunk
// is handed out as a view into that chunk (Bun gives each `data` call a fresh buffer, so views
// stay valid); only a frame that spans chunks is copied, into a buffer of exactly its size, which
// the header's length check bounds by the frame limit before it is allocated.

import { DecodeError } from "./errors.ts";
import { DEFAULT_MAX_FRAME_BYTES, HEADER_BYTES, type Frame } from "./frame.ts";

export interface FrameDecoderOptions {
  /** Largest body accepted; a header announcing more is a DecodeError. */
  maxFrameBytes?: number;
}

export class FrameDecoder {
  /**
   * Largest body accepted. Read at every header, so it may change between frames: the transport
   * holds it at the handshake limit until the handshake completes, then raises it.
   */
  maxFrameBytes: number;
  /** Header bytes of a frame whose header was split across chunks. */
  private readonly headerScratch = new Uint8Array(HEADER_BYTES);
  private headerFill = 0;
  /** Whole-frame buffer being filled when a frame spans chunks (header included). */
  private spanning: Uint8Array | null = null;
  private spanningFill = 0;
  /** Bytes consumed from the stream so far: error offsets are stream offsets. */
  private streamOffset = 0;
  private failed: DecodeError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Bytes held back waiting for the rest of a frame. Never more than one frame. */
  get bufferedBytes(): number {
    return this.spanning ? this.spanningFill : this.headerFill;
  }

  /**
   * Feeds one chunk; calls onFrame for every frame it completes, in order. Throws DecodeError on
   * a malformed header; after that the decoder refuses further input (the stream is unusable).
   */
  push(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    if (this.failed) throw this.failed;
    let offset = 0;
    if (this.headerFill > 0 || this.spanning) {
      offset = this.continuePartial(chunk, onFrame);
      if (offset < 0) return; // the whole chunk went into the partial frame
    }
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (chunk.length - offset >= HEADER_BYTES) {
      const bodyLength = this.checkHeader(view, offset);
      const frameEnd = offset + HEADER_BYTES + bodyLength;
      if (frameEnd > chunk.length) break;
      const frame = readFrame(view, offset, chunk.subarray(offset + HEADER_BYTES, frameEnd));
      offset = frameEnd;
      this.streamOffset += HEADER_BYTES + bodyLength;
      onFrame(frame);
    }
    this.holdTail(chunk, offset, view);
  }

  /** Continues a frame begun in an earlier chunk. Returns where whole frames start, or -1. */
  private continuePartial(chunk: Uint8Array, onFrame: (frame: Frame) => void): number {
    let offset = 0;
    if (!this.spanning) {
      const take = Math.min(HEADER_BYTES - this.headerFill, chunk.length);
      this.headerScratch.set(chunk.subarray(0, take), this.headerFill);
      this.headerFill += take;
      offset = take;
      if (this.headerFill < HEADER_BYTES) return -1;
      const headerView = new DataView(this.headerScratch.buffer);
      const bodyLength = this.checkHeader(headerView, 0);
      this.spanning = new Uint8Array(HEADER_BYTES + bodyLength);
      this.spanning.set(this.headerScratch);
      this.spanningFill = HEADER_BYTES;
      this.headerFill = 0;
    }
    const spanning = this.spanning;
    const take = Math.min(spanning.length - this.spanningFill, chunk.length - offset);
    spanning.set(chunk.subarray(offset, offset + take), this.spanningFill);
    this.spanningFill += take;
    offset += take;
    if (this.spanningFill < spanning.length) return -1;
    this.spanning = null;
    this.spanningFill = 0;
    this.streamOffset += spanning.length;
    onFrame(readFrame(new DataView(spanning.buffer), 0, spanning.subarray(HEADER_BYTES)));
    return offset;
  }

  /** Keeps the bytes after the last whole frame for the next chunk. */
  private holdTail(chunk: Uint8Array, offset: number, view: DataView): void {
    const rest = chunk.length - offset;
    if (rest === 0) return;
    if (rest < HEADER_BYTES) {
      this.headerScratch.set(chunk.subarray(offset), 0);
      this.headerFill = rest;
      return;
    }
    const bodyLength = this.checkHeader(view, offset);
    this.spanning = new Uint8Array(HEADER_BYTES + bodyLength);
    this.spanning.set(chunk.subarray(offset));
    this.spanningFill = rest;
  }

  /** Validates a header and returns its body length. */
  private checkHeader(view: DataView, at: number): number {
    const bodyLength = view.getUint32(at);
    const version = view.getUint8(at + 4);
    const streamAt = this.streamOffset;
    if (version === 0) this.fail(new DecodeError("frame.version", streamAt + 4, "protocol version 0 is not valid"));
    if (bodyLength > this.maxFrameBytes) {
      this.fail(new DecodeError("frame.length", streamAt, `body of ${bodyLength} bytes exceeds the ${this.maxFrameBytes}-byte frame limit`));
    }
    return bodyLength;
  }

  private fail(error: DecodeError): never {
    this.failed = error;
    this.spanning = null;
    this.headerFill = 0;
    throw error;
  }
}

function readFrame(view: DataView, at: number, body: Uint8Array): Frame {
  return {
    version: view.getUint8(at + 4),
    type: view.getUint8(at + 5),
    flags: view.getUint16(at + 6),
    correlationId: view.getUint32(at + 8),
    body,
  };
}
