// Fuzz: random byte strings and mutations of valid multi-frame streams go through FrameDecoder
// (in random chunks) and every frame body through readDigest/readDeltas. Only DecodeError may
// ever escape; the decoder never holds more than maxFrameBytes + header bytes. Seeded, so a
// failure names the seed and input number that reproduce it.

import { expect, test } from "bun:test";
import {
  BodyReader,
  DecodeError,
  type DeltaReadLimits,
  type DigestEntry,
  FrameDecoder,
  FrameWriter,
  HEADER_BYTES,
  MessageType,
  type NodeDelta,
  type WireEntry,
  readDeltas,
  readDigest,
  writeDeltas,
  writeDigest,
} from "../src/codec/index.ts";

const SEED = Number(process.env.CODEC_FUZZ_SEED ?? 0xc0dec);
const INPUTS = Number(process.env.CODEC_FUZZ_INPUTS ?? 120_000);
const MAX_FRAME = 4096;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const limits: DeltaReadLimits = { maxNameBytes: 256, maxKeyBytes: 512, maxValueBytes: 2048, isKnownValueType: (t) => t <= 5 };

/** Builds a pool of valid streams of 1-6 frames: SYN, SYN-ACK, ACK, PUSH and opaque frames. */
function validStreams(rand: () => number, count: number): { bytes: Uint8Array; frameStarts: number[] }[] {
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const numbers = [0, 1, 127, 128, 16383, 16384, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER];
  const num = (): number => (rand() < 0.3 ? pick(numbers) : rand() < 0.5 ? int(200) : int(2 ** 40));
  const strings = ["", "a", "node-1", "gröup", "ключ", "😀", "x".repeat(70), "\uFEFFbom"];
  const str = (): string => (rand() < 0.6 ? pick(strings) : `k${int(100000)}`);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256));
  // One digest in five is long enough (a names run of 1-3 KB) to be decoded in several chunks.
  const digest = (): DigestEntry[] => {
    const long = rand() < 0.2;
    const node = (): string => (long ? `${str()}.${str()}.${str()}` : str());
    return Array.from({ length: long ? 30 + int(50) : int(8) }, () => ({ node: node(), generation: num(), heartbeat: num(), maxVersion: num(), collectedUpTo: num() }));
  };
  const entry = (): WireEntry => {
    const e: WireEntry = { group: str(), key: str(), version: num(), valueType: int(8), deleted: rand() < 0.2, value: bytes(int(40)) };
    if (rand() < 0.3) e.expiresAt = num();
    return e;
  };
  const deltas = (): NodeDelta[] =>
    Array.from({ length: int(4) }, () => ({ node: str(), generation: num(), fromVersion: num(), collectedUpTo: num(), maxVersion: num(), entries: Array.from({ length: int(6) }, entry) }));

  const pool: { bytes: Uint8Array; frameStarts: number[] }[] = [];
  const writer = new FrameWriter(1024, MAX_FRAME);
  for (let s = 0; s < count; s++) {
    const frameStarts: number[] = [];
    const frames = 1 + int(6);
    for (let f = 0; f < frames; f++) {
      const kind = int(5);
      frameStarts.push(writer.length);
      if (kind === 0) {
        writer.begin(MessageType.Syn, int(1000));
        writeDigest(writer, digest());
      } else if (kind === 1) {
        writer.begin(MessageType.SynAck, int(1000));
        writeDigest(writer, digest());
        writeDeltas(writer, deltas());
      } else if (kind === 2 || kind === 3) {
        writer.begin(kind === 2 ? MessageType.Ack : MessageType.Push, int(1000));
        writeDeltas(writer, deltas());
      } else {
        writer.begin(1 + int(255), int(2 ** 32), int(0x10000)).raw(bytes(int(30)));
      }
      try {
        writer.end();
      } catch {
        frameStarts.pop(); // over the frame limit: not part of the stream
      }
    }
    pool.push({ bytes: writer.finish(), frameStarts });
  }
  return pool;
}

function mutate(rand: () => number, input: { bytes: Uint8Array; frameStarts: number[] }): Uint8Array {
  const int = (n: number): number => Math.floor(rand() * n);
  let bytes = Array.from(input.bytes);
  const rounds = 1 + int(4);
  for (let r = 0; r < rounds; r++) {
    const at = int(bytes.length + 1);
    switch (int(8)) {
      case 0: // bit flips
        for (let i = 0, n = 1 + int(4); i < n && bytes.length > 0; i++) {
          const p = int(bytes.length);
          bytes[p] = bytes[p]! ^ (1 << int(8));
        }
        break;
      case 1: // truncation
        bytes = bytes.slice(0, at);
        break;
      case 2: // insertion of random bytes
        bytes.splice(at, 0, ...Array.from({ length: 1 + int(16) }, () => int(256)));
        break;
      case 3: {
        // overwrite a frame's length field (or any 4 bytes) with a hostile value
        const start = rand() < 0.8 && input.frameStarts.length > 0 ? input.frameStarts[int(input.frameStarts.length)]! : at;
        const values = [0, 1, MAX_FRAME, MAX_FRAME + 1, 0xffffffff, 0x7fffffff, int(MAX_FRAME * 2), int(64)];
        const v = values[int(values.length)]!;
        for (let i = 0; i < 4 && start + i < bytes.length; i++) bytes[start + i] = (v >>> (24 - 8 * i)) & 0xff;
        break;
      }
      case 4: // special byte values
        if (bytes.length > 0) bytes[int(bytes.length)] = [0x00, 0x7f, 0x80, 0xff, 0xc0, 0xed][int(6)]!;
        break;
      case 5: // delete a range
        bytes.splice(at, 1 + int(20));
        break;
      case 6: {
        // duplicate a range somewhere else
        const from = int(bytes.length + 1);
        const piece = bytes.slice(from, from + 1 + int(40));
        bytes.splice(int(bytes.length + 1), 0, ...piece);
        break;
      }
      default: // overwrite a version byte (often with 0) or type byte
        if (input.frameStarts.length > 0) {
          const p = input.frameStarts[int(input.frameStarts.length)]! + 4 + int(2);
          if (p < bytes.length) bytes[p] = rand() < 0.5 ? 0 : int(256);
        }
    }
  }
  return Uint8Array.from(bytes);
}

class Failure extends Error {}

/** Decodes a body every way the protocol allows; only DecodeError may come out. */
function decodeBody(body: Uint8Array, stats: { bodies: number; bodyErrors: number; skipped: number }): void {
  stats.bodies++;
  const attempts: ((r: BodyReader) => void)[] = [
    (r) => {
      readDigest(r, limits.maxNameBytes);
      r.expectEnd("syn");
    },
    (r) => {
      stats.skipped += readDeltas(r, limits).skipped.length;
      r.expectEnd("ack");
    },
    (r) => {
      readDigest(r, limits.maxNameBytes);
      stats.skipped += readDeltas(r, limits).skipped.length;
      r.expectEnd("synack");
    },
  ];
  for (const attempt of attempts) {
    try {
      attempt(new BodyReader(body));
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      if (!error.field || !Number.isInteger(error.offset) || error.offset < 0 || error.offset > body.length) {
        throw new Failure(`malformed DecodeError ${error.field}@${error.offset} for a ${body.length}-byte body`);
      }
      stats.bodyErrors++;
    }
  }
}

test(`fuzz: ${INPUTS} random and mutated inputs only ever raise DecodeError`, () => {
  const rand = mulberry32(SEED);
  const pool = validStreams(rand, 400);
  const stats = { inputs: 0, random: 0, mutated: 0, valid: 0, frames: 0, streamErrors: 0, bodies: 0, bodyErrors: 0, skipped: 0, maxBuffered: 0 };
  const started = performance.now();
  for (let n = 0; n < INPUTS; n++) {
    const kind = rand();
    let input: Uint8Array;
    if (kind < 0.2) {
      input = Uint8Array.from({ length: Math.floor(rand() * 600) }, () => Math.floor(rand() * 256));
      stats.random++;
    } else if (kind < 0.25) {
      input = pool[Math.floor(rand() * pool.length)]!.bytes;
      stats.valid++;
    } else {
      input = mutate(rand, pool[Math.floor(rand() * pool.length)]!);
      stats.mutated++;
    }
    stats.inputs++;

    // Random chunking, each chunk in its own buffer like a socket read.
    const cuts = Array.from({ length: Math.floor(rand() * 5) }, () => Math.floor(rand() * (input.length + 1))).sort((a, b) => a - b);
    const decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME });
    let previous = 0;
    try {
      for (const cut of [...cuts, input.length]) {
        const chunk = input.slice(previous, cut);
        previous = cut;
        decoder.push(chunk, (frame) => {
          stats.frames++;
          if (frame.body.length > MAX_FRAME || frame.version === 0) throw new Failure(`decoder emitted an invalid frame (${frame.body.length} bytes, version ${frame.version})`);
          // Also read bodies straight out of their chunk: both the view and copy paths are fuzzed.
          decodeBody(frame.body, stats);
        });
        if (decoder.bufferedBytes > MAX_FRAME + HEADER_BYTES) throw new Failure(`decoder holds ${decoder.bufferedBytes} bytes`);
        stats.maxBuffered = Math.max(stats.maxBuffered, decoder.bufferedBytes);
      }
    } catch (error) {
      if (error instanceof DecodeError) {
        stats.streamErrors++;
        if (decoder.bufferedBytes !== 0) throw new Failure(`decoder still holds ${decoder.bufferedBytes} bytes after ${error.message}`);
        if (error.offset < 0 || error.offset > input.length) throw new Failure(`stream error offset ${error.offset} outside the ${input.length}-byte input`);
        continue;
      }
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new Error(`input #${n} (seed ${SEED}) raised a non-DecodeError: ${message}\ninput hex: ${Buffer.from(input).toString("hex").slice(0, 2000)}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `codec fuzz: ${stats.inputs} inputs (${stats.random} random, ${stats.mutated} mutated, ${stats.valid} valid) in ${seconds.toFixed(1)} s; ` +
      `${stats.frames} frames, ${stats.streamErrors} stream DecodeErrors, ${stats.bodies} bodies decoded 3 ways with ${stats.bodyErrors} DecodeErrors, ` +
      `${stats.skipped} entries skipped; max buffered ${stats.maxBuffered} B (limit ${MAX_FRAME + HEADER_BYTES}); seed ${SEED}`,
  );
  expect(stats.inputs).toBeGreaterThanOrEqual(100_000);
  // The fuzz must reach every path: stream errors, frames, body errors and skipped entries.
  expect(stats.streamErrors).toBeGreaterThan(1000);
  expect(stats.frames).toBeGreaterThan(50_000);
  expect(stats.bodyErrors).toBeGreaterThan(10_000);
  expect(stats.skipped).toBeGreaterThan(100);
  expect(stats.maxBuffered).toBeGreaterThan(MAX_FRAME / 2); // big partial frames were really held
}, 60_000);
